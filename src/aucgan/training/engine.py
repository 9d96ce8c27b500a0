"""The run engine the GAN trainer (:mod:`aucgan.training.loop`) and the DECA trainer (:mod:`aucgan.deca.train`)
share: resume and its checks, the checkpoint, the learning-rate schedule, the step / log / sample / checkpoint
cadence, progress and the NaN stop. Each trainer brings only its networks, batches and objective, as a
``step_fn`` that runs one optimisation step and returns its scalars.

A checkpoint holds the trainer's modules and optimisers, the EMA's update count, the seeded data generator's
state (one per rank) and the torch RNG, so ``resume`` continues exactly as an uninterrupted run would (on CPU).
"""

from __future__ import annotations

import math
import time
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from aucgan.errors import AucganError
from aucgan.progress import Mode, Progress
from aucgan.rundir.checkpoints import CKPT_DIR, latest_checkpoint, load_checkpoint, save_checkpoint
from aucgan.rundir.files import SAMPLES_DIR
from aucgan.rundir.stats import StatsWriter
from aucgan.training import distributed as dist_utils
from aucgan.training.ema import EMA
from aucgan.training.schedule import lr_factor, set_learning_rates

MODES: tuple[str, ...] = typing.get_args(Mode)


def progress_mode(progress: bool | str) -> Mode:
    """The :class:`~aucgan.progress.Progress` mode a trainer's ``progress`` argument asks for: True is
    ``"auto"``, False ``"off"``, a string one of :data:`MODES`."""
    if isinstance(progress, bool):
        return "auto" if progress else "off"
    if progress not in MODES:
        raise AucganError(f"progress: {progress!r} is not valid; valid values: True, False, {', '.join(MODES)}")
    return typing.cast(Mode, progress)


class NonFiniteLossError(AucganError, FloatingPointError):
    """A loss (or logged scalar) became NaN or infinite."""


def check_finite(scalars: Mapping[str, float], step: int) -> None:
    """Raise :class:`NonFiniteLossError` naming every scalar that is NaN or infinite at ``step``."""
    bad = [f"{key}={float(value)}" for key, value in scalars.items() if not math.isfinite(float(value))]
    if bad:
        raise NonFiniteLossError(f"loss became NaN/Inf at step {step}: {', '.join(bad)}; stopping (the last "
                                 "good checkpoint is kept; try a lower learning rate or loss weight)")


@dataclass
class TrainState:
    """What a run trains and checkpoints: named modules (``G`` the trained generator, ``G_ema`` its average,
    ``D`` ...), named optimisers with their base learning rates, the EMA, the data generator and the step."""

    modules: dict[str, nn.Module]
    optimizers: dict[str, tuple[Optimizer, float]]
    ema: EMA
    gen: torch.Generator
    step: int = 0


@dataclass(frozen=True)
class Cadence:
    """How long a run is and how often it logs, samples and checkpoints (every ``*_every`` steps and at the
    end; ``ckpt_at``: extra checkpoint steps); the learning rates decay linearly from ``decay_start * steps``."""

    steps: int
    log_every: int
    sample_every: int
    ckpt_every: int
    keep_ckpts: int
    decay_start: float
    ckpt_at: tuple[int, ...] = ()


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    last_stats: dict[str, float]


def resume_state(state: TrainState, run_dir: Path, rank: int = 0) -> None:
    """Load the run's latest checkpoint into ``state`` (weights, optimisers, RNGs, EMA count, step)."""
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise AucganError(f"{run_dir}: --resume asked for but the run has no checkpoint")
    meta = load_checkpoint(ckpt, modules=state.modules, optimizers={k: o for k, (o, _) in state.optimizers.items()},
                           restore_rng=True)
    state.step = int(meta["step"])
    rngs = meta["data_rng"]
    rngs = rngs if rngs and isinstance(rngs[0], list) else [rngs]   # runs before the engine kept one flat state
    state.gen.set_state(torch.tensor(rngs[rank % len(rngs)], dtype=torch.uint8))
    state.ema.num_updates = int(meta.get("ema_updates", state.step))


