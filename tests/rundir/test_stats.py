"""Stats JSONL (its writer, event lines and its reader) and TensorBoard mirroring (and its absence)."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from aucgan.errors import AucganError
from aucgan.rundir import stats as stats_mod
from aucgan.rundir.files import STATS_FILE, RunError
from aucgan.rundir.stats import StatsWriter, read_stats


def test_stats_lines_round_trip(tmp_path):
    with StatsWriter(tmp_path, tensorboard=False) as w:
        w.write(1, {"G/adv": 0.5, "D/adv": torch.tensor(1.25)}, images=8)
        w.write(2, {"G/adv": float("nan")})
    records = read_stats(tmp_path)
    assert [r["step"] for r in records] == [1, 2]
    assert records[0]["G/adv"] == 0.5 and records[0]["D/adv"] == 1.25
    assert records[0]["images"] == 8 and records[0]["kimg"] == 0.008
    assert records[0]["time"] > 1e9 and records[0]["time_elapsed"] >= 0
    assert records[1]["G/adv"] is None  # strict JSON: non-finite becomes null
    assert "NaN" not in (tmp_path / "stats.jsonl").read_text()
    with StatsWriter(tmp_path, tensorboard=False) as w:  # appends, never truncates
        w.write(3, {})
        with pytest.raises(AucganError, match="reserved"):
            w.write(4, {"step": 1.0})
    assert [r["step"] for r in read_stats(tmp_path / "stats.jsonl")] == [1, 2, 3]


def test_tensorboard_mirror_writes_event_files(tmp_path):
    with StatsWriter(tmp_path, tensorboard=True) as w:
        assert w.tb is not None
        w.write(1, {"G/adv": 0.5})
        w.add_image("samples", torch.rand(3, 8, 8), 1)
        w.add_image("attention", torch.rand(8, 8), 1)
    events = list(tmp_path.glob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


def test_missing_tensorboard_warns_once_and_keeps_jsonl(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    monkeypatch.setattr(stats_mod, "_TB_WARNED", False)
    with pytest.warns(RuntimeWarning, match="TensorBoard unavailable"):
        w = StatsWriter(tmp_path / "a", tensorboard=True)
    assert w.tb is None
    w.write(1, {"x": 1.0})
    w.add_image("samples", torch.rand(3, 4, 4), 1)
    w.close()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StatsWriter(tmp_path / "b", tensorboard=True).close()
    assert read_stats(tmp_path / "a")[0]["x"] == 1.0


def test_read_stats_errors_and_truncated_tail(tmp_path):
    path = tmp_path / STATS_FILE
    path.write_text(json.dumps({"step": 1}) + "\n" + '{"step": 2, "G/a')
    with pytest.warns(RuntimeWarning, match="truncated"):
        assert read_stats(tmp_path) == [{"step": 1}]
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(RunError, match=r"stats.jsonl:2"):
        read_stats(path)
    with pytest.raises(RunError, match="no such stats file"):
        read_stats(tmp_path / "none")


def test_events_are_lines_of_the_same_file(tmp_path):
    with StatsWriter(tmp_path, tensorboard=False) as w:
        w.write(1, {"G/adv": 0.5})
        w.event(1, steps_extended={"from": 2, "to": 4})
    rows = read_stats(tmp_path)
    assert rows[1]["steps_extended"] == {"from": 2, "to": 4} and rows[1]["step"] == 1 and "time" in rows[1]
