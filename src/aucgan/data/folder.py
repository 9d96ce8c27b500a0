"""Folder data sets: a manifest (CSV or JSON) of map files with AU values; the synthetic benchmark folder.

A manifest has one row (CSV) or object (JSON list) per sample:

- map files: columns ``albedo``, ``displacement``, ``normal``, ``image``, ``mask`` (paths relative to the
  manifest's folder), or one ``path``/``file`` column read as ``image``;
- AU intensities 0..5: columns spelled ``AU12``, ``AU12_r``, ``AU6`` ... (resolved by name with
  :func:`aucgan.au.canonical_au`; presence columns ``AUxx_c`` are ignored);
- optional: ``id``/``sample_id``/``name`` (default: the first map file's stem), ``identity``/``subject``,
  ``split``, attributes ``age`` (years), ``gender`` (0 female .. 1 male, or ``female``/``male``), ``emotion``
  (index into :data:`aucgan.au.EMOTIONS` or its name), ``valence`` (-1..1), and ``landmarks``: a JSON file
  (``{"landmarks": [[x, y] x 68], "units": "unit" | "pixels"}`` or a bare list) or an inline list, in 0..1
  layout coordinates unless ``"units": "pixels"``.

A ``dataset.json`` beside the manifest may give the displacement encoding
``{"displacement": {"scale", "offset"}}`` and the map space, ``{"layout_file": "layout.json"}`` (a layout
JSON file beside it, e.g. FLAME UV: its landmarks are the default of samples without their own, its face
mask bounds the AU footprints; a card's ``layout`` field is only the layout's name). The synthetic
benchmark folder (``dataset.json`` with ``"format": "aucgan-synth"``, ``manifest.csv``, ``maps/``,
``landmarks/``; see ``docs/benchmark.md``) is a manifest with a card that fixes the displacement encoding
and the identity split.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from aucgan.au import AU_NAMES, EMOTIONS, AUError, au_set, canonical_au, check_intensity
from aucgan.data.errors import DataError, open_csv, read_json
from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE
from aucgan.data.sample import SampleMeta
from aucgan.layout.landmarks import Layout, LayoutError, load_layout

MANIFEST_NAMES = ("manifest.csv", "manifest.json")
CARD_NAME = "dataset.json"
LAYOUT_FILE_FIELD = "layout_file"
SYNTH_FORMAT = "aucgan-synth"
SYNTH_FORMAT_VERSIONS = (1,)
MAP_COLUMNS = ("albedo", "displacement", "normal", "image", "mask")
PATH_COLUMNS = ("path", "file")
ID_COLUMNS = ("id", "sample_id", "name")
IDENTITY_COLUMNS = ("identity", "subject")
GENDER_WORDS = {"female": 0.0, "f": 0.0, "woman": 0.0, "male": 1.0, "m": 1.0, "man": 1.0}

_AU_COLUMN_RE = re.compile(r"^AU\s*\d+(_r)?$", re.IGNORECASE)
_PRESENCE_RE = re.compile(r"^AU\s*\d+_c$", re.IGNORECASE)


@dataclass(eq=False)
class FolderData:
    """The samples of a manifest (or synthetic benchmark) and how its displacement maps are encoded."""

    root: Path
    manifest: Path
    au_names: tuple[str, ...]
    samples: list[SampleMeta]
    problems: list[str] = field(default_factory=list)
    disp_scale: float = DEFAULT_DISP_SCALE
    disp_offset: float = DEFAULT_DISP_OFFSET
    card: dict | None = None
    layout: Layout | None = None


def find_manifest(folder: str | Path) -> Path | None:
    """``manifest.csv`` or ``manifest.json`` inside ``folder`` (both present is an error), else None."""
    found = [Path(folder) / n for n in MANIFEST_NAMES if (Path(folder) / n).is_file()]
    if len(found) > 1:
        raise DataError(f"{folder}: both manifest.csv and manifest.json are present; keep one")
    return found[0] if found else None


def is_synth_folder(path: str | Path) -> bool:
    """True when ``path`` holds a ``dataset.json`` whose ``format`` is ``"aucgan-synth"``."""
    card = Path(path) / CARD_NAME
    if not card.is_file():
        return False
    try:
        data = json.loads(card.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("format") == SYNTH_FORMAT


@dataclass(frozen=True)
class _Columns:
    """Which manifest column holds what."""

    id: str | None
    maps: dict[str, str]
    aus: dict[str, str]
    identity: str | None
    split: str | None
    attrs: dict[str, str]
    landmarks: str | None


def _plan_columns(names: Sequence[str], au_names: tuple[str, ...], manifest: Path | str) -> _Columns:
    lower: dict[str, str] = {}
    for n in names:
        key = n.strip().lower()
        if key in lower and not _AU_COLUMN_RE.match(n.strip()):
            raise DataError(f"{manifest}: column {n!r} appears twice")
        lower.setdefault(key, n)

    def first(options: Sequence[str]) -> str | None:
        return next((lower[o] for o in options if o in lower), None)

    maps = {m: lower[m] for m in MAP_COLUMNS if m in lower}
    alias = first(PATH_COLUMNS)
    if alias is not None:
        if "image" in maps:
            raise DataError(f"{manifest}: both {alias!r} and 'image' columns name the image file; keep one")
        maps["image"] = alias
    if not maps:
        looked = ", ".join(MAP_COLUMNS + PATH_COLUMNS)
        raise DataError(f"{manifest}: no map file column (looked for {looked})")
    aus: dict[str, str] = {}
    for n in names:
        text = n.strip()
        if _PRESENCE_RE.match(text) or not _AU_COLUMN_RE.match(text):
            continue
        try:
            code = canonical_au(text)
        except AUError as exc:
            raise DataError(f"{manifest}: column {n!r}: {exc}") from None
        if code in aus:
            raise DataError(f"{manifest}: columns {aus[code]!r} and {n!r} both give {code}; keep one")
        aus[code] = n
    missing = [a for a in au_names if a not in aus]
    if missing:
        raise DataError(f"{manifest}: missing AU column(s) {', '.join(missing)} (found: "
                        f"{', '.join(sorted(aus)) or 'none'}); AU columns are spelled AU12, AU12_r or AU6; "
                        "read fewer AUs with an AU subset (au_names=...)")
    return _Columns(id=first(ID_COLUMNS), maps=maps, aus={a: aus[a] for a in au_names},
                    identity=first(IDENTITY_COLUMNS), split=first(("split",)),
                    attrs={a: lower[a] for a in ("age", "gender", "emotion", "valence") if a in lower},
                    landmarks=first(("landmarks",)))


def _load_rows(manifest: Path) -> tuple[list[str], list[tuple[str, dict[str, Any]]]]:
    """Column names and ``(location, row)`` pairs of a CSV or JSON manifest."""
    if manifest.suffix.lower() == ".json":
        data = read_json(manifest, "manifest")
        if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
            raise DataError(f"{manifest}: a JSON manifest must be a list of objects (one per sample)")
        names: dict[str, None] = {}
        for obj in data:
            names.update(dict.fromkeys(obj))
        return list(names), [(f"{manifest}: item {i}", obj) for i, obj in enumerate(data, start=1)]
    handle = open_csv(manifest, "manifest")
    rows = []
    with handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            header = [h.strip() for h in next(reader)]
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                where = f"{manifest}: line {reader.line_num}"
                if len(row) != len(header):
                    raise DataError(f"{where}: {len(row)} fields, the header has {len(header)}")
                rows.append((where, dict(zip(header, row))))
        except StopIteration:
            raise DataError(f"{manifest}: empty file (expected a header line)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{manifest}: line {reader.line_num}: not readable as CSV ({exc})") from None
    return header, rows


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _number(value: Any, where: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise DataError(f"{where}: {value!r} is not finite")
    return out


def _attribute(name: str, value: Any, where: str) -> float:
    if name == "gender" and isinstance(value, str) and value.strip().lower() in GENDER_WORDS:
        return GENDER_WORDS[value.strip().lower()]
    if name == "emotion" and isinstance(value, str) and value.strip().lower() in EMOTIONS:
        return float(EMOTIONS.index(value.strip().lower()))
    try:
        v = _number(value, where)
    except DataError:
        if name != "emotion":
            raise
        v = -1.0
    if name == "age" and v < 0:
        raise DataError(f"{where}: age {v:g} is negative")
    if name == "gender" and not 0.0 <= v <= 1.0:
        raise DataError(f"{where}: gender {v:g} is outside 0 (female) .. 1 (male)")
    if name == "emotion" and (v != int(v) or not 0 <= v < len(EMOTIONS)):
        raise DataError(f"{where}: emotion {value!r} is neither an index 0..{len(EMOTIONS) - 1} nor one of "
                        f"{', '.join(EMOTIONS)}")
    if name == "valence" and not -1.0 <= v <= 1.0:
        raise DataError(f"{where}: valence {v:g} is outside -1..1")
    return v


class _LandmarkFiles:
    """Landmark JSON files read once each (the synthetic benchmark shares one per identity)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[Path, tuple[np.ndarray, bool]] = {}

    def read(self, value: Any, where: str) -> tuple[np.ndarray, bool]:
        """``(points (68, 2), in_pixels)`` from an inline list, inline JSON text or a JSON file path."""
        if isinstance(value, str) and not value.lstrip().startswith("["):
            path = self.root / value.strip()
            if path not in self.cache:
                self.cache[path] = _landmark_points(read_json(path, "landmarks"), str(path))
            return self.cache[path]
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: inline landmarks are not valid JSON ({exc.msg})") from None
        return _landmark_points(value, where)


