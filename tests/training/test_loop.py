import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from aucgan.config.loading import load_config, replace_path
from aucgan.errors import AucganError
from aucgan.training.loop import training_loop
from aucgan.training.schedule import lr_factor

from tests.tiny import TINY


def _cfg(preset, aunet, *extra):
    return load_config(preset, [*TINY, f"aunet.checkpoint={aunet}", *extra])


def _weights(run_dir, step, name="G"):
    return load_file(str(run_dir / "checkpoints" / f"step-{step:06d}" / f"{name}.safetensors"))


#: Loss terms each preset's configuration switches on (present) and off (absent) in the stats lines.
TERMS = {
    "baseline": ({"G/adv", "G/aunet_bce", "G/rec", "D/adv"}, {"G/dau_mse", "G/cycle", "G/detail", "D/gp"}),
    "ganimation": ({"G/adv", "G/dau_mse", "G/cycle", "G/att_mean", "G/att_tv", "D/gp", "D/au_mse"},
                   {"G/aunet_mse", "G/rec", "G/detail"}),
    "improved": ({"G/adv", "G/detail", "D/au_mse", "D/mismatch"}, {"G/aunet_mse", "G/dau_mse", "G/rec", "G/cycle",
                                                                 "D/gp"}),
    "improved-v1": ({"G/adv", "G/aunet_mse", "G/dau_mse", "G/detail", "D/au_mse"}, {"G/rec", "G/cycle", "D/gp"}),
}


@pytest.mark.parametrize("preset", ["baseline", "ganimation", "improved", "improved-v1"])
def test_presets_train_and_write_a_run_dir(preset, tiny_bench, tiny_aunet, tmp_path):
    run = tmp_path / preset
    cfg = _cfg(preset, tiny_aunet, "steps=2")
    result = training_loop(cfg, tiny_bench, run, progress=False)
    assert result.step == 2
    assert (run / "config.json").is_file()
    assert json.loads((run / "config.json").read_text())["name"] == preset
    lines = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2]                       # log_every=1
    on, off = TERMS[preset]
    for x in lines:
        assert math.isfinite(x["G/total"]) and math.isfinite(x["D/total"])
        assert on <= set(x) and not off & set(x), (on - set(x), off & set(x))
        assert x["lr_factor"] == lr_factor(x["step"] - 1, 2, cfg.optim.decay_start)
        assert x["images"] == x["step"] * cfg.data.batch_size
    assert result.last_stats["G/total"] == pytest.approx(lines[-1]["G/total"])
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


def _rows(run):
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


def test_resume_with_more_steps_extends_the_run(tiny_bench, tiny_aunet, tmp_path, capsys):
    """Users extend runs: a larger ``steps`` on resume continues, the schedule is the new total's, the
    extension is recorded; fewer steps or any other changed setting is refused."""
    run = tmp_path / "run"
    training_loop(_cfg("improved", tiny_aunet, "steps=4", "sample_every=100"), tiny_bench, run, progress=False)
    longer = _cfg("improved", tiny_aunet, "steps=8", "sample_every=100")
    result = training_loop(longer, tiny_bench, run, progress=False, resume=True)
    assert result.step == 8 and (run / "checkpoints" / "step-000008" / "G.safetensors").is_file()
    assert "extending the run from 4 to 8 steps at step 4" in capsys.readouterr().out
    assert json.loads((run / "config.json").read_text())["steps"] == 8
    rows = _rows(run)
    assert [r["steps_extended"] for r in rows if "steps_extended" in r] == [{"from": 4, "to": 8}]
    assert next(r for r in rows if "steps_extended" in r)["step"] == 4
    factors = {r["step"]: r["lr_factor"] for r in rows if "lr_factor" in r}
    # steps 1-4 ran under the 4-step schedule (decay from step 2), steps 5-8 under the 8-step one (from step 4):
    # the rate goes back up at the extension, to what an 8-step run has there
    assert [factors[k] for k in range(1, 5)] == [lr_factor(k - 1, 4, 0.5) for k in range(1, 5)] == [1, 1, 1, 0.5]
    assert [factors[k] for k in range(5, 9)] == [lr_factor(k - 1, 8, 0.5) for k in range(5, 9)] == \
        [1, 0.75, 0.5, 0.25]
    # the same total again: nothing to record; fewer steps or another change: refused, config untouched
    training_loop(longer, tiny_bench, run, progress=False, resume=True)
    assert len([r for r in _rows(run) if "steps_extended" in r]) == 1
    with pytest.raises(AucganError, match=r"steps: 8 -> 6.*steps may grow but not shrink"):
        training_loop(_cfg("improved", tiny_aunet, "steps=6", "sample_every=100"), tiny_bench, run, progress=False,
                      resume=True)
    with pytest.raises(AucganError, match=r"configured differently \(loss\.w_au: 0\.0 -> 3\.0\); keep"):
        training_loop(_cfg("improved", tiny_aunet, "steps=10", "sample_every=100", "loss.w_au=3"), tiny_bench, run,
                      progress=False, resume=True)
    assert json.loads((run / "config.json").read_text())["steps"] == 8


