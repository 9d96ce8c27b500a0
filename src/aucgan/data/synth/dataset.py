"""The synthetic benchmark as an on-the-fly torch Dataset, and the identity split shared with the writer."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import replace

import torch

from aucgan.data.sample import Sample
from aucgan.data.synth.config import STREAM_SPLIT, SynthConfig, SynthError, mix_seed
from aucgan.data.synth.expression import sample_expressions
from aucgan.data.synth.identity import IdentityBatch, identity_name, make_identities
from aucgan.data.synth.render import render
from aucgan.layout.landmarks import Layout

SPLITS = ("train", "test")


def sample_name(identity: int, expression: int) -> str:
    """The sample id used in datasets: ``id0003_e0012``."""
    return f"{identity_name(identity)}_e{int(expression):04d}"


def identity_expressions(seed: int, identity: int, n: int, start: int = 0) -> dict[str, torch.Tensor]:
    """Expressions ``start .. start + n - 1`` of identity ``identity``: its own stream, independent of the
    other identities (and of how many expressions are drawn)."""
    return sample_expressions(n, mix_seed(seed, identity), start=start)


def split_identities(identities: int, seed: int, test_fraction: float) -> dict[str, list[int]]:
    """Split identity indices ``0 .. identities - 1`` into ``train`` and ``test`` (by identity, seeded).

    ``round(test_fraction * identities)`` identities go to test (at least one, and at least one left for
    train, when ``test_fraction > 0`` and there are two or more); they are those with the smallest
    per-identity hash, so an identity's split rarely changes when more identities are generated.
    """
    if not 0.0 <= test_fraction < 1.0:
        raise SynthError(f"test fraction must be in [0, 1), got {test_fraction}")
    if identities < 1:
        raise SynthError(f"need at least one identity, got {identities}")
    n_test = round(test_fraction * identities)
    if test_fraction > 0 and identities >= 2:
        n_test = min(max(n_test, 1), identities - 1)
    else:
        n_test = 0
    order = sorted(range(identities), key=lambda i: mix_seed(seed, i, STREAM_SPLIT))
    test = sorted(order[:n_test])
    return {"train": [i for i in range(identities) if i not in set(test)], "test": test}


class SyntheticDataset(torch.utils.data.Dataset):
    """The benchmark rendered on the fly: item ``n`` is expression ``n % M`` of the ``n // M``-th identity of
    the split; the same (seed, identity, expression) gives the same maps as :func:`write_dataset` renders.

    Items are :meth:`aucgan.data.sample.Sample.to_dict` dicts: ``id``, ``identity``, ``maps`` (``albedo``,
    ``displacement`` and, if asked, ``normal`` encoded in [0, 1]), ``au`` (17,), ``attrs`` (``age``,
    ``gender``, ``emotion``, ``valence``) and ``landmarks`` (68, 2). Recently used identities are cached.
    """

    def __init__(self, identities: int, expressions_per_identity: int, size: int = 128, seed: int = 0,
                 split: str | None = None, test_fraction: float = 0.2, config: SynthConfig | None = None,
                 maps: Sequence[str] = ("albedo", "displacement"), cache_identities: int = 8) -> None:
        if expressions_per_identity < 1:
            raise SynthError(f"need at least one expression per identity, got {expressions_per_identity}")
        if split is not None and split not in SPLITS:
            raise SynthError(f"unknown split {split!r}; valid: {', '.join(SPLITS)} (or None for all)")
        unknown = [m for m in maps if m not in ("albedo", "displacement", "normal")]
        if unknown:
            raise SynthError(f"unknown map(s) {unknown}; valid: albedo, displacement, normal")
        self.config = replace(config or SynthConfig(), size=size)
        self.seed = int(seed)
        self.expressions = int(expressions_per_identity)
        self.maps = tuple(maps)
        splits = split_identities(identities, seed, test_fraction)
        self.split_of = {i: name for name, ids in splits.items() for i in ids}
        self.identity_ids = list(range(identities)) if split is None else splits[split]
        self._cache: OrderedDict[int, IdentityBatch] = OrderedDict()
        self._cache_size = max(1, int(cache_identities))

    def __len__(self) -> int:
        return len(self.identity_ids) * self.expressions

    @property
    def layout(self) -> Layout | None:
        """The map space the identities are rendered in (``config.layout``; None: the built-in layout)."""
        return self.config.layout

    def identity(self, index: int) -> IdentityBatch:
        """The one-identity batch of identity ``index`` (cached)."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        batch = make_identities([index], self.seed, self.config)
        self._cache[index] = batch
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return batch

    def __getitem__(self, n: int) -> dict:
        if not -len(self) <= n < len(self):
            raise IndexError(f"index {n} out of range for {len(self)} samples")
        n %= len(self)
        ident, j = self.identity_ids[n // self.expressions], n % self.expressions
        ex = identity_expressions(self.seed, ident, 1, start=j)
        batch = self.identity(ident)
        out = render(batch, ex["au"], ex["emotion"], ex["valence"])
        maps = {"albedo": out["albedo"][0], "displacement": out["displacement"][0],
                "normal": (out["normal"][0] + 1.0) * 0.5}
        p = batch.params[0]
        sample = Sample(
            id=sample_name(ident, j), maps={k: maps[k] for k in self.maps}, au=ex["au"][0], identity=p.name,
            split=self.split_of[ident],
            attrs={"age": p.age, "gender": p.gender, "emotion": int(ex["emotion"][0]),
                   "valence": float(ex["valence"][0])},
            landmarks=out["landmarks"][0],
        )
        return sample.to_dict()