def _landmark_points(data: Any, where: str) -> tuple[np.ndarray, bool]:
    units = "unit"
    if isinstance(data, dict):
        units = data.get("units", "unit")
        if units not in ("unit", "pixels"):
            raise DataError(f"{where}: field 'units' must be 'unit' (0..1) or 'pixels', got {units!r}")
        if "landmarks" not in data:
            raise DataError(f"{where}: missing field 'landmarks'")
        data = data["landmarks"]
    try:
        pts = np.asarray(data, dtype=np.float32)
    except (TypeError, ValueError):
        raise DataError(f"{where}: landmarks must be 68 [x, y] pairs of numbers") from None
    if pts.shape != (68, 2):
        raise DataError(f"{where}: expected 68 [x, y] landmarks (iBUG convention), got shape {pts.shape}")
    if not np.isfinite(pts).all():
        raise DataError(f"{where}: landmark {int(np.argwhere(~np.isfinite(pts))[0, 0])} is not finite")
    pixels = units == "pixels"
    if not pixels and ((pts < 0).any() or (pts > 1).any()):
        bad = int(np.argwhere((pts < 0) | (pts > 1))[0, 0])
        raise DataError(f"{where}: landmark {bad} = {pts[bad].tolist()} is outside 0..1 "
                        "(give \"units\": \"pixels\" for pixel coordinates)")
    return pts, pixels


