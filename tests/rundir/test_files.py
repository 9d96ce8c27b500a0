"""A run directory's files: the config (written once, refused when changed, growable settings) and the layout
record."""

from __future__ import annotations

import json

import pytest

from aucgan.errors import AucganError
from aucgan.rundir.files import write_config


def test_write_config_is_idempotent_and_refuses_silent_changes(tmp_path):
    cfg = {"name": "x", "optim": {"lr_g": 1e-4, "betas": [0.5, 0.999]}, "steps": 10}
    path = tmp_path / "config.json"
    assert write_config(tmp_path, cfg) == {}
    assert json.loads(path.read_text()) == cfg
    assert write_config(tmp_path, cfg, resume=True) == {}
    changed = {"name": "x", "optim": {"lr_g": 2e-4, "betas": [0.5, 0.999]}, "steps": 10, "seed": 1}
    with pytest.raises(AucganError, match=r"optim\.lr_g: 0\.0001 -> 0\.0002; seed \(added\)"):
        write_config(tmp_path, changed, resume=True)
    assert json.loads(path.read_text()) == cfg
    write_config(tmp_path, changed, resume=True, overwrite=True)
    assert json.loads(path.read_text()) == changed
    with pytest.raises(AucganError, match="JSON"):
        write_config(tmp_path / "other", {"bad": {1, 2}})


def test_write_config_lets_growable_settings_grow_only(tmp_path):
    cfg = {"name": "x", "steps": 10, "optim": {"lr_g": 1e-4}}
    path = tmp_path / "config.json"
    write_config(tmp_path, cfg)
    longer = {**cfg, "steps": 30}
    with pytest.raises(AucganError, match=r"steps: 10 -> 30"):          # only the keys named may grow
        write_config(tmp_path, longer, resume=True)
    assert write_config(tmp_path, longer, resume=True, growable=("steps",)) == {"steps": (10, 30)}
    assert json.loads(path.read_text()) == longer
    assert write_config(tmp_path, longer, resume=True, growable=("steps",)) == {}
    with pytest.raises(AucganError, match=r"steps: 30 -> 20\); steps may grow but not shrink"):
        write_config(tmp_path, {**cfg, "steps": 20}, resume=True, growable=("steps",))
    with pytest.raises(AucganError, match=r"\(optim\.lr_g: 0\.0001 -> 0\.0002\); keep"):
        write_config(tmp_path, {**cfg, "steps": 40, "optim": {"lr_g": 2e-4}}, resume=True, growable=("steps",))
    assert json.loads(path.read_text()) == longer


def test_write_config_compares_an_upgraded_older_layout(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"steps": 5, "old_name": 1}))
    rename = lambda d: {"steps": d["steps"], "new_name": d["old_name"]}  # noqa: E731
    assert write_config(tmp_path, {"steps": 5, "new_name": 1}, resume=True, upgrade=rename) == {}
    assert json.loads((tmp_path / "config.json").read_text()) == {"steps": 5, "old_name": 1}   # left alone
    with pytest.raises(AucganError, match="new_name: 1 -> 2"):
        write_config(tmp_path, {"steps": 5, "new_name": 2}, resume=True, upgrade=rename)


def test_run_layout_is_recorded_once_and_kept(tmp_path):
    import numpy as np

    from aucgan.layout.landmarks import Layout, canonical_layout, load_layout
    from aucgan.rundir.files import LAYOUT_FILE, RunDirError, read_run_layout, write_run_layout

    write_run_layout(tmp_path, None)
    assert not (tmp_path / LAYOUT_FILE).exists() and read_run_layout(tmp_path) is None
    mask = np.ones((16, 16), np.float32)
    (tmp_path / "src.json").write_text(json.dumps(
        Layout("uv", canonical_layout().landmarks, (16, 16), mask_image=mask).to_json()))
    layout = load_layout(tmp_path / "src.json")
    write_run_layout(tmp_path, layout)
    assert read_run_layout(tmp_path) == layout
    write_run_layout(tmp_path, layout)                   # resuming with the same layout is fine
    with pytest.raises(RunDirError, match="a run keeps one map space"):
        write_run_layout(tmp_path, Layout("other", canonical_layout().landmarks, (16, 16)))
