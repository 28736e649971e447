"""Where the study stands: the status table against a hand count on a made-up results
folder."""

from __future__ import annotations

import json

from sparseconv.registry import study
from sparseconv.report.status import STATUS_COLUMNS, study_status
from sparseconv.sweep.runs import grid, tuning_grid


def test_status_counts_runs_hours_and_what_each_part_waits_for(tmp_path, monkeypatch):
    monkeypatch.setitem(study.LEARNING_RATES, "kitti", {})  # KITTI's search not chosen
    search = tuning_grid("kitti", results_dir=str(tmp_path))
    first = next(r for r in search if r.params["model"] == "dense")
    first.record.parent.mkdir(parents=True)
    # one measured KITTI run: (1140 s training + 60 s evaluation) / 20 epochs = 1 minute
    # an epoch
    record = {"schema_version": 2, "protocol": study.PROTOCOL["kitti"], "dataset": "kitti",
              **{k: first.params[k] for k in ("model", "sparsity", "seed", "lr", "epochs",
                                              "batch_size")},
              "limit": None, "train_seconds": 1140.0, "eval_seconds": 60.0, "device": "cpu",
              "history": [{"epoch": e, "loss": 1.0} for e in range(1, 21)]}  # fmt: skip
    first.record.write_text(json.dumps(record))
    first.notebook.write_text("{}")
    table = study_status(tmp_path)
    assert list(table.columns) == STATUS_COLUMNS
    kitti = table[table["data set"] == "KITTI LiDAR"].set_index("part")
    row = kitti.loc["learning-rate search"]
    assert (row["finished"], row["runs"]) == (1, len(search))
    # the ConvNet's other search runs at 40 epochs, 1 minute each; the other models have
    # no measured run
    dense_left = sum(1 for r in search if r.params["model"] == "dense") - 1
    others = sum(1 for r in search if r.params["model"] != "dense")
    epochs = first.params["epochs"]
    assert row["CPU-hours left"] == f"{dense_left * epochs / 60:.1f}"
    assert row["unmeasured runs"] == others
    cells = grid("kitti", results_dir=str(tmp_path))
    row = kitti.loc["grid"]
    assert (row["finished"], row["runs"]) == (0, len(cells))
    assert row["waits for"] == "the search's rates in study.LEARNING_RATES"
    # a protocol whose budget is not chosen: its search and grid wait for it
    mnist = table[table["data set"] == "MNIST"].set_index("part")
    if (
        study.PROTOCOL["mnist"] != study.REPORTED_PROTOCOL["mnist"]
        and study.GRID_EPOCHS["mnist"].get(study.PROTOCOL["mnist"]) is None
    ):
        assert mnist.loc["grid", "waits for"] == "the budget check's choice"
        assert mnist.loc["learning-rate search", "runs"] == "–"
        assert mnist.loc["reported grid", "finished"] == 0  # nothing in the made-up folder