def _parse_row(row: dict[str, Any], where: str, cols: _Columns, root: Path, landmarks: _LandmarkFiles,
               au_names: tuple[str, ...]) -> SampleMeta:
    maps: dict[str, Path] = {}
    for name, col in cols.maps.items():
        text = _text(row.get(col))
        if not text:
            raise DataError(f"{where}, field {col!r}: empty (expected a file path)")
        maps[name] = root / text
    sample_id = _text(row.get(cols.id)) if cols.id else ""
    if not sample_id:
        if cols.id:
            raise DataError(f"{where}, field {cols.id!r}: empty sample id")
        sample_id = next(iter(maps.values())).stem
    au = np.empty(len(au_names), np.float32)
    for k, code in enumerate(au_names):
        col = cols.aus[code]
        value = row.get(col)
        if _text(value) == "":
            raise DataError(f"{where}, field {col!r}: empty (expected an AU intensity 0..5)")
        try:
            au[k] = check_intensity(value, where=f"{where}, field {col!r}")
        except AUError as exc:
            raise DataError(str(exc)) from None
    attrs = {}
    for name, col in cols.attrs.items():
        value = row.get(col)
        if _text(value) != "":
            attrs[name] = _attribute(name, value, f"{where}, field {col!r}")
    lm, lm_px = None, None
    if cols.landmarks and _text(row.get(cols.landmarks)) not in ("", "[]"):
        pts, pixels = landmarks.read(row[cols.landmarks], f"{where}, field {cols.landmarks!r}")
        lm, lm_px = (None, pts) if pixels else (pts, None)
    return SampleMeta(id=sample_id, au=au, maps=maps, identity=_text(row.get(cols.identity)) or None,
                      split=_text(row.get(cols.split)) or None, attrs=attrs, landmarks=lm, landmarks_px=lm_px,
                      source=where)


