"""``aucgan train --procs N``: the torchrun command it builds, its errors, and a real 2-process run."""

from __future__ import annotations

import argparse
import json
import sys

import pytest

from aucgan.cli import main
from aucgan.cli.train import add_arguments, procs_command
from aucgan.errors import AucganError

from tests.tiny import TINY


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_procs_command_splits_the_batch_and_pins_one_thread():
    args = _args("--config", "improved", "--data", "d", "--aunet", "a", "--steps", "5", "--procs", "4",
                 "--set", "loss.w_au=2", "--no-progress")
    cmd = procs_command(args, batch_size=16)
    assert cmd[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--standalone" in cmd and "--nproc_per_node=4" in cmd and "--resume" not in cmd
    tail = cmd[cmd.index("aucgan"):]
    assert tail[:3] == ["aucgan", "train", "--config"] and "--procs" not in tail
    sets = [tail[i + 1] for i, t in enumerate(tail) if t == "--set"]
    assert sets == ["loss.w_au=2", "data.batch_size=4", "threads=1"]
    assert tail[tail.index("--steps") + 1] == "5" and "--no-progress" in tail
    with pytest.raises(AucganError, match="batch size 10 .* must divide"):
        procs_command(args, batch_size=10)


def test_procs_errors(tmp_path, capsys, monkeypatch):
    assert main(["train", "--config", "improved", "--data", str(tmp_path), "--procs", "0"]) == 2
    assert "--procs must be at least 1" in capsys.readouterr().err
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["train", "--config", "improved", "--data", str(tmp_path), "--procs", "2"]) == 2
    assert "do not combine it with torchrun" in capsys.readouterr().err


@pytest.mark.slow  # ~10 s quiet; tests/training/test_loop.py covers the 2-process loop in the default run
def test_two_processes_train_with_rank0_checkpoints(tiny_bench, tiny_aunet, tmp_path, monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    run = tmp_path / "procs"
    overrides = [x for s in TINY if not s.startswith(("sample_every", "ckpt_every")) for x in ("--set", s)]
    assert main(["train", "--config", "improved", "--data", str(tiny_bench), "--aunet", str(tiny_aunet),
                 "--run-dir", str(run), "--steps", "2", "--procs", "2", "--no-progress", *overrides]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"]["batch_size"] == 2 and cfg["threads"] == 1  # TINY's batch 4 split over 2 processes
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    final = [r for r in rows if "dist/replica_max_diff" in r]
    assert final[-1]["dist/world_size"] == 2 and final[-1]["dist/replica_max_diff"] == 0.0
    assert [r["images"] for r in rows if "images" in r] == [4, 8]  # global batch 4 per step
    assert sorted(p.name for p in (run / "checkpoints").glob("step-*")) == ["step-000002"]
