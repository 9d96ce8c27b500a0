"""The DECA trainer's batches: seeded draws of (latent, AUs, uv_z) samples from a prepared DECA data set, with
a partner of the same identity (its detail code for DECA's detail consistency, its whole latent and AUs for the
cross-expression term), the target and mismatched AUs of the AU and adversarial terms, and optional
expression-code dropout and noise (so the decoder cannot rely on the expression code alone)."""

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
    detail code (B, D) and whether a partner exists (B,), target AUs (B, K) 0..5 and mismatched AUs (B, K); the
    partner's own latent (B, D), AUs (B, K) and uv_z (B, 1, S, S) (the sample itself where it has no partner)."""

    latent: Tensor
    au: Tensor
    uv: Tensor
    swapped: Tensor
    has_partner: Tensor
    target: Tensor
    mismatched: Tensor
    partner: Tensor
    partner_au: Tensor
    partner_uv: Tensor

    def to(self, device: torch.device) -> DecaBatch:
        return DecaBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


class DecaTrainData:
    """Draws seeded batches from a :class:`DecaData` (latents and AUs in memory, uv_z read per batch).

    ``au_gate``: AU readings below this intensity are set to 0 (absent). An AU estimator reads an absent AU as a
    small positive intensity about half the time (its noise clipped at 0), and most AUs are absent in most
    images, so the readings of absent AUs make most of its error; OpenFace's presence (``AUxx_c``) is 1 from
    intensity 1 (docs/findings.md, "Noisy AUs: gate them")."""

    def __init__(self, data: DecaData, au_gate: float = 0.0) -> None:
        self.data = data
        self.latents = torch.from_numpy(np.array(data.latents, np.float32))
        au = torch.from_numpy(data.au.copy())
        self.au = torch.where(au < au_gate, torch.zeros_like(au), au) if au_gate > 0 else au
        ids = data.identity_index()
        self.groups = [np.flatnonzero(ids == i) for i in range(int(ids.max()) + 1)]
        self.group_of = ids
        self.detail = data.parts["detail"]
        self.expression = [data.parts["jaw"], data.parts["exp"]]
        self.code_mean = self.latents.mean(0)
        self.code_std = self.latents.std(0) if len(self.latents) > 1 else torch.zeros_like(self.code_mean)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def has_pairs(self) -> bool:
        """Whether any identity has two or more samples (detail consistency needs pairs)."""
        return any(len(g) > 1 for g in self.groups)

    def perturb_codes(self, latents: list[Tensor], gen: torch.Generator, dropout: float, noise: float
                      ) -> list[Tensor]:
        """The same per-sample perturbation of the expression and jaw codes in each of ``latents`` (B, D): with
        probability ``dropout`` a sample's codes become the data set's mean code, and Gaussian noise of ``noise``
        times each dimension's spread across the data set is added (the detail code is left alone)."""
        if dropout <= 0 and noise <= 0:
            return latents
        b = latents[0].shape[0]
        drop = (torch.rand((b, 1), generator=gen) < dropout).float() if dropout > 0 else None
        eps = torch.randn(latents[0].shape, generator=gen) * self.code_std * noise if noise > 0 else None
        out = []
        for lat in latents:
            lat = lat.clone()
            for part in self.expression:
                if drop is not None:
                    lat[:, part] = drop * self.code_mean[part] + (1 - drop) * lat[:, part]
                if eps is not None:
                    lat[:, part] = lat[:, part] + eps[:, part]
            out.append(lat)
        return out

    def batch(self, idx: Tensor, gen: torch.Generator, target_mode: str = "shuffle", noise: float = 0.0,
              code_dropout: float = 0.0, code_noise: float = 0.0) -> DecaBatch:
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
        partner = self.latents[partners]
        latent, swapped, partner = self.perturb_codes([latent, swapped, partner], gen, code_dropout, code_noise)
        return DecaBatch(latent=latent, au=au, uv=uv, swapped=swapped, has_partner=torch.tensor(has),
                         target=target.clamp(0.0, AU_MAX), mismatched=mismatched, partner=partner,
                         partner_au=self.au[partners],
                         partner_uv=torch.from_numpy(np.array(self.data.uv_z[partners], np.float32)))

    def random_batch(self, size: int, gen: torch.Generator, target_mode: str, noise: float,
                     code_dropout: float = 0.0, code_noise: float = 0.0) -> DecaBatch:
        return self.batch(torch.randint(len(self), (size,), generator=gen), gen, target_mode, noise,
                          code_dropout, code_noise)
