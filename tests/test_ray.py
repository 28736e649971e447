"""The Ray executor against a real Ray head on 127.0.0.1 (started and stopped here)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import pytest

from sparseconv.sweep.cli import run_sweep
from sparseconv.sweep.ray_executor import check_address
from sparseconv.sweep.runs import grid

# Ray reads this when it is imported: keep the head and this driver on loopback
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
# minutes of CPU; one xdist worker starts the Ray head and JupyterLab (conftest)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("budget_chosen"),
    pytest.mark.xdist_group("servers"),
]

ray = pytest.importorskip(
    "ray", reason='the cluster extra is not installed: pip install -e ".[cluster]"'
)

LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head on loopback, 2 CPUs, no dashboard, its own temp folder; stopped by
    killing exactly its process group."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths are limited
    env = {**os.environ, **LOOPBACK}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = subprocess.Popen(
        [
            ray_bin,
            "start",
            "--head",
            "--block",
            f"--port={port}",
            "--num-cpus=2",
            "--num-gpus=0",
            "--node-ip-address=127.0.0.1",
            "--include-dashboard=false",
            f"--temp-dir={temp}",
            "--disable-usage-stats",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            check_address(address, timeout=1)
            break
        except ConnectionError:
            if time.time() > deadline or head.poll() is not None:
                os.killpg(head.pid, signal.SIGKILL)
                pytest.fail("the Ray head did not start")
            time.sleep(0.5)
    # the head's node registers some time after its port opens (over a minute on a loaded
    # machine, longer than one ray.init waits for it): connect once, as often as it takes
    while True:
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            ray.shutdown()
            break
        except (ConnectionError, RuntimeError):
            if ray.is_initialized():
                ray.shutdown()
            if time.time() > deadline + 120 or head.poll() is not None:
                os.killpg(head.pid, signal.SIGKILL)
                pytest.fail("the Ray head's node did not register")
            time.sleep(1)
    try:
        yield address, head
    finally:
        if ray.is_initialized():
            ray.shutdown()
        # Ray's workers run in process groups of their own: stop the head's group and
        # every process that descends from the head, by process id
        started = psutil.Process(head.pid).children(recursive=True)
        os.killpg(head.pid, signal.SIGKILL)
        for proc in started:
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
        head.wait(timeout=20)
        psutil.wait_procs(started, timeout=10)


def metrics(record):
    return record["test_accuracy_by_sparsity"], [h["loss"] for h in record["history"]]


def test_ray_sweep_matches_local_resumes_and_survives_a_killed_worker(ray_head, tmp_path, data_dir):
    address, head = ray_head
    settings = dict(
        models=["sparse", "dense"],
        sparsities=[0.5],
        seeds=[0],
        epochs=1,
        limit=200,
        data_dir=str(data_dir),
    )
    ray_runs = grid("mnist", results_dir=str(tmp_path / "ray"), **settings)
    lines: list[str] = []
    assert run_sweep(ray_runs, executor="ray", address=address, out=lines.append) == []
    assert any(line.startswith("[2/2]") for line in lines)

    local_runs = grid("mnist", results_dir=str(tmp_path / "local"), **settings)
    assert run_sweep(local_runs, executor="local", jobs=2, out=lambda s: None) == []
    for ray_run, local_run in zip(ray_runs, local_runs, strict=True):
        ray_record = json.loads(ray_run.record.read_text())
        local_record = json.loads(local_run.record.read_text())
        assert ray_record["executor"] == "ray" and local_record["executor"] == "local"
        assert ray_record["host"]
        assert metrics(ray_record) == metrics(local_record)
        assert json.loads(ray_run.notebook.read_text())["cells"]

    # a rerun skips both
    lines.clear()
    assert run_sweep(ray_runs, executor="ray", address=address, out=lines.append) == []
    assert lines[0].endswith("2 already done, 0 to run")

    # a worker killed mid-run is retried and the sweep completes
    victim_runs = grid(
        "mnist", results_dir=str(tmp_path / "kill"), **{**settings, "models": ["dense"]}
    )
    killed: list[int] = []

    def kill_first_task_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            for proc in psutil.Process(head.pid).children(recursive=True):
                try:
                    if proc.name() == "ray::_task" or "ray::_task" in " ".join(proc.cmdline()):
                        time.sleep(3)  # let it start the notebook, then kill the worker
                        proc.kill()
                        killed.append(proc.pid)
                        return
                except psutil.Error:
                    continue
            time.sleep(0.2)

    killer = threading.Thread(target=kill_first_task_worker)
    killer.start()
    failures = run_sweep(victim_runs, executor="ray", address=address, out=lines.append)
    killer.join()
    assert killed, "no task worker was found to kill"
    assert failures == []
    assert victim_runs[0].record.is_file()


def test_unreachable_address_fails_fast_naming_it(tmp_path, data_dir):
    port = free_port()  # nothing listens there
    runs = grid(
        "mnist",
        models=["dense"],
        sparsities=[0.5],
        seeds=[0],
        epochs=1,
        limit=100,
        results_dir=str(tmp_path),
        data_dir=str(data_dir),
    )
    start = time.time()
    with pytest.raises(ConnectionError, match=f"127.0.0.1:{port}"):
        run_sweep(runs, executor="ray", address=f"127.0.0.1:{port}", out=lambda s: None)
    assert time.time() - start < 10
    with pytest.raises(ValueError, match="HOST:PORT"):
        check_address("nowhere")
