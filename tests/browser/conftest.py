"""Headless Chromium for the browser tests (Debian's ``chromium``, driven by Playwright).

The tests skip when the browser or Playwright is missing, unless
``SPARSECONV_REQUIRE_BROWSER=1`` (as in ``.ci/run``), where a missing piece fails.
Screenshots go to ``screenshots/`` (git-ignored), a CI artefact to look at.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"
# flags for a closed network: no background connections, no first-run, no sandbox (root)
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def required() -> bool:
    return os.environ.get("SPARSECONV_REQUIRE_BROWSER") == "1"


def missing(why: str) -> None:
    if required():
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright is not installed (pip install -e '.[dev]')")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
