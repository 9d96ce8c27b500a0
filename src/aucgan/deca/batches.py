"""The DECA trainer's batches: seeded draws of (latent, AUs, uv_z) samples from a prepared DECA data set, with
a detail-code partner of the same identity and the target and mismatched AUs of the AU and adversarial terms."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from aucgan.au import AU_MAX
from aucgan.deca.data import DecaData


@dataclass
class DecaBatch:
    """One batch: latents (B, D), AUs (B, K) 0..5, uv_z (B, 1, S, S) metres, the latents with a partner's
    detail code (B, D) and whether a partner exists (B,), target AUs (B, K) 0..5 and mismatched AUs (B, K)."""

    latent: Tensor
    au: Tensor
    uv: Tensor
    swapped: Tensor
    has_partner: Tensor
    target: Tensor
    mismatched: Tensor

    def to(self, device: torch.device) -> DecaBatch:
        return DecaBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


class DecaTrainData:
    """Draws seeded batches from a :class:`DecaData` (latents and AUs in memory, uv_z read per batch)."""

    def __init__(self, data: DecaData) -> None:
        self.data = data
        self.latents = torch.from_numpy(np.array(data.latents, np.float32))
        self.au = torch.from_numpy(data.au.copy())
        ids = data.identity_index()
        self.groups = [np.flatnonzero(ids == i) for i in range(int(ids.max()) + 1)]
        self.group_of = ids
        self.detail = data.parts["detail"]

    def __len__(self) -> int:
        return len(self.data)

    @property
    def has_pairs(self) -> bool:
        """Whether any identity has two or more samples (detail consistency needs pairs)."""
        return any(len(g) > 1 for g in self.groups)

    def batch(self, idx: Tensor, gen: torch.Generator, target_mode: str = "shuffle", noise: float = 0.0
              ) -> DecaBatch:
        idx_np = idx.numpy()
        latent, au = self.latents[idx], self.au[idx]
        uv = torch.from_numpy(np.array(self.data.uv_z[idx_np], np.float32))
        partners, has = [], []
        for i in idx_np.tolist():
            group = self.groups[self.group_of[i]]
            others = group[group != i]
            if len(others):
                partners.append(int(others[int(torch.randint(len(others), (1,), generator=gen))]))
                has.append(True)
            else:
                partners.append(i)
                has.append(False)
        swapped = latent.clone()
        swapped[:, self.detail] = self.latents[partners][:, self.detail]
        perm = torch.roll(torch.arange(len(idx)), 1)
        mismatched = au[perm]
        target = au.clone() if target_mode == "own" else mismatched.clone()
        if noise > 0:
            target = target + noise * AU_MAX * torch.randn(target.shape, generator=gen)
        return DecaBatch(latent=latent, au=au, uv=uv, swapped=swapped, has_partner=torch.tensor(has),
                         target=target.clamp(0.0, AU_MAX), mismatched=mismatched)

    def random_batch(self, size: int, gen: torch.Generator, target_mode: str, noise: float) -> DecaBatch:
        return self.batch(torch.randint(len(self), (size,), generator=gen), gen, target_mode, noise)
