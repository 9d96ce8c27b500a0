"""The run engine both trainers share: cadence, checkpoints and exact resume, the schedule, progress and the NaN
stop, on a toy trainer (a linear model fitted to seeded random data)."""

from __future__ import annotations

import io
import json

import pytest
import torch
from safetensors.torch import load_file

from aucgan.errors import AucganError
from aucgan.rundir.checkpoints import latest_checkpoint, list_checkpoints
from aucgan.rundir.stats import StatsWriter, read_stats
from aucgan.training.ema import EMA
from aucgan.training.engine import (
    Cadence,
    NonFiniteLossError,
    TrainState,
    check_finite,
    progress_mode,
    resume_state,
    run_steps,
)
from aucgan.training.schedule import lr_factor


def _toy(seed: int = 0, nan_at: int | None = None):
    torch.manual_seed(seed)
    G = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(G.parameters(), lr=0.1)
    ema = EMA(G, decay=0.9, rampup=0.0)
    state = TrainState(modules={"G": G, "G_ema": ema.module}, optimizers={"opt_g": (opt, 0.1)}, ema=ema,
                       gen=torch.Generator().manual_seed(seed))

    def step_fn(step: int) -> dict[str, float]:
        x = torch.randn(4, 3, generator=state.gen)
        loss = (G(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float("nan") if step + 1 == nan_at else float(loss.detach())
        return {"G/total": value, "lr_seen": opt.param_groups[0]["lr"]}

    return state, step_fn


CADENCE = Cadence(steps=6, log_every=2, sample_every=3, ckpt_every=4, keep_ckpts=5, decay_start=0.5, ckpt_at=(1,))


def _run(run_dir, resume=False, stop_at=None, progress=False, nan_at=None):
    state, step_fn = _toy(nan_at=nan_at)
    if resume:
        resume_state(state, run_dir)
    samples = []
    result = run_steps(state, step_fn, run_dir=run_dir, cadence=CADENCE, config={"toy": 1},
                       stats=StatsWriter(run_dir, tensorboard=False),
                       sample=lambda path, step: samples.append((path.relative_to(run_dir).as_posix(), step)),
                       batch_images=4, images_per_step=4, progress=progress, stop_at=stop_at)
    return result, samples


def test_cadence_schedule_and_checkpoints(tmp_path):
    result, samples = _run(tmp_path)
    assert result.step == 6 and result.run_dir == tmp_path
    assert samples == [("samples/step-000003.png", 3), ("samples/step-000006.png", 6)]
    assert [int(p.name[5:]) for p in list_checkpoints(tmp_path)] == [1, 4, 6]     # ckpt_at, every 4, the end
    rows = read_stats(tmp_path)
    assert [r["step"] for r in rows] == [2, 4, 6] and [r["images"] for r in rows] == [8, 16, 24]
    assert [r["lr_factor"] for r in rows] == [lr_factor(s - 1, 6, 0.5) for s in (2, 4, 6)]
    assert all(r["perf/images_per_s"] > 0 for r in rows)
    assert rows[-1]["lr_seen"] == pytest.approx(0.1 * lr_factor(5, 6, 0.5))
    meta = json.loads((latest_checkpoint(tmp_path) / "meta.json").read_text())["meta"]
    assert meta["step"] == 6 and meta["config"] == {"toy": 1} and meta["ema_updates"] == 6
    assert len(meta["data_rng"]) == 1                                             # one state per rank


def test_resume_continues_exactly(tmp_path):
    _run(tmp_path / "full")
    _run(tmp_path / "split", stop_at=2)
    assert [int(p.name[5:]) for p in list_checkpoints(tmp_path / "split")] == [1, 2]
    result, _ = _run(tmp_path / "split", resume=True)
    assert result.step == 6
    for name in ("G", "G_ema"):
        a = load_file(str(latest_checkpoint(tmp_path / "full") / f"{name}.safetensors"))
        b = load_file(str(latest_checkpoint(tmp_path / "split") / f"{name}.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a), name


def test_resume_reads_a_flat_data_rng_of_older_deca_runs(tmp_path):
    _run(tmp_path, stop_at=4)
    meta_path = latest_checkpoint(tmp_path) / "meta.json"
    record = json.loads(meta_path.read_text())
    nested = record["meta"]["data_rng"]
    record["meta"]["data_rng"] = nested[0]
    meta_path.write_text(json.dumps(record))
    state, _ = _toy()
    resume_state(state, tmp_path)
    assert state.step == 4 and state.gen.get_state().tolist() == nested[0]


def test_resume_without_checkpoint_is_an_error(tmp_path):
    state, _ = _toy()
    with pytest.raises(AucganError, match="no checkpoint"):
        resume_state(state, tmp_path)


def test_nan_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    with pytest.raises(NonFiniteLossError, match="step 3: G/total=nan"):
        _run(tmp_path, nan_at=3)
    assert [int(p.name[5:]) for p in list_checkpoints(tmp_path)] == [1]


def test_progress_lines_are_labelled_with_the_run_directory(tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    _run(tmp_path / "00003-toy", progress="lines")
    last = err.getvalue().strip().splitlines()[-1]
    assert last.startswith("00003-toy: step 6/6 (100%)") and "img/s" in last and "G " in last
    err.truncate(0)
    _run(tmp_path / "quiet", progress=False)
    assert err.getvalue().strip("\x00") == ""


def test_progress_mode():
    assert progress_mode(True) == "auto" and progress_mode(False) == "off"
    for mode in ("auto", "bar", "lines", "off"):
        assert progress_mode(mode) == mode
    with pytest.raises(AucganError, match="valid values: True, False, auto, bar, lines, off"):
        progress_mode("loud")


def test_check_finite_names_the_bad_losses():
    check_finite({"G/adv": 1.0, "D/adv": -3.0}, step=5)
    with pytest.raises(AucganError, match=r"step 12: G/au_bce=nan, D/gp=inf"):
        check_finite({"G/adv": 1.0, "G/au_bce": float("nan"), "D/gp": float("inf")}, step=12)
    with pytest.raises(FloatingPointError):
        check_finite({"x": torch.tensor(float("-inf"))}, step=0)
