"""Run directories: numbering, explicit folders and resume, config writing, the log tee."""

from __future__ import annotations

import json
import sys

import pytest

from aucgan.errors import AucganError
from aucgan.rundir.files import write_config
from aucgan.rundir.folder import Logger, make_run_dir, next_run_id


def test_auto_numbering_continues_past_the_largest_number(tmp_path):
    root = tmp_path / "runs"
    first = make_run_dir(root, name="baseline")
    assert first == root / "00000-baseline" and first.is_dir()
    (root / "00007-old").mkdir()
    (root / "notes").mkdir()
    assert make_run_dir(root, name="improved") == root / "00008-improved"
    assert make_run_dir(root) == root / "00009"
    assert make_run_dir(root, name="a b/c") == root / "00010-a-b-c"
    assert next_run_id(root) == 11
    assert next_run_id(tmp_path / "missing") == 0


def test_explicit_directory_rules(tmp_path):
    run = tmp_path / "my-run"
    assert make_run_dir(explicit=run) == run and run.is_dir()
    assert make_run_dir(explicit=run) == run  # empty: fine
    (run / "stats.jsonl").write_text("{}\n")
    with pytest.raises(AucganError, match="--resume"):
        make_run_dir(explicit=run)
    assert make_run_dir(explicit=str(run), resume=True) == run
    with pytest.raises(AucganError, match="does not exist"):
        make_run_dir(explicit=tmp_path / "nope", resume=True)
    with pytest.raises(AucganError, match="--run-dir"):
        make_run_dir(tmp_path / "runs", resume=True)


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


def test_logger_tees_lines_and_keeps_the_final_state_of_progress_lines(tmp_path, capsys):
    log = tmp_path / "run" / "log.txt"
    with Logger(log):
        print("run directory: runs/00001")
        sys.stderr.write("step 1\rstep 2\rstep 3\n")
        print("warning: partial", end="")
    assert log.read_text() == "run directory: runs/00001\nstep 3\nwarning: partial\n"
    out, err = capsys.readouterr()
    assert "run directory: runs/00001" in out and "step 1\rstep 2" in err
    print("after")
    assert "after" not in log.read_text()
    with Logger(log):
        print("second session")
    assert log.read_text().endswith("second session\n")


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
