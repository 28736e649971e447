"""Smoke runs of the study notebooks through papermill (a few hundred images, one epoch)."""

from __future__ import annotations

import json
from pathlib import Path

import papermill as pm
import pytest

from sparseconv.registry.records import validate_record
from sparseconv.sweep.execute import papermill_until_started

pytestmark = pytest.mark.slow  # minutes of CPU: pytest -m "not slow" skips it

ROOT = Path(__file__).resolve().parents[1]


def run_notebook(name, tmp_path, cwd, **params):
    """Execute ``notebooks/<name>.ipynb`` as a user would, with papermill; a kernel that
    does not start (its ports taken meanwhile, see conftest) is started again, as the
    sweep does."""
    output = tmp_path / f"{name}-out.ipynb"
    papermill_until_started(ROOT / "notebooks" / f"{name}.ipynb", output, params, cwd)
    return output


def only_record(results: Path, dataset: str) -> dict:
    records = list((results / dataset).glob("*.json"))
    assert len(records) == 1, records
    record = json.loads(records[0].read_text())
    validate_record(record)
    return record


@pytest.mark.parametrize("cwd", ["root", "notebooks"])
def test_mnist_notebook_smoke_run_writes_a_valid_record(tmp_path, data_dir, cwd):
    results = tmp_path / "results"
    folder = ROOT if cwd == "root" else ROOT / "notebooks"
    out = run_notebook(
        "mnist",
        tmp_path,
        folder,
        limit=300,
        epochs=1,
        results_dir=str(results),
        data_dir=str(data_dir),
        sparsity=0.7,
        model="dense_mask",
    )
    record = only_record(results, "mnist")
    assert record["dataset"] == "mnist" and record["model"] == "dense_mask"
    assert record["sparsity"] == 0.7 and record["limit"] == 300 and record["epochs"] == 1
    assert set(record["test_accuracy_by_sparsity"]) == {
        "0",
        "0.05",
        "0.1",
        "0.2",
        "0.3",
        "0.4",
        "0.5",
        "0.6",
        "0.7",
        "0.8",
        "0.9",
        "0.95",
    }
    assert record["test_accuracy"] == record["test_accuracy_by_sparsity"]["0.7"]
    nb = json.loads(out.read_text())
    assert any(c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_same_seed_gives_the_same_metrics(tmp_path, data_dir):
    metrics = []
    for i in range(2):
        results = tmp_path / f"results{i}"
        run_notebook(
            "mnist",
            tmp_path,
            ROOT,
            limit=300,
            epochs=1,
            results_dir=str(results),
            data_dir=str(data_dir),
            seed=3,
        )
        record = only_record(results, "mnist")
        metrics.append(
            (record["test_accuracy_by_sparsity"], [h["loss"] for h in record["history"]])
        )
    assert metrics[0] == metrics[1]


@pytest.mark.parametrize(
    "name,value",
    [
        ("sparsity", 1.5),
        ("sparsity", -0.2),
        ("model", "lenet"),
        ("epochs", 0),
        ("data_dir", "/nonexistent/sparseconv-data"),
    ],
)
def test_bad_parameter_stops_the_notebook_naming_it(tmp_path, data_dir, name, value):
    params = {
        "limit": 300,
        "epochs": 1,
        "results_dir": str(tmp_path / "results"),
        "data_dir": str(data_dir),
        name: value,
    }
    with pytest.raises(pm.PapermillExecutionError) as info:
        run_notebook("mnist", tmp_path, ROOT, **params)
    assert name in info.value.evalue and repr(value) in info.value.evalue
    assert not (tmp_path / "results").exists()


def test_notebooks_are_committed_without_outputs():
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        nb = json.loads(path.read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, path
        tags = [c.get("metadata", {}).get("tags", []) for c in nb["cells"]]
        assert sum("parameters" in t for t in tags) == 1, path


def test_executed_run_notebooks_keep_their_outputs():
    # results/ holds the executed copies: a stripping filter must not have emptied them
    executed = sorted((ROOT / "results").glob("*/*.ipynb"))
    for path in executed:
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert any(c.get("outputs") for c in code), f"{path} has no outputs"


def test_caltech_notebook_smoke_run_writes_a_valid_record(tmp_path, data_dir):
    results = tmp_path / "results"
    run_notebook(
        "caltech101",
        tmp_path,
        ROOT / "notebooks",
        limit=300,
        epochs=1,
        results_dir=str(results),
        data_dir=str(data_dir),
        model="sparse",
        sparsity=0.3,
    )
    record = only_record(results, "caltech101")
    assert record["dataset"] == "caltech101" and record["n_train"] == 300
    assert 0.0 <= record["test_mean_class_accuracy"] <= 1.0
    assert len(record["test_accuracy_by_sparsity"]) == 12
    assert record["test_accuracy"] == record["test_accuracy_by_sparsity"]["0.3"]
    # batch norm re-estimated at every test level, and the validation split used
    assert len(record["test_accuracy_by_sparsity_bn_recalibrated"]) == 12
    assert record["n_val"] == 300 and record["history"][0]["val_accuracy"] >= 0.0


def test_depth_notebook_smoke_run_writes_a_valid_record(tmp_path):
    results = tmp_path / "results"
    run_notebook(
        "depth",
        tmp_path,
        ROOT,
        limit=200,
        epochs=1,
        results_dir=str(results),
        pattern="lines",
        model="dense_mask",
    )
    record = only_record(results, "depth")
    assert record["pattern"] == "lines" and record["model"] == "dense_mask"
    levels = {"0.3", "0.5", "0.7", "0.8", "0.9", "0.95", "0.98"}
    for kind in ("mae", "rmse"):
        for part in ("", "_missing", "_passthrough"):
            assert set(record[f"test_{kind}{part}_by_sparsity"]) == levels
        for part in ("", "_missing"):
            assert all(v > 0 for v in record[f"nn_{kind}{part}_by_sparsity"].values())
    assert record["test_mae_missing"] == record["test_mae_missing_by_sparsity"]["0.95"]
    # validation drives training: history, the kept epoch, and the training-map error
    assert record["n_val"] == 200 and "val_mae_missing" in record["history"][0]
    assert record["val_mae_missing"] == record["history"][record["best_epoch"] - 1][
        "val_mae_missing"]  # fmt: skip
    assert record["train_eval_mae_missing"] > 0 and record["epochs_run"] == 1
    # the first layer's 16 trained 11 x 11 kernels on the depth channel (not the mask's)
    kernels = record["first_layer_kernels"]
    assert len(kernels) == 16 and {len(k) for k in kernels} == {11}
    assert {len(row) for k in kernels for row in k} == {11}
    with pytest.raises(pm.PapermillExecutionError) as info:
        run_notebook(
            "depth", tmp_path, ROOT, limit=200, epochs=1, results_dir=str(results), pattern="spiral"
        )
    assert "pattern" in info.value.evalue and "'spiral'" in info.value.evalue


def test_kitti_notebook_smoke_run_writes_a_valid_record(tmp_path, data_dir):
    results = tmp_path / "results"
    run_notebook("kitti", tmp_path, ROOT, limit=30, epochs=1, batch_size=1, threads=1,
                 results_dir=str(results), data_dir=str(data_dir), model="dense")  # fmt: skip
    record = only_record(results, "kitti")
    assert record["model"] == "dense" and record["pattern"] == "uniform"
    levels = {"0.95", "0.9", "0.75", "0.5", "0.25", "0.1"}
    for metric in ("mae", "rmse", "imae", "irmse"):
        assert set(record[f"test_{metric}_by_sparsity"]) == levels
        assert all(v > 0 for v in record[f"nn_{metric}_by_sparsity"].values())
    assert record["test_mae"] == record["test_mae_by_sparsity"]["0.9"]
    assert record["val_mae"] == record["history"][record["best_epoch"] - 1]["val_mae"]
    # raw nearest neighbour on the same validation inputs (every second validation frame,
    # the run's validation draws), from the drive directly
    from sparseconv.train.lidar import VAL_EVERY, _nearest, lidar_errors, lidar_masks, load_lidar

    drive = load_lidar(str(data_dir), 30)
    val = drive.val[::VAL_EVERY]
    keep = lidar_masks(drive, val, 1 - record["sparsity"], "uniform", record["seed"], "val")
    nearest = lidar_errors(_nearest, drive, val, keep)
    assert record["val_nn_mae"] == pytest.approx(nearest["mae"], rel=1e-12)
    assert record["val_nn_rmse"] == pytest.approx(nearest["rmse"], rel=1e-12)
    assert len(record["ground_truth_frames"]) == 4 and record["train_eval_mae"] > 0
    # the blocks of frames do not overlap and leave gaps
    frames = record["frames"]
    assert frames["train"][1] < frames["val"][0] - 1 and frames["val"][1] < frames["test"][0] - 1


def test_misspelt_parameter_is_refused_naming_it_and_the_known_ones(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as info:
        run_notebook("mnist", tmp_path, ROOT, sparsty=0.7)
    assert "'sparsty'" in info.value.evalue and "sparsity" in info.value.evalue
    assert "known:" in info.value.evalue


def test_notebook_defaults_are_the_studys():
    from sparseconv.registry.study import DEFAULTS

    for dataset in ("mnist", "caltech101", "depth", "kitti"):
        nb = json.loads((ROOT / "notebooks" / f"{dataset}.ipynb").read_text())
        cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        namespace: dict = {}
        exec("".join(cell["source"]), namespace)
        for key in ("sparsity", "epochs", "batch_size"):
            assert namespace[key] == DEFAULTS[dataset][key], (dataset, key)
        assert namespace["results_dir"] == "runs" and namespace["overwrite"] is False
        assert namespace["lr"] is None  # the study's rate for the chosen model


def _git_status(path: Path) -> str:
    import subprocess

    return subprocess.run(["git", "status", "--porcelain", "--", str(path)], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip


def test_hand_run_writes_to_runs_and_leaves_results_untouched(tmp_path, data_dir, monkeypatch):
    runs_folder = ROOT / "runs" / "mnist"

    def stamps() -> dict[Path, int]:
        return {p: p.stat().st_mtime_ns for p in runs_folder.glob("*.json")}

    before = stamps()
    status = _git_status(ROOT / "results")
    run_notebook("mnist", tmp_path, ROOT / "notebooks", limit=200, epochs=1,
                 data_dir=str(data_dir), seed=7)  # fmt: skip
    # written: new, or rewritten (a hand run of the same name, an earlier test run's say)
    written = [p for p, stamp in stamps().items() if before.get(p) != stamp]
    assert len(written) == 1 and written[0].name.endswith("_limit200.json")
    assert _git_status(ROOT / "results") == status
    assert _git_status(ROOT / "runs") == ""  # ignored by git
    if written[0] not in before:
        written[0].unlink()


def test_reproduction_check_flags_a_tampered_record():
    from sparseconv.report.notebook import reproduction_check

    levels = {"0.3": 0.95, "0.5": 0.93}
    record = {"dataset": "mnist", "model": "sparse", "sparsity": 0.5, "seed": 0,
              "started_at": "b", "test_accuracy_by_sparsity": levels}  # fmt: skip
    same = {**record, "started_at": "a",
            "test_accuracy_by_sparsity": {"0.3": 0.951, "0.5": 0.932}}  # fmt: skip
    table, verdict = reproduction_check(record, same)
    assert verdict.startswith("reproduced within noise: at every test level")
    assert "at least 0.5 points" in verdict
    assert list(table["difference"]) == [-0.1, -0.2]  # rounded to 0.01 points
    assert list(table["this run"]) == [95.0, 93.0]
    tampered = {**same, "test_accuracy_by_sparsity": {"0.3": 0.951, "0.5": 0.99}}
    table, verdict = reproduction_check(record, tampered)
    assert verdict.startswith("not reproduced") and "0.5" in verdict
    assert not table["within noise"].iloc[1]
    assert reproduction_check(record, {**record})[1] == "this run is the study's record itself"
    # a different thread count is named as the likely cause
    verdict = reproduction_check({**record, "threads": 2}, {**tampered, "threads": 1})[1]
    assert "2 thread(s)" in verdict and "another path" in verdict


def test_the_lab_launcher_serves_the_project_root_and_allows_root():
    from sparseconv.lab import lab_arguments
    from sparseconv.registry.paths import project_root

    args = lab_arguments(["notebooks/mnist.ipynb", "--no-browser"], is_root=True)
    assert args[:2] == ["notebooks/mnist.ipynb", "--no-browser"]
    assert f"--ServerApp.root_dir={project_root()}" in args and "--allow-root" in args
    assert "--allow-root" not in lab_arguments([], is_root=False)
    mine = lab_arguments(["--ServerApp.root_dir=/x"], is_root=False)
    assert mine == ["--ServerApp.root_dir=/x"]
