"""What the metrics read: :class:`EvalContext`, plus the shared helpers for drawing sources and edits.

The context holds the generator under test (EMA), the map codec and AU names, the evaluation data as a
:class:`~aucgan.training.data.TrainData` (network-scaled maps, AUs in unit scale, footprints), and the
optional pieces some metrics need: the independent AU judge, the run's discriminator, held-out real maps
and a ground-truth renderer (synthetic benchmark only). Every random choice derives from ``ctx.seed``
and a per-use salt, so two evaluations of the same checkpoint score the same samples. Networks trained on
another map encoding, size or AU set (the judge, a feature extractor) enter through :class:`CodecAdapter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
from torch import nn

from aucgan.data.codec import MapCodec
from aucgan.errors import AucganError
from aucgan.inference import Editor

if TYPE_CHECKING:
    from aucgan.training.data import TrainData

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]


class EvalError(AucganError, ValueError):
    """The run, data, judge or options of an evaluation do not fit together."""


class CodecAdapter(nn.Module):
    """Feeds maps encoded with the generator's codec to a network trained on another encoding, size or AU
    set: decode, re-encode, resize; ``predict`` returns the generator's AU columns."""

    def __init__(self, net: nn.Module, source: MapCodec, target: MapCodec, size: int,
                 au_columns: Sequence[int] | None = None) -> None:
        super().__init__()
        missing = [m for m in target.maps if m not in source.maps]
        if missing:
            raise EvalError(f"the network reads map(s) {missing} that the generator does not write")
        self.net, self.source, self.target, self.size = net, source, target, size
        self.au_columns = None if au_columns is None else list(au_columns)

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        if self.source == self.target and x.shape[-1] == self.size:
            return x
        y = self.target.encode(self.source.decode(x))
        if y.shape[-1] != self.size:
            y = nn.functional.interpolate(y, size=(self.size, self.size), mode="bilinear",
                                          align_corners=False)
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.translate(x))

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net.predict(self.translate(x))
        return out if self.au_columns is None else out[:, self.au_columns]


class GroundTruth(Protocol):
    """Ground-truth maps for (sample, target AU) pairs, network-scaled at the evaluation size."""

    def render(self, source_ids: Sequence[str], target_au: torch.Tensor,
               target_ids: Sequence[str] | None = None) -> torch.Tensor:
        """Maps (B, C, H, W) of each source's identity showing ``target_au`` ((B, K) intensities 0..5 in
        the context's AU order); the expression attributes (emotion, valence) of ``target_ids`` if given."""
        ...

    def neutral(self, source_ids: Sequence[str]) -> torch.Tensor:
        """Maps (B, C, H, W) of each source's identity with no AU active and a neutral emotion."""
        ...


@dataclass(frozen=True)
class EvalContext:
    """Everything the metrics need; None marks a piece that is not available for this evaluation."""

    G: nn.Module
    codec: MapCodec
    au_names: tuple[str, ...]
    data: TrainData
    judge: nn.Module | None = None
    D: nn.Module | None = None
    reference: torch.Tensor | None = None     # (N, C, H, W) held-out real maps, network-scaled
    truth: GroundTruth | None = None
    features: FeatureExtractor | None = None  # (N, C, H, W) -> (N, F) for FID/KID
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    num_samples: int = 64                      # sources for au_control / identity / realism / paired / disc
    num_sweep: int = 4                         # sources for sweeps, locality and sensitivity
    batch_size: int = 32
    step: int = 0
    info: Mapping[str, object] = field(default_factory=dict)  # provenance written with every result line

    @property
    def size(self) -> int:
        return int(self.data.x.shape[-1])

    @property
    def num_aus(self) -> int:
        return len(self.au_names)


# ------------------------------------------------------------------------------------------ drawing

def rng(ctx: EvalContext, salt: int) -> torch.Generator:
    """A torch generator seeded from the context seed and a per-use salt."""
    return torch.Generator().manual_seed(int(ctx.seed) * 7919 + int(salt))


def pick_sources(ctx: EvalContext, n: int, salt: int) -> torch.Tensor:
    """``min(n, N)`` distinct sample indices of the evaluation data, seeded."""
    total = len(ctx.data)
    return torch.randperm(total, generator=rng(ctx, salt))[: max(1, min(n, total))].sort().values


def pick_others(ctx: EvalContext, index: torch.Tensor, salt: int, min_diff: float = 0.2) -> torch.Tensor:
    """For each sample in ``index``, another sample whose AU vector differs (L1 > ``min_diff`` in unit scale)
    when one exists: the source of edit targets and of mismatched AU vectors."""
    au = ctx.data.au
    g = rng(ctx, salt)
    out = []
    for i in index.tolist():
        diff = (au - au[i]).abs().sum(dim=1)
        cand = torch.nonzero(diff > min_diff).flatten()
        if cand.numel() == 0:
            cand = torch.tensor([j for j in range(len(au)) if j != i] or [i])
        out.append(int(cand[torch.randint(cand.numel(), (1,), generator=g)]))
    return torch.tensor(out, dtype=torch.long)


