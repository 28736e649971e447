"""The load every benchmark records: other processes' busy cores while it ran."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import _common  # noqa: E402


def test_other_load_by_hand(monkeypatch):
    # started at t = 10 s with 100 busy CPU-seconds on the machine, 5 of them ours; at
    # t = 12 s the machine has 103.5 and we 6: 2.5 CPU-seconds of others' work in 2 s
    monkeypatch.setattr(_common, "_START", (10.0, 100.0, 5.0))
    monkeypatch.setattr(_common.time, "perf_counter", lambda: 12.0)
    monkeypatch.setattr(_common, "_busy_seconds", lambda: 103.5)
    monkeypatch.setattr(_common, "_own_seconds", lambda: 6.0)
    assert _common.other_load() == pytest.approx(1.25)


def test_other_load_is_none_without_proc(monkeypatch):
    monkeypatch.setattr(_common, "_busy_seconds", lambda: None)
    assert _common.other_load() is None


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="needs Linux /proc/stat")
def test_busy_seconds_grow():
    first = _common._busy_seconds()
    sum(i * i for i in range(200_000))
    assert first is not None and _common._busy_seconds() >= first