def save_state(state: TrainState, run_dir: Path, config: dict[str, Any], keep: int, rank: int = 0,
               world: int = 1) -> None:
    """Checkpoint ``state`` into ``RUN/checkpoints`` (rank 0 writes; every rank's data generator is kept)."""
    states = dist_utils.all_gather_object(state.gen.get_state()) if world > 1 else [state.gen.get_state()]
    if rank == 0:
        save_checkpoint(run_dir / CKPT_DIR, modules=state.modules,
                        optimizers={k: o for k, (o, _) in state.optimizers.items()},
                        meta={"step": state.step, "config": config, "ema_updates": state.ema.num_updates,
                              "data_rng": [s.tolist() for s in states]},
                        step=state.step, keep=keep)


def run_steps(state: TrainState, step_fn: Callable[[int], dict[str, float]], *, run_dir: Path, cadence: Cadence,
              config: dict[str, Any], stats: StatsWriter | None, sample: Callable[[Path, int], Any] | None,
              batch_images: int, images_per_step: int, progress: bool | str = True, stop_at: int | None = None,
              rank: int = 0, world: int = 1) -> TrainResult:
    """Train from ``state.step`` to ``cadence.steps`` (or ``stop_at``, with a checkpoint, schedule unchanged).

    Per step: the learning rates of the schedule, ``step_fn(step)`` (one optimisation step; returns its
    scalars), the EMA update, the NaN stop; then at the cadence a ``stats.jsonl`` line (with images/s and the
    learning-rate factor), ``sample(path, step)`` on rank 0 and a checkpoint. ``batch_images``: training images
    per step over all ranks (the ``images`` count of the stats); ``images_per_step``: images each step reads
    (its rate). ``stats`` is closed at the end. Progress shows step, images/s and time left, labelled with the
    run directory's name.
    """
    end = cadence.steps if stop_at is None else min(stop_at, cadence.steps)
    bar = Progress(cadence.steps, run_dir.name, initial=state.step, images_per_unit=images_per_step,
                   mode=progress_mode(progress) if rank == 0 else "off")
    t_last, images_since, last = time.perf_counter(), 0, {}
    try:
        while state.step < end:
            f = lr_factor(state.step, cadence.steps, cadence.decay_start)
            set_learning_rates(state.optimizers, f)
            scalars = step_fn(state.step)
            state.ema.update(state.modules["G"])
            state.step += 1
            step = state.step
            images_since += images_per_step
            check_finite(scalars, step)
            if world > 1:
                scalars = dist_utils.reduce_dict(scalars)
            last = scalars
            bar.update(1, {k: v for k, v in (("G", scalars.get("G/total")), ("D", scalars.get("D/total")))
                           if v is not None})
            if step % cadence.log_every == 0 or step == cadence.steps:
                now = time.perf_counter()
                scalars["perf/images_per_s"] = images_since / max(now - t_last, 1e-9)
                scalars["lr_factor"] = f
                t_last, images_since = now, 0
                if stats is not None:
                    stats.write(step, scalars, images=step * batch_images)
            if sample is not None and rank == 0 and (step % cadence.sample_every == 0 or step == cadence.steps):
                sample(run_dir / SAMPLES_DIR / f"step-{step:06d}.png", step)
            if step % cadence.ckpt_every == 0 or step == end or step in cadence.ckpt_at:
                save_state(state, run_dir, config, cadence.keep_ckpts, rank, world)
        if world > 1:
            trained = [m for name, m in state.modules.items() if name != "G_ema"]
            last["dist/replica_max_diff"] = max(dist_utils.replica_divergence(m) for m in trained)
            if stats is not None:
                stats.event(state.step, **{"dist/world_size": world,
                                           "dist/replica_max_diff": last["dist/replica_max_diff"]})
    finally:
        bar.close()
        if stats is not None:
            stats.close()
    if not all(math.isfinite(v) for v in last.values()):
        raise AucganError(f"a loss became NaN/Inf at step {state.step}")
    return TrainResult(run_dir=run_dir, step=state.step, last_stats=last)
