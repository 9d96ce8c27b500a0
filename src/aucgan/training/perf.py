"""Speed settings shared by the training loop and the benchmarks: optimiser implementation, compilation.

Each choice here was measured (A/B, back to back on the same machine); the figures and the reasons for
the defaults are in ``docs/performance.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from aucgan.data.batch import Batch
from aucgan.errors import AucganError

ADAM_IMPLS = ("auto", "foreach", "fused", "single")


def make_adam(params: Iterable[nn.Parameter] | Iterable[dict], lr: float, betas: tuple[float, float],
              impl: str = "auto") -> torch.optim.Adam:
    """Adam with the requested kernel: ``foreach`` (multi-tensor), ``fused`` (one fused kernel, CPU and CUDA),
    ``single`` (a loop over tensors) or ``auto`` (torch's default for the parameters' device). ``params`` may be
    parameter groups (dicts), as torch's optimisers take them."""
    if impl not in ADAM_IMPLS:
        raise AucganError(f"optim.adam_impl: unknown Adam implementation {impl!r}; valid: {', '.join(ADAM_IMPLS)}")
    kwargs: dict[str, bool] = {}
    if impl == "foreach":
        kwargs["foreach"] = True
    elif impl == "fused":
        kwargs["fused"] = True
    elif impl == "single":
        kwargs["foreach"] = False
    return torch.optim.Adam(params, lr=lr, betas=betas, **kwargs)


def to_channels_last(batch: Batch) -> Batch:
    """``batch`` with its 4-D tensors (maps, footprints) in channels-last (NHWC) memory format."""
    return Batch(**{k: v.contiguous(memory_format=torch.channels_last) if v is not None and v.dim() == 4 else v
                    for k, v in batch.__dict__.items()})


def maybe_compile(module: nn.Module, enabled: bool) -> nn.Module:
    """``module`` compiled with ``torch.compile`` (inductor; dynamic shapes off) when ``enabled``, else itself.

    The compiled wrapper shares parameters with ``module``, so optimisers, EMA and checkpoints keep using
    ``module``; only forward calls go through the wrapper.
    """
    if not enabled:
        return module
    return torch.compile(module, dynamic=False)
