"""In-memory training data: stacked map tensors, AU vectors, footprints and edit targets.

GAN training on face-map sets of a few thousand samples is fastest when the whole set sits in memory
as tensors and batches are drawn by index with a seeded generator (no DataLoader workers needed).
Footprints are computed once per distinct landmark set (one per identity on the synthetic benchmark).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from aucgan.au import PROTOTYPES, au_indices
from aucgan.data.codec import MapCodec
from aucgan.errors import AucganError
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import canonical_layout

TARGET_MODES = ("shuffle", "prototype", "mixed")


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

    def to(self, device: torch.device) -> Batch:
        return Batch(**{k: v.to(device, non_blocking=True) for k, v in self.__dict__.items()})


class TrainData:
    """A map data set held as tensors, with seeded batch, target and identity-pair sampling."""

    def __init__(self, dataset, codec: MapCodec, au_names: Sequence[str], size: int) -> None:
        n = len(dataset)
        if n < 2:
            raise AucganError(f"training needs at least 2 samples, the data set has {n}")
        self.codec, self.au_names, self.size = codec, tuple(au_names), size
        items = [dataset[i] for i in range(n)]
        self.ids = [it["id"] for it in items]
        self.x = torch.stack([codec.encode(it["maps"]) for it in items]).contiguous()
        if tuple(self.x.shape[-2:]) != (size, size):
            self.x = torch.nn.functional.interpolate(self.x, size=(size, size), mode="bilinear", align_corners=False)
        self.au = torch.stack([torch.as_tensor(it["au"], dtype=torch.float32) for it in items]) / 5.0
        if self.au.shape[1] != len(self.au_names):
            raise AucganError(f"the data has {self.au.shape[1]} AUs, the model expects {len(self.au_names)}")
        default = torch.as_tensor(canonical_layout().landmarks)
        lms = torch.stack([torch.as_tensor(it["landmarks"]) if "landmarks" in it else default for it in items])
        uniq, self.layout_index = torch.unique(lms.reshape(n, -1), dim=0, return_inverse=True)
        self.footprints = au_footprints(uniq.reshape(-1, 68, 2), (size, size), self.au_names).float()
        ident = [it.get("identity") or it["id"] for it in items]
        names = sorted(set(ident))
        self.identity = torch.tensor([names.index(i) for i in ident])
        self._same_identity = [torch.nonzero(self.identity == k).flatten() for k in range(len(names))]
        self.prototypes = torch.zeros(len(PROTOTYPES), len(self.au_names))
        for row, codes in enumerate(PROTOTYPES.values()):
            known = [c for c in codes if c in self.au_names]
            if known:
                self.prototypes[row, au_indices(known, self.au_names)] = 1.0

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def num_identities(self) -> int:
        return len(self._same_identity)

    def sample_targets(self, au: torch.Tensor, gen: torch.Generator, mode: str, prototype_prob: float,
                       noise: float) -> torch.Tensor:
        """Edit targets (unit scale): AUs of other samples, emotion prototypes at random intensities, or a mix."""
        if mode not in TARGET_MODES:
            raise AucganError(f"unknown target_mode {mode!r}; valid: {', '.join(TARGET_MODES)}")
        b = au.shape[0]
        other = self.au[torch.randint(len(self), (b,), generator=gen)]
        proto_rows = self.prototypes[torch.randint(len(self.prototypes), (b,), generator=gen)]
        proto = proto_rows * (0.2 + 0.8 * torch.rand(b, 1, generator=gen)) * (
            0.7 + 0.3 * torch.rand(b, proto_rows.shape[1], generator=gen))
        if mode == "shuffle":
            target = other
        elif mode == "prototype":
            target = proto
        else:
            pick = torch.rand(b, 1, generator=gen) < prototype_prob
            target = torch.where(pick, proto, other)
        if noise > 0:
            target = target + noise * torch.randn(target.shape, generator=gen) * (target > 0)
        return target.clamp(0.0, 1.0)

    def batch(self, index: torch.Tensor, gen: torch.Generator, mode: str = "mixed", prototype_prob: float = 0.3,
              noise: float = 0.1, pair_identity: bool = True) -> Batch:
        """Assemble the batch of samples ``index`` with targets, identity pairs and mismatched AUs."""
        au = self.au[index]
        if pair_identity:
            pairs = []
            for i in index.tolist():
                same = self._same_identity[int(self.identity[i])]
                pairs.append(int(same[torch.randint(len(same), (1,), generator=gen)]))
            pair = torch.tensor(pairs)
        else:
            pair = index
        shift = torch.randint(1, len(self), (index.shape[0],), generator=gen)
        mismatch = self.au[(index + shift) % len(self)]
        return Batch(
            x=self.x[index], au=au, fp=self.footprints[self.layout_index[index]],
            target=self.sample_targets(au, gen, mode, prototype_prob, noise),
            x_pair=self.x[pair], au_pair=self.au[pair], mismatch=mismatch, index=index,
        )

    def random_batch(self, batch_size: int, gen: torch.Generator, **kwargs) -> Batch:
        return self.batch(torch.randint(len(self), (batch_size,), generator=gen), gen, **kwargs)
