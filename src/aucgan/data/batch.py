"""One training batch: the tensors the loss phases (:mod:`aucgan.losses.objective`) read.

:class:`~aucgan.training.data.TrainData` assembles batches; the objective only reads them, so the batch lives
with the data, not with training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Batch:
    """One training batch; AUs in unit scale (0..1)."""

    x: torch.Tensor            # (B, C, H, W) network-scaled maps
    au: torch.Tensor           # (B, K) source AUs
    fp: torch.Tensor           # (B, K, H, W) AU footprints of each sample's layout
    target: torch.Tensor       # (B, K) edit target AUs
    x_pair: torch.Tensor       # (B, C, H, W) another sample of the same identity (or the sample itself)
    au_pair: torch.Tensor      # (B, K)
    mismatch: torch.Tensor     # (B, K) AUs of other samples (for matching-aware discriminators)
    index: torch.Tensor        # (B,) sample indices
    extra: torch.Tensor | None = None         # (B, D) extra conditions of the sources (aucgan.data.conditions)
    target_extra: torch.Tensor | None = None  # (B, D) those of the edit targets: the expression attributes
    #                                           (emotion, valence) follow the target, the rest the source
    extra_pair: torch.Tensor | None = None    # (B, D) those of x_pair (the detail-consistency swap edits from it)
    mask: torch.Tensor | None = None          # (B, 1, H, W) 0..1 valid pixels of the sources (photo visibility);
    #                                           None: every pixel (the reconstruction losses weigh by it)

    def to(self, device: torch.device) -> Batch:
        return Batch(**{k: None if v is None else v.to(device, non_blocking=True) for k, v in self.__dict__.items()})