def _read_rows(manifest: Path, au_names: tuple[str, ...], strict: bool, problems: list[str],
               split_of_identity: dict[str, str] | None = None) -> list[SampleMeta]:
    names, rows = _load_rows(manifest)
    per_item = manifest.suffix.lower() == ".json"  # JSON objects may each spell their keys differently
    plans: dict[tuple[str, ...], _Columns] = {}
    if not per_item:
        plans[tuple(names)] = _plan_columns(names, au_names, manifest)
    root = manifest.parent
    landmarks = _LandmarkFiles(root)
    samples: list[SampleMeta] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        keys = tuple(row) if per_item else tuple(names)
        try:
            if keys not in plans:
                plans[keys] = _plan_columns(keys, au_names, where)
            meta = _parse_row(row, where, plans[keys], root, landmarks, au_names)
            if meta.id in seen:
                raise DataError(f"{where}: sample id {meta.id!r} repeats {seen[meta.id]} (duplicate id)")
            if split_of_identity is not None:
                meta = _synth_split(meta, split_of_identity, where)
        except DataError as exc:
            if strict:
                raise
            problems.append(f"{exc}; row skipped")
            continue
        seen[meta.id] = where.rsplit(": ", 1)[-1]
        samples.append(meta)
    return samples


def _au_names(au_names: Sequence[str], where: Path) -> tuple[str, ...]:
    try:
        return au_set(list(au_names))
    except AUError as exc:
        raise DataError(f"{where}: {exc}") from None


def _displacement_encoding(card: dict, card_path: Path, required: bool) -> tuple[float, float]:
    disp = card.get("displacement")
    if disp is None and not required:
        return DEFAULT_DISP_SCALE, DEFAULT_DISP_OFFSET
    if not isinstance(disp, dict) or "scale" not in disp or "offset" not in disp:
        raise DataError(f"{card_path}: field 'displacement' must be {{\"scale\": float, \"offset\": float}}")
    scale = _number(disp["scale"], f"{card_path}: field 'displacement.scale'")
    offset = _number(disp["offset"], f"{card_path}: field 'displacement.offset'")
    if scale <= 0:
        raise DataError(f"{card_path}: field 'displacement.scale' must be > 0, got {scale:g}")
    return scale, offset


def card_layout(card: dict, card_path: Path) -> Layout | None:
    """The layout of a data set card (field ``layout_file``: a layout JSON relative to the card), else None.
    The card's ``layout`` field, where present, is the layout's name only (``aucgan prepare`` writes it)."""
    name = card.get(LAYOUT_FILE_FIELD)
    if name is None:
        return None
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{card_path}: field {LAYOUT_FILE_FIELD!r} must name a layout JSON file beside the card")
    try:
        return load_layout(card_path.parent / name.strip())
    except LayoutError as exc:
        raise DataError(f"{card_path}: field {LAYOUT_FILE_FIELD!r}: {exc}") from None


