"""Exponential moving average of a network's weights (the generator that is evaluated and saved)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside a DistributedDataParallel / DataParallel wrapper (or the module itself)."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model


class EMA:
    """A frozen copy ``module`` of ``model`` whose parameters follow ``ema = d * ema + (1 - d) * param``.

    The decay ramps linearly from 0 to ``decay`` over the first ``warmup`` updates (``d_n = decay *
    min(1, n / warmup)`` for update n = 1, 2, ...), so the average does not remember the random
    initialisation; ``warmup=0`` uses ``decay`` from the first update. With ``rampup`` (StyleGAN2-ADA's
    ``ema_rampup``, e.g. 0.05) the half-life in updates is instead ``min(rampup * n, half-life of decay)``,
    so short runs average over the recent ``rampup`` share of training rather than over stale early weights.
    Buffers (BatchNorm statistics, spectral-norm vectors) are copied, not averaged. Under DDP pass either
    the wrapper or the inner module.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, warmup: int = 0, rampup: float | None = None
                 ) -> None:
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"EMA decay must be in [0, 1], got {decay}")
        if warmup < 0:
            raise ValueError(f"EMA warmup must be >= 0 updates, got {warmup}")
        self.decay = float(decay)
        self.warmup = int(warmup)
        self.rampup = rampup
        self.num_updates = 0
        self.module = copy.deepcopy(unwrap(model)).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next :meth:`update` will use."""
        n = self.num_updates + 1
        if self.rampup is not None:
            return min(self.decay, 0.5 ** (1.0 / max(self.rampup * n, 1e-8)))
        return self.decay if self.warmup == 0 else self.decay * min(1.0, n / self.warmup)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average towards ``model``'s current parameters and copy its buffers."""
        src = unwrap(model)
        d = self.current_decay()
        own_p, src_p = dict(self.module.named_parameters()), dict(src.named_parameters())
        own_b, src_b = dict(self.module.named_buffers()), dict(src.named_buffers())
        if own_p.keys() != src_p.keys() or own_b.keys() != src_b.keys():
            raise ValueError("EMA.update: the model's parameters/buffers differ from the averaged copy's")
        for name, p in own_p.items():
            p.lerp_(src_p[name].detach().to(p.dtype), 1.0 - d)
        for name, b in own_b.items():
            b.copy_(src_b[name].detach())
        self.num_updates += 1

    def state_dict(self) -> dict[str, Any]:
        """``{"module": tensors, "num_updates", "decay", "warmup"}`` (tensors under "module" only)."""
        return {"module": self.module.state_dict(), "num_updates": self.num_updates, "decay": self.decay,
                "warmup": self.warmup}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict` (strict on the module's keys)."""
        self.module.load_state_dict(state["module"], strict=True)
        self.num_updates = int(state["num_updates"])
        self.decay = float(state.get("decay", self.decay))
        self.warmup = int(state.get("warmup", self.warmup))