def footprints_of(ctx: EvalContext, index: torch.Tensor) -> torch.Tensor:
    """AU footprints (B, K, H, W) of the samples ``index``."""
    return ctx.data.footprints[ctx.data.layout_index[index]]


def extra_kwargs(extra: torch.Tensor | None, rows: slice | None = None,
                 device: torch.device | str | None = None) -> dict[str, torch.Tensor]:
    """``{"extra": extra[rows]}`` for a network call, or ``{}`` without extra conditions (so networks that
    take none need not accept the keyword)."""
    if extra is None:
        return {}
    extra = extra if rows is None else extra[rows]
    return {"extra": extra if device is None else extra.to(device)}


def extras_of(ctx: EvalContext, index: torch.Tensor, repeat: int = 1) -> torch.Tensor | None:
    """Extra conditions (B * repeat, D) of the samples ``index`` (each row repeated ``repeat`` times), or None
    when the evaluated generator takes none. Edits keep the source's attributes."""
    extra = getattr(ctx.data, "extra", None)
    if extra is None:
        return None
    return extra[index].repeat_interleave(repeat, dim=0)


def transfer_extras(ctx: EvalContext, index: torch.Tensor, others: torch.Tensor) -> torch.Tensor | None:
    """Extra conditions (B, D) of edits of samples ``index`` towards the expressions of samples ``others``: the
    source's identity attributes (age, gender, landmarks) with the other's expression attributes (emotion,
    valence), as training pairs them and as the ground truth renders such an edit; None without extras."""
    extra = getattr(ctx.data, "extra", None)
    if extra is None:
        return None
    return ctx.data.target_extra(index, extra[others])


def sample_ids(ctx: EvalContext, index: torch.Tensor) -> list[str]:
    return [ctx.data.ids[i] for i in index.tolist()]


# -------------------------------------------------------------------------------------- networks

def editor_of(ctx: EvalContext) -> Editor:
    """The :class:`~aucgan.inference.Editor` over the context's generator: every metric runs G through it."""
    return Editor(ctx.G, ctx.codec, ctx.au_names, ctx.size, device=ctx.device)


def generate(ctx: EvalContext, x: torch.Tensor, au_unit: torch.Tensor, fp: torch.Tensor,
             source_au: torch.Tensor, extra: torch.Tensor | None = None,
             source_extra: torch.Tensor | None = None) -> torch.Tensor:
    """``G(x, target au, footprints, source_au)["out"]`` in batches on the context device (CPU float out),
    through :meth:`aucgan.inference.Editor.generate`.

    ``source_au`` (B, K) are the AUs of ``x`` (unit scale), which relative-mode generators need; ``extra``
    (B, D) the extra conditions of generators that take them (:func:`extras_of` the sources) and ``source_extra``
    the sources' own when the edit changes them (:func:`transfer_extras`)."""
    return editor_of(ctx).generate(x, au_unit, fp, source_au, extra, batch_size=ctx.batch_size,
                                   source_extra=source_extra)["out"]


@torch.no_grad()
def judge_read(ctx: EvalContext, x: torch.Tensor) -> torch.Tensor:
    """AU intensities (N, K) on the 0..5 scale that the judge reads from network-scaled maps."""
    if ctx.judge is None:
        raise ValueError("no judge in the evaluation context")
    ctx.judge.eval()
    outs = [ctx.judge.predict(x[s:s + ctx.batch_size].to(ctx.device)).float().cpu()
            for s in range(0, x.shape[0], ctx.batch_size)]
    return torch.cat(outs)


# ---------------------------------------------------------------------------------- map statistics

def decode(ctx: EvalContext, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Network tensor -> named maps in natural units (albedo 0..1, displacement in its own units)."""
    return ctx.codec.decode(x)


def masked_mean(values: torch.Tensor, weight: torch.Tensor) -> float:
    """Weighted mean of ``values`` (B, C, H, W) with a (B, 1, H, W) weight; NaN when the weight is empty."""
    w = weight.expand_as(values)
    den = float(w.sum())
    return float((values * w).sum()) / den if den > 1e-12 else float("nan")


def union_mask(fp: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """Union (max) of the footprints (B, K, H, W) of the AUs marked in ``active`` (B, K) -> (B, 1, H, W)."""
    return (fp * active.float()[:, :, None, None]).amax(dim=1, keepdim=True)


def per_au(values: Sequence[float] | np.ndarray, au_names: Sequence[str]) -> dict[str, float | None]:
    """``{AU: value}`` with NaN as None, rounded for JSON."""
    return {au: (None if v is None or not np.isfinite(v) else round(float(v), 6))
            for au, v in zip(au_names, values)}


def nanmean(values: Sequence[float | None] | np.ndarray) -> float | None:
    """Mean of the finite values (None when there are none)."""
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64)
    arr = arr[np.isfinite(arr)]
    return round(float(arr.mean()), 6) if arr.size else None
