"""Run directories with untrained generators: what inference benchmarks time (weights do not change speed)."""

from __future__ import annotations

from pathlib import Path

import torch


def untrained_run(run: Path, preset: str, size: int) -> Path:
    """Write ``run`` holding ``preset``'s generator at ``size`` px, freshly initialised (seed 0), as its EMA
    checkpoint at step 0, so ``Editor.from_run(run)`` and ``aucgan edit`` load it like a trained run."""
    from aucgan.config.loading import load_config, to_dict
    from aucgan.models.build import build_generator
    from aucgan.rundir.checkpoints import save_checkpoint
    from aucgan.rundir.files import write_config

    torch.manual_seed(0)
    cfg = load_config(preset, [f"data.size={size}"])
    write_config(run, to_dict(cfg))
    save_checkpoint(run / "checkpoints", {"G_ema": build_generator(cfg)}, {}, {"step": 0}, rng=False)
    return run
