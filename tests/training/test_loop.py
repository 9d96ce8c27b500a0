import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from aucgan.errors import AucganError
from aucgan.training.config import load_config
from aucgan.training.loop import lr_factor, training_loop

from tests.tiny import TINY


def _cfg(preset, aunet, *extra):
    return load_config(preset, [*TINY, f"aunet.checkpoint={aunet}", *extra])


def _weights(run_dir, step, name="G"):
    return load_file(str(run_dir / "checkpoints" / f"step-{step:06d}" / f"{name}.safetensors"))


@pytest.mark.parametrize("preset", ["baseline", "ganimation", "improved"])
def test_presets_train_and_write_a_run_dir(preset, tiny_bench, tiny_aunet, tmp_path):
    run = tmp_path / preset
    result = training_loop(_cfg(preset, tiny_aunet, "steps=2"), tiny_bench, run, progress=False)
    assert result.step == 2
    assert (run / "config.json").is_file()
    assert json.loads((run / "config.json").read_text())["name"] == preset
    lines = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert lines and all("G/total" in x for x in lines if "G/total" in x)
    assert any("D/total" in x for x in lines)
    assert list((run / "samples").glob("step-*.png"))
    assert (run / "checkpoints" / "step-000002" / "G_ema.safetensors").is_file()


def test_resume_continues_exactly(tiny_bench, tiny_aunet, tmp_path):
    cfg = _cfg("improved", tiny_aunet, "steps=4")
    straight, split = tmp_path / "straight", tmp_path / "split"
    training_loop(cfg, tiny_bench, straight, progress=False)
    training_loop(cfg, tiny_bench, split, progress=False, stop_at=2)
    training_loop(cfg, tiny_bench, split, progress=False, resume=True)
    for name in ("G", "G_ema", "D"):
        a, b = _weights(straight, 4, name), _weights(split, 4, name)
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
    s1 = [json.loads(x) for x in (straight / "stats.jsonl").read_text().splitlines()]
    s2 = [json.loads(x) for x in (split / "stats.jsonl").read_text().splitlines()]
    last = lambda rows: {k: v for k, v in rows[-1].items() if not k.startswith(("perf/", "time"))}  # noqa: E731
    assert last(s1) == last(s2)


def test_same_seed_same_run_on_cpu(tiny_bench, tiny_aunet, tmp_path):
    cfg = _cfg("baseline", tiny_aunet, "steps=2")
    training_loop(cfg, tiny_bench, tmp_path / "a", progress=False)
    training_loop(cfg, tiny_bench, tmp_path / "b", progress=False)
    a, b = _weights(tmp_path / "a", 2), _weights(tmp_path / "b", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_aunet_is_a_clear_error(tiny_bench, tmp_path):
    cfg = load_config("baseline", [*TINY, "steps=1"])
    with pytest.raises(AucganError, match="train-au"):
        training_loop(cfg, tiny_bench, tmp_path / "r", progress=False)


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tiny_bench, tiny_aunet, tmp_path):
    cfg = _cfg("baseline", tiny_aunet, "steps=6", "optim.lr_g=1e30", "optim.lr_d=1e30")
    run = tmp_path / "nan"
    with pytest.raises(AucganError, match="NaN|Inf|nan|inf"):
        training_loop(cfg, tiny_bench, run, progress=False)
    ckpts = sorted((run / "checkpoints").glob("step-*")) if (run / "checkpoints").exists() else []
    for c in ckpts:
        for t in load_file(str(c / "G.safetensors")).values():
            assert torch.isfinite(t).all()


def test_lr_schedule():
    assert lr_factor(0, 100, 0.5) == 1.0
    assert lr_factor(50, 100, 0.5) == 1.0
    assert lr_factor(75, 100, 0.5) == pytest.approx(0.5)
    assert lr_factor(100, 100, 0.5) == 0.0


def test_two_process_data_parallel_keeps_replicas_identical(tiny_bench, tiny_aunet, tmp_path):
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "aucgan", "train", "--config", "improved", "--data", str(tiny_bench), "--run-dir", str(run),
           "--aunet", str(tiny_aunet), "--steps", "3", "--no-progress", *sum((["--set", s] for s in TINY), [])]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    final = [r for r in rows if "dist/replica_max_diff" in r]
    assert final and final[-1]["dist/world_size"] == 2
    assert final[-1]["dist/replica_max_diff"] == 0.0
    assert (run / "checkpoints" / "step-000003" / "G.safetensors").is_file()


def test_relative_mode_learns_that_zero_delta_reproduces_the_input(tiny_bench, tiny_aunet, tmp_path):
    """Ling et al.'s identity loss: after a few steps G(x, delta=0) is closer to x than the untrained G."""
    from aucgan.au import au_set
    from aucgan.data.datasets import open_dataset
    from aucgan.runs import load_generator, make_codec
    from aucgan.training.data import TrainData

    cfg = _cfg("relative", tiny_aunet, "steps=12", "loss.w_au=0", "loss.w_d_au=0", "loss.w_adv=0.1",
               "optim.lr_g=1e-3", "sample_every=100", "ckpt_every=12")
    run = tmp_path / "relative"
    training_loop(cfg, tiny_bench, run, progress=False, stop_at=1)
    G0, _, _ = load_generator(run, which="G")
    training_loop(cfg, tiny_bench, run, progress=False, resume=True)
    G1, _, _ = load_generator(run, which="G")
    data = TrainData(open_dataset(tiny_bench), make_codec(cfg.data), au_set(cfg.data.au_set), cfg.data.size)
    idx = torch.arange(min(8, len(data)))
    x, au, fp = data.x[idx], data.au[idx], data.footprints[data.layout_index[idx]]
    with torch.no_grad():
        err0 = float((G0(x, au, fp, source_au=au)["out"] - x).abs().mean())
        same = G1(x, au, fp, source_au=au)["out"]
        err1 = float((same - x).abs().mean())
        moved = float((G1(x, (au + 0.5).clamp(0, 1), fp, source_au=au)["out"] - same).abs().mean())
    assert err1 < 0.7 * err0, (err0, err1)
    assert moved > 1e-3                      # a non-zero delta still edits
