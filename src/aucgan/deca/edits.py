"""A detail decoder's AU edits scored against a reference change: the one home of the scoring that
``diagnose --truth`` (:mod:`aucgan.deca.truth`, the world's exact truth) and diagnose's paired figure
(:func:`aucgan.deca.diagnose.paired_scores`, another image of the same person) share.

The reference is always seen from the decoder's own output for the source (not editing): ``not editing +
(true target - true source)``, so the decoder's error in reconstructing the source cancels and only the edit is
scored, by :func:`aucgan.metrics.paired.change_scores` inside a face mask.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from aucgan.metrics.paired import change_scores

#: The figures of an edit: explained (0: not editing, 1: exact), cosine and amplitude of its change.
SCORES = ("explained", "cosine", "amplitude")


class Decoder(Protocol):
    """What the scoring calls: a :class:`aucgan.deca.DetailDecoder`, or anything with its interface."""

    au_names: tuple[str, ...]
    latent_dim: int
    output_size: int
    needs_source_au: bool

    def __call__(self, latent: torch.Tensor, au: torch.Tensor, source_au: torch.Tensor | None = None
                 ) -> torch.Tensor: ...


@torch.no_grad()
def decode(dec: Decoder, latent: torch.Tensor, au: torch.Tensor, source: torch.Tensor, batch_size: int
           ) -> torch.Tensor:
    """``dec(latent, au)`` in batches of ``batch_size``, float64; ``source`` goes in as ``source_au`` when the
    decoder asks for the AUs it edits from."""
    outs = []
    for start in range(0, latent.shape[0], batch_size):
        sl = slice(start, start + batch_size)
        outs.append(dec(latent[sl], au[sl], source_au=source[sl] if dec.needs_source_au else None).double())
    return torch.cat(outs)


def round_score(v: float | None) -> float | None:
    """A figure for JSON: six decimals, None when undefined (no change to compare against)."""
    return None if v is None or not np.isfinite(v) else round(float(v), 6)


def edit_scores(edit: torch.Tensor, source: torch.Tensor, truth: torch.Tensor, mask: torch.Tensor
                ) -> dict[str, float | None]:
    """:data:`SCORES` of the edits (B, 1, S, S) against ``truth`` seen from ``source`` inside ``mask``
    (B, 1, S, S), pooled over the batch."""
    s = change_scores(edit, source, truth, mask)
    return {k: round_score(s[k]) for k in SCORES}


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean |a - b| inside ``mask`` (weights, the same shape), metres."""
    return float((mask * (a - b).abs()).sum() / mask.sum().clamp_min(1.0))
