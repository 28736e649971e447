"""Every built page of the book in a real browser: no console error, no missing image,
no unrendered formula, no error output. Run after ``jupyter-book build .``."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import yaml

from .conftest import ROOT, SCREENSHOTS

pytestmark = pytest.mark.slow  # minutes of CPU: pytest -m "not slow" skips it

BUILD = ROOT / "_build" / "html"


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"]]
    for part in toc.get("parts", []):
        names += [c["file"] for c in part.get("chapters", [])]
    return names


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the built book without logging every request."""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def site():
    if not (BUILD / "index.html").is_file():
        # the plain test run comes before the build; .ci/run then requires the book
        why = f"the book is not built ({BUILD}); run jupyter-book build . first"
        if os.environ.get("SPARSECONV_REQUIRE_BOOK") == "1":
            pytest.fail(why)
        pytest.skip(why)
    handler = functools.partial(QuietHandler, directory=str(BUILD))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


PAGE_CHECKS = """() => {
  const broken = [...document.images]
    .filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src);
  const raw = [...document.querySelectorAll('.math')]
    .filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 60));
  const errors = [...document.querySelectorAll('.output.traceback, .output.error')]
    .map(e => e.textContent.slice(0, 200));
  const text = document.body.innerText;
  // a figure glued as its text repr instead of an image (e.g. under MPLBACKEND=Agg)
  const reprs = (text.match(/<Figure size [^>]*>/g) || []).slice(0, 3);
  return {broken, raw, errors, reprs, traceback: text.includes('Traceback (most recent call last)'),
          images: document.images.length};
}"""


@pytest.mark.parametrize("name", toc_pages())
def test_page_renders_cleanly(browser, site, name):
    html = BUILD / f"{name}.html"
    assert html.is_file(), f"{name} was not built"
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(f"{site}/{name}.html", wait_until="networkidle")
    if page.evaluate("() => !!document.querySelector('.math')"):
        page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
        page.evaluate("() => MathJax.startup.promise")
    found = page.evaluate(PAGE_CHECKS)
    shot = SCREENSHOTS / f"{Path(name).as_posix().replace('/', '__')}.png"
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    assert not problems, f"{name}: console errors {problems}"
    assert not found["broken"], f"{name}: images that did not load {found['broken']}"
    assert not found["raw"], f"{name}: formulas MathJax did not render {found['raw']}"
    assert not found["errors"] and not found["traceback"], f"{name}: error output {found['errors']}"
    assert not found["reprs"], f"{name}: figures shown as text instead of images {found['reprs']}"
