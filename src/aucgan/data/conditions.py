"""Extra conditions: sample attributes turned into the ``extra`` vector that G and D take beside the AUs.

``generator.extra_attrs`` names them; each becomes a fixed slice of ``extra`` (config order, except that
``landmarks`` always comes last):

=============  =====  ===========================================================================
``age``        1      years / 100
``gender``     1      0 (female) .. 1 (male)
``emotion``    7      one-hot over :data:`aucgan.au.EMOTIONS` (from an index or a name)
``valence``    1      -1 .. 1
``landmarks``  136    the 68 layout landmarks (x0, y0, x1, y1, ...) in 0..1; the generator renders them as
                      5 heatmap channels beside its input maps (GC-GAN style, :mod:`aucgan.layout.heatmaps`)
=============  =====  ===========================================================================

All go through the same conditioning layers as the AUs (``c = [au, extra]``). A data set that lacks an
attribute a model needs raises :class:`MissingAttributeError` naming the attribute and the sample; samples
without landmarks use the canonical layout's (as the footprints do).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from aucgan.au import EMOTIONS
from aucgan.data.sample import ATTRIBUTES
from aucgan.errors import AucganError
from aucgan.layout.heatmaps import LANDMARK_DIM
from aucgan.layout.landmarks import canonical_layout

#: Attribute name -> number of values it takes in ``extra``.
EXTRA_ATTRS: dict[str, int] = {"age": 1, "gender": 1, "emotion": len(EMOTIONS), "valence": 1,
                               "landmarks": LANDMARK_DIM}
AGE_SCALE = 100.0


class MissingAttributeError(AucganError):
    """A model conditions on an attribute that a sample (or an edit request) does not provide."""


def ordered_attrs(attrs: Sequence[str]) -> tuple[str, ...]:
    """The attributes in ``extra`` order (config order, ``landmarks`` last), checked against :data:`EXTRA_ATTRS`."""
    attrs = tuple(attrs)
    unknown = [a for a in attrs if a not in EXTRA_ATTRS]
    if unknown:
        raise AucganError(f"generator.extra_attrs: unknown attribute(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(EXTRA_ATTRS)}")
    if len(set(attrs)) != len(attrs):
        raise AucganError(f"generator.extra_attrs: attributes must be distinct, got {list(attrs)}")
    return tuple(a for a in attrs if a != "landmarks") + (("landmarks",) if "landmarks" in attrs else ())


def extra_dim(attrs: Sequence[str]) -> int:
    """Length of the ``extra`` vector for these attributes."""
    return sum(EXTRA_ATTRS[a] for a in ordered_attrs(attrs))


def extra_slices(attrs: Sequence[str]) -> dict[str, slice]:
    """Where each attribute sits in ``extra``."""
    out, start = {}, 0
    for a in ordered_attrs(attrs):
        out[a] = slice(start, start + EXTRA_ATTRS[a])
        start += EXTRA_ATTRS[a]
    return out


def _scalar(value: Any) -> float:
    return float(value.item() if isinstance(value, torch.Tensor) else value)


def encode_attr(name: str, value: Any, where: str = "attribute") -> list[float]:
    """The ``extra`` values of one attribute (see the module table)."""
    if name == "age":
        return [_scalar(value) / AGE_SCALE]
    if name in ("gender", "valence"):
        return [_scalar(value)]
    if name == "emotion":
        if isinstance(value, str):
            if value.lower() not in EMOTIONS:
                raise AucganError(f"{where}: unknown emotion {value!r}; valid: {', '.join(EMOTIONS)}")
            index = EMOTIONS.index(value.lower())
        else:
            v = _scalar(value)
            if v != int(v) or not 0 <= v < len(EMOTIONS):
                raise AucganError(f"{where}: emotion {v:g} is not an index 0..{len(EMOTIONS) - 1}")
            index = int(v)
        return [1.0 if i == index else 0.0 for i in range(len(EMOTIONS))]
    if name == "landmarks":
        lm = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, np.float32)
        if lm.size != LANDMARK_DIM:
            raise AucganError(f"{where}: landmarks must be 68x2 layout coordinates, got shape {lm.shape}")
        return lm.reshape(-1).tolist()
    raise AucganError(f"unknown attribute {name!r}; valid: {', '.join(EXTRA_ATTRS)}")


def extra_vector(attrs: Sequence[str], values: Mapping[str, Any], where: str = "sample") -> torch.Tensor:
    """The ``extra`` vector (D,) from attribute ``values`` (``landmarks`` defaults to the canonical layout's)."""
    out: list[float] = []
    for name in ordered_attrs(attrs):
        value = values.get(name)
        if value is None and name == "landmarks":
            value = canonical_layout().landmarks
        if value is None:
            raise MissingAttributeError(f"{where}: the model conditions on {name!r} but the data has no {name!r} "
                                        f"(attributes present: {', '.join(sorted(values)) or 'none'}); name only "
                                        "what the data has in generator.extra_attrs (--set generator.extra_attrs=[] "
                                        "trains on AUs alone)")
        out += encode_attr(name, value, f"{where}, attribute {name!r}")
    return torch.tensor(out, dtype=torch.float32)


def extras_of_items(items: Sequence[Mapping[str, Any]], attrs: Sequence[str],
                    default_landmarks: Any = None) -> torch.Tensor | None:
    """``extra`` (N, D) for data set items (dicts with ``attrs`` and optional ``landmarks``; items without
    them take ``default_landmarks``, the data set layout's, else the canonical layout's); None without attrs."""
    if not attrs:
        return None
    rows = []
    for it in items:
        values = dict(it.get("attrs") or {})
        if "landmarks" in it:
            values["landmarks"] = it["landmarks"]
        elif default_landmarks is not None:
            values["landmarks"] = default_landmarks
        rows.append(extra_vector(attrs, values, f"sample {it.get('id', '?')}"))
    return torch.stack(rows)


#: Attributes that describe the expression rather than the person: an edit takes them from its target.
EXPRESSION_ATTRS = ("emotion", "valence")


def parse_attrs(spec: str) -> dict[str, float]:
    """``"emotion=happiness,valence=0.8"`` -> ``{"emotion": 1.0, "valence": 0.8}`` (emotions by name or index):
    the ``--attr`` option of ``generate`` and ``export-maps``."""
    out: dict[str, float] = {}
    for item in (p for p in spec.replace(";", ",").split(",") if p.strip()):
        key, _, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if key not in ATTRIBUTES or not value:
            raise AucganError(f"--attr {item!r}: expected NAME=VALUE with NAME one of {', '.join(ATTRIBUTES)}")
        if key == "emotion" and value in EMOTIONS:
            out[key] = float(EMOTIONS.index(value))
            continue
        try:
            out[key] = float(value)
        except ValueError:
            hint = f" or an emotion name ({', '.join(EMOTIONS)})" if key == "emotion" else ""
            raise AucganError(f"--attr {item!r}: {key} must be a number{hint}") from None
    return out
