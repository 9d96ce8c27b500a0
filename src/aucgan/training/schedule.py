"""The learning-rate schedule of the GAN and DECA trainers: constant, then a linear decay to 0 (GANimation /
CycleGAN), as a function of the step and the run's total length."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def lr_factor(step: int, total: int, decay_start: float) -> float:
    """Constant, then linear decay to 0 from ``decay_start * total`` (GANimation / CycleGAN schedule)."""
    start = int(decay_start * total)
    if step < start or total <= start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, total - start))


def set_learning_rates(optimizers: Mapping[str, tuple[torch.optim.Optimizer, float]], factor: float) -> None:
    """Set every parameter group of each ``(optimizer, base learning rate)`` to ``base * factor``, times the
    group's own ``lr_scale`` where it has one (e.g. a pretrained decoder's weights beside new layers)."""
    for opt, base in optimizers.values():
        for group in opt.param_groups:
            group["lr"] = base * factor * group.get("lr_scale", 1.0)
