"""Numbered run folders, explicit folders and resume, the log tee."""

from __future__ import annotations

import sys

import pytest

from aucgan.errors import AucganError
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