def test_a_run_written_before_generator_variants_loads_and_resumes(tiny_bench, tiny_aunet, tmp_path):
    """config.json of the previous version (flat generator keys) still loads, and --resume accepts it."""
    from aucgan.models.regional import RegionalGenerator
    from aucgan.runs import load_generator

    before = json.loads((Path(__file__).parents[1] / "presets_before_i14.json").read_text())
    cfg = _cfg("cascade", tiny_aunet, "steps=2", "discriminator.patch_size=16", "generator.regional.channels=8")
    run = tmp_path / "old"
    training_loop(cfg, tiny_bench, run, progress=False)
    new = json.loads((run / "config.json").read_text())
    gen = new["generator"]
    legacy = {**before["defaults"]["train"]["generator"],
              **{k: v for k, v in gen.items() if k not in ("variant", "regional", "sean", "decomposed")},
              "local_regions": gen["regional"]["regions"], "local_channels": 8, "cascade_steps": 2}
    assert "local_num_down" in legacy and "region_styles" in legacy and legacy["decomposed"] is False
    (run / "config.json").write_text(json.dumps({**new, "generator": legacy}, indent=1))
    G, loaded, step = load_generator(run)
    assert isinstance(G, RegionalGenerator) and loaded == cfg and step == 2
    training_loop(replace_path(cfg, "steps", 3), tiny_bench, run, progress=False, resume=True)
    assert json.loads((run / "config.json").read_text())["generator"]["regional"]["channels"] == 8


def test_same_seed_same_run_on_cpu(tiny_bench, tiny_aunet, tmp_path):
    cfg = _cfg("baseline", tiny_aunet, "steps=2")
    training_loop(cfg, tiny_bench, tmp_path / "a", progress=False)
    training_loop(cfg, tiny_bench, tmp_path / "b", progress=False)
    a, b = _weights(tmp_path / "a", 2), _weights(tmp_path / "b", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_repeat_factor_sampling_reaches_the_batches(tiny_bench, tiny_aunet, tmp_path, monkeypatch):
    """data.repeat_threshold draws the training batches by the data's repeat factors, seeded."""
    from aucgan.training.data import TrainData

    seen = []
    real = TrainData.random_batch

    def spy(self, batch_size, gen, weights=None, **kw):
        seen.append(weights)
        return real(self, batch_size, gen, weights=weights, **kw)

    monkeypatch.setattr(TrainData, "random_batch", spy)
    cfg = _cfg("improved", tiny_aunet, "steps=2", "data.repeat_threshold=0.5")
    training_loop(cfg, tiny_bench, tmp_path / "a", progress=False)
    assert seen and all(w is not None for w in seen)
    assert float(seen[0].max()) > 1.0 and float(seen[0].min()) == 1.0   # the tiny bench's rarer AUs repeat
    training_loop(cfg, tiny_bench, tmp_path / "b", progress=False)
    training_loop(_cfg("improved", tiny_aunet, "steps=2"), tiny_bench, tmp_path / "u", progress=False)
    a, b, u = (_weights(tmp_path / n, 2) for n in ("a", "b", "u"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], u[k]) for k in a)


def test_missing_aunet_is_a_clear_error(tiny_bench, tmp_path):
    cfg = load_config("baseline", [*TINY, "steps=1"])
    with pytest.raises(AucganError, match="train-au"):
        training_loop(cfg, tiny_bench, tmp_path / "r", progress=False)


def test_nan_loss_stops_with_message_and_keeps_last_checkpoint(tiny_bench, tiny_aunet, tmp_path, monkeypatch):
    """A loss that turns NaN at step 3 stops the run there; the checkpoint of step 2 (ckpt_every=2) stays the
    last one, and it holds the good weights of before the NaN."""
    from aucgan.losses.objective import GANObjective

    calls = {"n": 0}
    real_phase = GANObjective.generator_phase

    def phase(self, b):
        loss, stats = real_phase(self, b)
        calls["n"] += 1
        if calls["n"] == 3:
            loss = loss * float("nan")
            stats = {**stats, "G/total": float("nan")}
        return loss, stats

    monkeypatch.setattr(GANObjective, "generator_phase", phase)
    cfg = _cfg("baseline", tiny_aunet, "steps=6")
    run = tmp_path / "nan"
    with pytest.raises(AucganError, match="step 3"):
        training_loop(cfg, tiny_bench, run, progress=False)
    ckpts = sorted(p.name for p in (run / "checkpoints").glob("step-*"))
    assert ckpts == ["step-000002"]
    assert [r["step"] for r in _rows(run)] == [1, 2]          # no stats line with the NaN
    for name in ("G", "G_ema", "D"):
        for t in _weights(run, 2, name).values():
            assert torch.isfinite(t).all()
    # the kept checkpoint is exactly the state after step 2 of the same run without the NaN
    monkeypatch.setattr(GANObjective, "generator_phase", real_phase)
    training_loop(load_config("baseline", [*TINY, f"aunet.checkpoint={tiny_aunet}", "steps=6"]), tiny_bench,
                  tmp_path / "clean", progress=False, stop_at=2)
    a, b = _weights(run, 2), _weights(tmp_path / "clean", 2)
    assert all(torch.equal(a[k], b[k]) for k in a)


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
    from aucgan.models.build import make_codec
    from aucgan.runs import load_generator
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