def read_manifest(path: str | Path, au_names: Sequence[str] = AU_NAMES, strict: bool = True) -> FolderData:
    """Read a manifest data set: a folder with ``manifest.csv``/``manifest.json``, or the manifest file.

    A malformed row (missing/empty field, NaN or out-of-range AU, bad attribute, duplicate id) raises
    :class:`DataError` naming file, line (CSV) or item (JSON) and field; ``strict=False`` skips it and lists
    it in ``problems``. Missing AU columns are always an error (read an AU subset with ``au_names``).
    """
    path = Path(path)
    manifest = find_manifest(path) if path.is_dir() else path
    if manifest is None:
        raise DataError(f"{path}: no {' or '.join(MANIFEST_NAMES)} in this folder")
    names = _au_names(au_names, manifest)
    card_path = manifest.parent / CARD_NAME
    card, layout = None, None
    scale, offset = DEFAULT_DISP_SCALE, DEFAULT_DISP_OFFSET
    if card_path.is_file():
        card = read_json(card_path, "dataset card")
        if not isinstance(card, dict):
            raise DataError(f"{card_path}: expected a JSON object")
        scale, offset = _displacement_encoding(card, card_path, required=False)
        layout = card_layout(card, card_path)
    problems: list[str] = []
    samples = _read_rows(manifest, names, strict, problems)
    return FolderData(manifest.parent, manifest, names, samples, problems, scale, offset, card, layout)


def _synth_split(meta: SampleMeta, split_of_identity: dict[str, str], where: str) -> SampleMeta:
    if meta.identity is None:
        raise DataError(f"{where}, field 'identity': empty (the synthetic benchmark splits by identity)")
    card_split = split_of_identity.get(meta.identity)
    if card_split is None:
        return meta
    if meta.split is not None and meta.split != card_split:
        raise DataError(f"{where}, field 'split': {meta.split!r} but {CARD_NAME} puts identity "
                        f"{meta.identity!r} in {card_split!r}")
    return meta if meta.split is not None else replace(meta, split=card_split)


def read_synth_folder(folder: str | Path, au_names: Sequence[str] = AU_NAMES,
                      strict: bool = True) -> FolderData:
    """Read a synthetic benchmark folder (format ``aucgan-synth``, version 1): card, manifest, landmarks.

    The card's ``displacement`` scale/offset decode the 16-bit displacement PNGs; its ``splits`` (identity ids
    per split) set each sample's split and must agree with the manifest's ``split`` column; its ``layout``
    (benchmarks rendered in another map space, such as FLAME UV) names the layout file.
    """
    folder = Path(folder)
    card_path = folder / CARD_NAME
    card = read_json(card_path, "dataset card")
    if not isinstance(card, dict) or card.get("format") != SYNTH_FORMAT:
        raise DataError(f"{card_path}: not a synthetic benchmark card (field 'format' must be "
                        f"{SYNTH_FORMAT!r})")
    version = card.get("format_version")
    if version not in SYNTH_FORMAT_VERSIONS:
        readable = ", ".join(map(str, SYNTH_FORMAT_VERSIONS))
        raise DataError(f"{card_path}: field 'format_version' is {version!r}; this aucgan reads {readable} "
                        "(update aucgan or regenerate the data)")
    scale, offset = _displacement_encoding(card, card_path, required=True)
    split_of_identity: dict[str, str] = {}
    splits = card.get("splits", {})
    if not isinstance(splits, dict):
        raise DataError(f"{card_path}: field 'splits' must map a split name to a list of identity ids")
    for split, ids in splits.items():
        if not isinstance(ids, list):
            raise DataError(f"{card_path}: field 'splits.{split}' must be a list of identity ids")
        for ident in ids:
            if str(ident) in split_of_identity:
                raise DataError(f"{card_path}: identity {ident!r} is in both splits "
                                f"{split_of_identity[str(ident)]!r} and {split!r}")
            split_of_identity[str(ident)] = split
    manifest = folder / "manifest.csv"
    names = _au_names(au_names, manifest)
    problems: list[str] = []
    layout = card_layout(card, card_path)
    samples = _read_rows(manifest, names, strict, problems, split_of_identity)
    return FolderData(folder, manifest, names, samples, problems, scale, offset, card, layout)
