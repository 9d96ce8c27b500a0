"""In-memory training data: stacked map tensors, AU vectors, footprints and edit targets.

GAN training on face-map sets of a few thousand samples is fastest when the whole set sits in memory
as tensors and batches are drawn by index with a seeded generator (no DataLoader workers needed).
Footprints are computed once per distinct landmark set (one per identity on the synthetic benchmark), in
the data set's layout (``dataset.layout``: its landmarks are the default, its face mask bounds them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aucgan.au import EMOTIONS, PROTOTYPES, au_indices, to_unit
from aucgan.data.batch import Batch
from aucgan.data.codec import MapCodec
from aucgan.data.conditions import EXPRESSION_ATTRS, extra_slices, extras_of_items, ordered_attrs
from aucgan.data.synth.expression import EMOTION_VALENCE
from aucgan.errors import AucganError
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import canonical_layout

TARGET_MODES = ("shuffle", "prototype", "mixed")


class TrainData:
    """A map data set held as tensors, with seeded batch, target and identity-pair sampling."""

    def __init__(self, dataset, codec: MapCodec, au_names: Sequence[str], size: int,
                 extra_attrs: Sequence[str] = ()) -> None:
        n = len(dataset)
        if n < 2:
            raise AucganError(f"training needs at least 2 samples, the data set has {n}")
        self.codec, self.au_names, self.size = codec, tuple(au_names), size
        self.layout = getattr(dataset, "layout", None)          # the data set's map space (None: built-in)
        default = torch.as_tensor((self.layout or canonical_layout()).landmarks)
        items = [dataset[i] for i in range(n)]
        self.ids = [it["id"] for it in items]
        self.extra_attrs = ordered_attrs(extra_attrs)
        self.extra = extras_of_items(items, self.extra_attrs, default_landmarks=default)   # (N, D) or None
        self.x = torch.stack([codec.encode(it["maps"]) for it in items]).contiguous()
        if tuple(self.x.shape[-2:]) != (size, size):
            self.x = torch.nn.functional.interpolate(self.x, size=(size, size), mode="bilinear", align_corners=False)
        self.mask = None  # (N, 1, S, S) from "mask" maps (aucgan prepare writes photo visibility), else None
        if any("mask" in it["maps"] for it in items):
            ones = torch.ones(1, *self.x.shape[-2:])
            masks = [it["maps"]["mask"].float()[:1] if "mask" in it["maps"] else ones for it in items]
            self.mask = torch.stack([torch.nn.functional.interpolate(m[None], size=(size, size), mode="bilinear",
                                                                     align_corners=False)[0] for m in masks])
        self.au = to_unit(torch.stack([torch.as_tensor(it["au"], dtype=torch.float32) for it in items]))
        if self.au.shape[1] != len(self.au_names):
            raise AucganError(f"the data has {self.au.shape[1]} AUs, the model expects {len(self.au_names)}")
        lms = torch.stack([torch.as_tensor(it["landmarks"]) if "landmarks" in it else default for it in items])
        uniq, self.layout_index = torch.unique(lms.reshape(n, -1), dim=0, return_inverse=True)
        mask = None if self.layout is None else self.layout.mask_image
        self.footprints = au_footprints(uniq.reshape(-1, 68, 2), (size, size), self.au_names, mask=mask).float()
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

    def distance_quantile(self, q: float, pairs: int = 4096) -> float:
        """The ``q``-quantile of the unit-scale L1 AU distance between random pairs of distinct samples (a fixed
        seed: the same data gives the same threshold)."""
        g = torch.Generator().manual_seed(12345)
        a = torch.randint(len(self), (pairs,), generator=g)
        b = (a + torch.randint(1, len(self), (pairs,), generator=g)) % len(self)
        return float(torch.quantile((self.au[a] - self.au[b]).abs().sum(1), q))

    def far_mismatch(self, index: torch.Tensor, gen: torch.Generator, min_distance: float,
                     tries: int = 8) -> torch.Tensor:
        """AUs of other samples at least ``min_distance`` (unit-scale L1) from each sample's own: the first of
        ``tries`` random candidates that is far enough, else the farthest candidate."""
        cand = (index[:, None] + torch.randint(1, len(self), (index.shape[0], tries), generator=gen)) % len(self)
        dist = (self.au[cand] - self.au[index][:, None]).abs().sum(-1)              # (B, tries)
        far = dist >= min_distance
        first = torch.where(far.any(1), far.float().argmax(1), dist.argmax(1))
        return self.au[cand[torch.arange(index.shape[0]), first]]

    @property
    def num_identities(self) -> int:
        return len(self._same_identity)

    def _targets(self, au: torch.Tensor, gen: torch.Generator, mode: str, prototype_prob: float,
                 noise: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Targets and, with extra conditions, the targets' extras (expression attributes from the sample or
        emotion prototype the target AUs came from)."""
        if mode not in TARGET_MODES:
            raise AucganError(f"unknown target_mode {mode!r}; valid: {', '.join(TARGET_MODES)}")
        b = au.shape[0]
        other_index = torch.randint(len(self), (b,), generator=gen)
        other = self.au[other_index]
        proto_index = torch.randint(len(self.prototypes), (b,), generator=gen)
        proto_rows = self.prototypes[proto_index]
        strength = 0.2 + 0.8 * torch.rand(b, 1, generator=gen)
        proto = proto_rows * strength * (0.7 + 0.3 * torch.rand(b, proto_rows.shape[1], generator=gen))
        if mode == "shuffle":
            target, pick = other, torch.zeros(b, 1, dtype=torch.bool)
        elif mode == "prototype":
            target, pick = proto, torch.ones(b, 1, dtype=torch.bool)
        else:
            pick = torch.rand(b, 1, generator=gen) < prototype_prob
            target = torch.where(pick, proto, other)
        if noise > 0:
            target = target + noise * torch.randn(target.shape, generator=gen) * (target > 0)
        return target.clamp(0.0, 1.0), self._expression_extra(other_index, proto_index, strength, pick)

    def _expression_extra(self, other_index: torch.Tensor, proto_index: torch.Tensor, strength: torch.Tensor,
                          pick: torch.Tensor) -> torch.Tensor | None:
        """Expression attributes of the targets: those of the sample ``other_index`` or of the prototype
        ``proto_index`` (its emotion; valence = the emotion's typical valence x strength) where ``pick``."""
        if self.extra is None:
            return None
        out = self.extra[other_index].clone()
        slices = extra_slices(self.extra_attrs)
        proto = out.clone()
        if "emotion" in slices:
            proto[:, slices["emotion"]] = torch.nn.functional.one_hot(proto_index, len(EMOTIONS)).float()
        if "valence" in slices:
            typical = torch.tensor([EMOTION_VALENCE[e] for e in EMOTIONS])
            proto[:, slices["valence"]] = (typical[proto_index] * strength[:, 0])[:, None]
        return torch.where(pick, proto, out)

    def target_extra(self, index: torch.Tensor, expression: torch.Tensor | None) -> torch.Tensor | None:
        """Extras of edits of samples ``index``: identity attributes of the source, expression attributes
        (emotion, valence) from ``expression`` (B, D) rows."""
        if self.extra is None or expression is None:
            return None
        out = self.extra[index].clone()
        for name, sl in extra_slices(self.extra_attrs).items():
            if name in EXPRESSION_ATTRS:
                out[:, sl] = expression[:, sl]
        return out

    def batch(self, index: torch.Tensor, gen: torch.Generator, mode: str = "mixed", prototype_prob: float = 0.3,
              noise: float = 0.1, pair_identity: bool = True, mismatch_distance: float = 0.0) -> Batch:
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
        if mismatch_distance > 0:
            mismatch = self.far_mismatch(index, gen, mismatch_distance)
        else:
            shift = torch.randint(1, len(self), (index.shape[0],), generator=gen)
            mismatch = self.au[(index + shift) % len(self)]
        target, expression = self._targets(au, gen, mode, prototype_prob, noise)
        return Batch(
            x=self.x[index], au=au, fp=self.footprints[self.layout_index[index]],
            target=target, x_pair=self.x[pair], au_pair=self.au[pair], mismatch=mismatch, index=index,
            extra=None if self.extra is None else self.extra[index],
            extra_pair=None if self.extra is None else self.extra[pair],
            target_extra=self.target_extra(index, expression),
            mask=None if self.mask is None else self.mask[index],
        )

    def repeat_factors(self, threshold: float, present: float = 0.2) -> torch.Tensor:
        """(N,) sampling weights of LVIS's repeat-factor sampling (Gupta et al. 2019) over AUs.

        An AU present (unit intensity >= ``present``: 1 of 5, OpenFace's presence level) in a share ``f`` of the
        samples has factor ``max(1, sqrt(threshold / f))``; a sample takes the largest factor of its present AUs
        (1 with none). So an AU in 3 % of the images, as AU25 in the benchmark, is drawn about three times as
        often at ``threshold`` 0.25 while AUs in a quarter of the images keep their rate, and the paired term
        sees the rare AUs' edits more often (on the benchmark AU14 gained from it, AU25 and AU45 did not:
        docs/findings.md, "A second seed at the full budget, rare AUs").
        """
        if not 0.0 < threshold <= 1.0:
            raise AucganError(f"repeat-factor threshold must be in (0, 1], got {threshold}")
        on = self.au >= present
        freq = on.float().mean(dim=0)
        factor = (threshold / freq.clamp_min(1e-12)).sqrt().clamp_min(1.0)    # an AU never present repeats nothing
        return torch.where(on, factor, torch.ones_like(factor)).amax(dim=1)

    def random_batch(self, batch_size: int, gen: torch.Generator, weights: torch.Tensor | None = None,
                     **kwargs) -> Batch:
        """A batch of ``batch_size`` samples drawn uniformly, or in proportion to ``weights`` (N,)."""
        if weights is None:
            index = torch.randint(len(self), (batch_size,), generator=gen)
        else:
            index = torch.multinomial(weights, batch_size, replacement=True, generator=gen)
        return self.batch(index, gen, **kwargs)
