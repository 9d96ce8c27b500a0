"""Stats JSONL, TensorBoard mirroring (and its absence), the NaN guard and sample grids."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from aucgan.errors import AucganError
from aucgan.training import stats as stats_mod
from aucgan.training.stats import StatsWriter, check_finite, read_stats, save_image_grid


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
    path = tmp_path / "stats.jsonl"
    path.write_text(json.dumps({"step": 1}) + "\n" + '{"step": 2, "G/a')
    with pytest.warns(RuntimeWarning, match="truncated"):
        assert read_stats(path) == [{"step": 1}]
    path.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(AucganError, match=r"stats.jsonl:2"):
        read_stats(path)
    with pytest.raises(AucganError, match="no such stats file"):
        read_stats(tmp_path / "none")


def test_check_finite_names_the_bad_losses():
    check_finite({"G/adv": 1.0, "D/adv": -3.0}, step=5)
    with pytest.raises(AucganError, match=r"step 12: G/au_bce=nan, D/gp=inf"):
        check_finite({"G/adv": 1.0, "G/au_bce": float("nan"), "D/gp": float("inf")}, step=12)
    with pytest.raises(FloatingPointError):
        check_finite({"x": torch.tensor(float("-inf"))}, step=0)


def test_image_grid_layout_and_labels(tmp_path):
    red = torch.zeros(3, 4, 6)
    red[0] = 1.0
    grey = torch.full((1, 4, 6), 0.5)
    path = save_image_grid(tmp_path / "grid.png", [[red, grey], torch.stack([grey.expand(3, -1, -1)] * 3)],
                           pad=2)
    img = np.asarray(Image.open(path))
    assert img.shape == (2 + 2 * (4 + 2), 2 + 3 * (6 + 2), 3)
    assert tuple(img[2, 2]) == (255, 0, 0)
    assert tuple(img[2, 2 + 8]) == (128, 128, 128)
    assert tuple(img[2 + 6, 2 + 16]) == (128, 128, 128)
    assert tuple(img[2, 2 + 16]) == (255, 255, 255)  # the short first row is padded white
    labelled_path = save_image_grid(tmp_path / "l.png", [[red, grey]], labels=["src", "out"])
    labelled = np.asarray(Image.open(labelled_path))
    assert labelled.shape[0] > 2 + 4 + 2 and (labelled[:14] < 128).any()  # a header with dark text
    with pytest.raises(AucganError, match="row 0 column 1"):
        save_image_grid(tmp_path / "bad.png", [[red, torch.zeros(3, 5, 6)]])
    with pytest.raises(AucganError, match=r"\(1\|3, H, W\)"):
        save_image_grid(tmp_path / "bad.png", [[torch.zeros(2, 4, 6)]])
    assert not (tmp_path / "bad.png").exists()
