"""The notebook in Jupyter: JupyterLab serves ``notebooks/mnist.ipynb`` on 127.0.0.1 with
a token, a kernel runs a cell of it through the REST and websocket API, and the headless
browser shows the notebook open in JupyterLab (screenshot in ``screenshots/``)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from .conftest import ROOT, SCREENSHOTS, missing

# minutes of CPU: pytest -m "not slow" skips it; one xdist worker starts the Ray head and
# JupyterLab (conftest)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("servers")]

NOTEBOOK = "notebooks/mnist.ipynb"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, token: str, path: str, method: str = "GET", body: dict | None = None):
    request = urllib.request.Request(
        f"{base}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read().decode()
        return json.loads(text) if text else None


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    if shutil.which("sparseconv-lab", path=os.path.dirname(sys.executable)) is None:
        missing("JupyterLab is not installed (pip install -e .)")
    port, token = _free_port(), secrets.token_hex(16)
    home = tmp_path_factory.mktemp("jupyter")
    # no autosave (the test must not write the notebook) and no news pop-up
    settings = home / "settings"
    for plugin, values in (
        ("docmanager-extension/plugin", {"autosave": False}),
        ("apputils-extension/notification", {"fetchNews": "false"}),
    ):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))  # fmt: skip
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
           "JUPYTER_CONFIG_DIR": str(home / "config"), "JUPYTER_DATA_DIR": str(home / "data"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
           "JUPYTERLAB_SETTINGS_DIR": str(settings)}  # fmt: skip
    # the README's command, as a user (often root in a container) types it: no
    # --allow-root and no root folder on the command line (sparseconv-lab adds them)
    server = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "sparseconv-lab"), "notebooks/mnist.ipynb",
         "--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            _api(base, token, "/api/status")
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail("JupyterLab did not start within 90 s")
            time.sleep(0.5)
    yield base, token
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()


async def _execute(base: str, token: str, kernel: str, code: str) -> str:
    from tornado.websocket import websocket_connect

    url = base.replace("http", "ws") + f"/api/kernels/{kernel}/channels?token={token}"
    ws = await websocket_connect(url)
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "msg_type": "execute_request", "username": "test",
              "session": uuid.uuid4().hex, "version": "5.3"}  # fmt: skip
    ws.write_message(json.dumps({
        "header": header, "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False,
                    "user_expressions": {}, "allow_stdin": False},
    }))  # fmt: skip
    out = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.read_message(), timeout=60))
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            raise AssertionError(f"{content['ename']}: {content['evalue']}")
        elif kind == "status" and content["execution_state"] == "idle":
            ws.close()
            return "".join(out)


def test_jupyterlab_opens_the_notebook_and_runs_a_cell(jupyter, browser):
    base, token = jupyter
    # the server root is the project root, not notebooks/ (so src/ and results/ are there)
    top = {item["name"] for item in _api(base, token, "/api/contents/")["content"]}
    assert {"notebooks", "src", "results", "pyproject.toml"} <= top
    notebook = _api(base, token, f"/api/contents/{NOTEBOOK}")
    assert notebook["type"] == "notebook"
    cells = notebook["content"]["cells"]
    parameters = next(c for c in cells if "parameters" in c["metadata"].get("tags", []))
    session = _api(
        base,
        token,
        "/api/sessions",
        "POST",
        {"path": NOTEBOOK, "type": "notebook", "kernel": {"name": "python3"}},
    )
    kernel = session["kernel"]["id"]
    try:
        code = "".join(parameters["source"]) + "\nprint(sparsity, model, results_dir)"
        # in a thread of its own: Playwright's sync API holds this thread's event loop
        with ThreadPoolExecutor(1) as pool:
            printed = pool.submit(asyncio.run, _execute(base, token, kernel, code)).result()
        assert printed.split() == ["0.5", "sparse", "runs"]
    finally:
        _api(base, token, f"/api/sessions/{session['id']}", "DELETE")
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
    heading = page.locator(".jp-RenderedMarkdown h1", has_text="MNIST: one run of the study")
    heading.first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SCREENSHOTS / "jupyterlab_mnist.png"))
    page.close()
