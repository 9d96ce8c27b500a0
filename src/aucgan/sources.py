"""Where an edit's source comes from: a sample of a data set, or a map set on disk found by its file names.

A map set on disk is files named ``PREFIX_<map>.<ext>`` with ``<map>`` one of :data:`MAP_SUFFIXES`
(``face_albedo.png``, ``face_displacement.png``); naming one file finds its siblings. ``aucgan generate`` and
``aucgan export-maps`` read their ``--source`` here; the browser editor names uploaded files by the same table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aucgan.errors import AucganError
from aucgan.layout.landmarks import Layout

#: The maps a file name may end in (``NAME_<map>.png``), as written by ``generate`` and ``export-maps``.
MAP_SUFFIXES: tuple[str, ...] = ("albedo", "displacement", "normal", "image")


def map_name(stem: str) -> str | None:
    """The map a file stem names (``x_albedo`` -> ``albedo``), or None."""
    return next((s for s in MAP_SUFFIXES if stem.endswith("_" + s)), None)


@dataclass
class EditSource:
    """The source of an edit: its maps (CxHxW, natural units), its AUs (0..5, model order; None when
    unknown: neutral), landmarks (None: the model's layout), attributes and a description of its layout."""

    maps: dict[str, torch.Tensor]
    au: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    attrs: dict[str, float] = field(default_factory=dict)
    layout_name: str = "canonical"


def load_map_files(path: str | Path, maps: Sequence[str]) -> dict[str, torch.Tensor]:
    """The maps ``maps`` of the map set that file ``path`` belongs to (``x_albedo.png`` finds
    ``x_displacement.png`` beside it); the displacement as layout units, colour maps in [0, 1]."""
    from aucgan.data.mapio import load_displacement, load_rgb

    path = Path(path)
    if not path.is_file():
        raise AucganError(f"--source {path}: not a sample id of --data and not a file")
    name = map_name(path.stem)
    if name is None:
        raise AucganError(f"--source {path}: name must end in _albedo/_displacement/_normal/_image (.png)")
    prefix = path.stem[: -len(name) - 1]
    out = {}
    for m in maps:
        f = path.with_name(f"{prefix}_{m}{path.suffix}")
        if not f.is_file():
            raise AucganError(f"the model needs map {m!r}: expected {f}")
        out[m] = load_displacement(f) if m == "displacement" else load_rgb(f)
    return out


def load_source(source: str, maps: Sequence[str], au_names: Sequence[str], size: int, data: str | Path | None = None,
                source_au: str | None = None, layout: str | Path | None = None,
                run_layout: Layout | None = None) -> EditSource:
    """The source of an edit: sample ``source`` of data set ``data`` (read at ``size`` px with its own AUs,
    landmarks and attributes), or the map files ``source`` names (with AUs from the spec ``source_au``, e.g.
    ``"AU12=2"``, and landmarks from the layout JSON ``layout``, else those of the model's ``run_layout``, else
    the built-in layout's). ``maps`` are the maps the model reads."""
    from aucgan.au import au_vector, parse_au_spec
    from aucgan.layout.landmarks import load_layout

    if data and not Path(source).is_file():
        from aucgan.data.datasets import open_dataset

        ds = open_dataset(data, size=(size, size), au_names=au_names)
        item = ds.get_by_id(source)
        name = "synthetic" if ds.kind == "synth" else f"{ds.kind} data set"
        if ds.layout is not None:
            name += f" in layout {ds.layout.name!r}"
        return EditSource(maps={k: v for k, v in item["maps"].items() if k in maps},
                          au=np.asarray(item["au"], np.float32), landmarks=item.get("landmarks"),
                          attrs={k: float(v) for k, v in item.get("attrs", {}).items()}, layout_name=name)
    out = EditSource(maps=load_map_files(source, maps),
                     layout_name="canonical" if run_layout is None else f"run layout {run_layout.name!r}")
    if source_au:
        out.au = au_vector(parse_au_spec(source_au), au_names)
    if layout:
        out.landmarks, out.layout_name = load_layout(layout).landmarks, f"user layout {layout}"
    return out
