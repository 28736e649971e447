"""The README's run-time table is generated from the records, between its markers."""

from __future__ import annotations

import json

from sparseconv.registry.paths import project_root
from sparseconv.report.costs import README_BEGIN, README_END, cost_rows, refresh_readme


def test_the_readme_has_the_generated_block():
    text = (project_root() / "README.md").read_text()
    start, end = text.find(README_BEGIN), text.find(README_END)
    assert 0 <= start < end
    block = text[start:end]
    assert "| what | one CPU thread |" in block  # python -m sparseconv.report wrote it


def test_refresh_rewrites_only_the_block(tmp_path, depth_record):
    from conftest import write_depth_study

    results = tmp_path / "results"
    write_depth_study(
        results,
        depth_record,
        [("sparse", 0.95, 0, "uniform", 1.0), ("dense", 0.95, 0, "uniform", 1.0)],
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{README_BEGIN}\nstale\n{README_END}\nafter\n")
    assert refresh_readme(readme, results)
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "stale" not in text
    rows = cost_rows(results)
    depth = rows[rows["what"].str.startswith("one depth run")]
    assert len(depth) == 1 and depth["one CPU thread"].iloc[0].endswith("min")
    plain = tmp_path / "plain.md"
    plain.write_text("no markers\n")
    assert not refresh_readme(plain, results) and plain.read_text() == "no markers\n"


def test_a_data_set_without_grid_runs_shows_its_search_runs_costs(tmp_path):
    import shutil

    search = project_root() / "results" / "kitti" / "tuning"
    records = sorted(search.glob("*.json"))[:2]
    folder = tmp_path / "results" / "kitti" / "tuning"
    folder.mkdir(parents=True)
    for record in records:
        shutil.copy(record, folder / record.name)
    rows = cost_rows(tmp_path / "results").set_index("what")
    runs = rows.loc["one KITTI LiDAR search run, at most 40 epochs (each run; 2 runs)"]
    epochs = rows.loc["one KITTI LiDAR training epoch with its validation (search runs)"]
    minutes, per_epoch = [], []
    for record in records:
        r = json.loads(record.read_text())
        minutes.append((r["train_seconds"] + r["eval_seconds"]) / 60)
        per_epoch.append(r["train_seconds"] / 60 / r["epochs_run"])
    assert runs["one CPU thread"] == f"{min(minutes):.1f} to {max(minutes):.1f} min"
    assert epochs["one CPU thread"] == f"{min(per_epoch):.1f} to {max(per_epoch):.1f} min"
