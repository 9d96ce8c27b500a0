"""GANimation-style AU data: ``aus_openface.pkl`` + ``imgs/`` + ``train_ids.csv`` / ``test_ids.csv``.

``aus_openface.pkl`` maps an image stem to its 17 OpenFace AU intensities (0..5, in OpenFace order =
:data:`aucgan.au.AU_NAMES`); GANimation's preparation script wrote it with Python 2, so it is read with the
restricted unpickler (:mod:`aucgan.data.safe_pickle`) and ``encoding="latin1"``. The id files list one image
file name per line (with or without extension).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aucgan.au import AU_MAX, AU_MIN, AU_NAMES, AUError, au_indices, au_set
from aucgan.data.errors import DataError
from aucgan.data.openface import IMAGE_EXTENSIONS
from aucgan.data.safe_pickle import load_pickle
from aucgan.data.sample import SampleMeta

AU_FILE = "aus_openface.pkl"
IMAGE_DIR = "imgs"
SPLIT_FILES = {"train": "train_ids.csv", "test": "test_ids.csv"}


@dataclass(frozen=True, eq=False)
class GanimationRecord:
    """One image: stem, AU intensities (``au_names`` order), image file (None if absent), split."""

    stem: str
    au: np.ndarray
    image: Path | None
    split: str | None


@dataclass(eq=False)
class GanimationData:
    """The usable records of a GANimation folder and the problems met while reading it."""

    folder: Path
    au_names: tuple[str, ...]
    records: list[GanimationRecord]
    problems: list[str] = field(default_factory=list)

    def au_matrix(self) -> np.ndarray:
        """(N, K) float32 intensities 0..5."""
        if not self.records:
            return np.zeros((0, len(self.au_names)), np.float32)
        return np.stack([r.au for r in self.records]).astype(np.float32)


def is_ganimation_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding ``aus_openface.pkl``."""
    return (Path(path) / AU_FILE).is_file()


def _read_ids(path: Path) -> list[tuple[int, str]]:
    """(1-based line, stem) of each non-empty line; a first line ``id``/``file``/... is a header."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the id list ({exc})") from None
    out = []
    for number, text in enumerate(lines, start=1):
        name = text.split(",")[0].strip()
        if not name or (number == 1 and name.lower() in ("id", "ids", "file", "filename", "image")):
            continue
        out.append((number, _stem(name)))
    return out


def _stem(name: str) -> str:
    p = Path(name)
    return p.stem if p.suffix.lower() in IMAGE_EXTENSIONS else p.name


def _au_vector(key: str, value, path: Path, columns: list[int]) -> np.ndarray:
    where = f"{path}: entry {key!r}"
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{where}: AU vector is not numeric ({type(value).__name__})") from None
    if arr.shape != (len(AU_NAMES),):
        raise DataError(f"{where}: AU vector has shape {arr.shape}, expected ({len(AU_NAMES)},) "
                        "(the 17 OpenFace AUs in order)")
    for k, v in enumerate(arr):
        if math.isnan(v):
            raise DataError(f"{where}, field {AU_NAMES[k]}: NaN (expected an AU intensity 0..5)")
        if not AU_MIN <= v <= AU_MAX:
            raise DataError(f"{where}, field {AU_NAMES[k]}: {v:g} is outside 0..5")
    return arr[columns].astype(np.float32)


def read_ganimation(folder: str | Path, au_names: Sequence[str] = AU_NAMES,
                    strict: bool = True) -> GanimationData:
    """Read a GANimation folder: AUs from ``aus_openface.pkl``, images from ``imgs/``, splits from id lists.

    Without id lists every AU entry is a sample (split None). With them, the listed ids are the samples.
    An AU vector of the wrong length, with NaN or outside 0..5, or a listed id without an AU entry raises
    :class:`DataError` (file, entry/line, field); with ``strict=False`` it is skipped and reported in
    ``problems``. A missing image is a problem (``image`` None), not an error here: the data set reports it
    when the sample is loaded or its files are checked.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such GANimation folder")
    try:
        names = au_set(list(au_names))
        columns = au_indices(names, AU_NAMES)
    except AUError as exc:
        raise DataError(f"{folder}: {exc}") from None
    pkl = folder / AU_FILE
    table = load_pickle(pkl, encoding="latin1")
    if not isinstance(table, dict):
        raise DataError(f"{pkl}: expected a dict of image stem -> 17 AU intensities, got "
                        f"{type(table).__name__}")
    problems: list[str] = []

    def fail(message: str) -> None:
        if strict:
            raise DataError(message)
        problems.append(f"{message}; skipped")

    aus: dict[str, np.ndarray] = {}
    for key, value in table.items():
        stem = _stem(key.decode("latin1") if isinstance(key, bytes) else str(key))
        try:
            vec = _au_vector(stem, value, pkl, columns)
        except DataError as exc:
            fail(str(exc))
            continue
        if stem in aus:
            fail(f"{pkl}: entry {stem!r} appears twice (duplicate id)")
            continue
        aus[stem] = vec

    image_dir = folder / IMAGE_DIR
    images: dict[str, Path] = {}
    if image_dir.is_dir():
        for p in sorted(image_dir.iterdir()):
            if p.suffix.lower() in IMAGE_EXTENSIONS and p.stem not in images:
                images[p.stem] = p
    else:
        problems.append(f"{folder}: no {IMAGE_DIR}/ folder: no sample has an image")

    split_of: dict[str, str] = {}
    order: list[str] = []
    for split, name in SPLIT_FILES.items():
        ids_path = folder / name
        if not ids_path.is_file():
            continue
        for line, stem in _read_ids(ids_path):
            if stem in split_of:
                fail(f"{ids_path}: line {line}: id {stem!r} is already listed in "
                     f"{SPLIT_FILES[split_of[stem]]} (duplicate id)")
                continue
            if stem not in aus:
                fail(f"{ids_path}: line {line}: id {stem!r} has no AU entry in {AU_FILE}")
                continue
            split_of[stem] = split
            order.append(stem)
    if not split_of:
        order = list(aus)
    missing_images = [s for s in order if s not in images]
    if missing_images and image_dir.is_dir():
        problems.append(f"{image_dir}: {len(missing_images)} sample(s) have no image (first: "
                        f"{', '.join(missing_images[:3])})")
    records = [GanimationRecord(stem, aus[stem], images.get(stem), split_of.get(stem)) for stem in order]
    return GanimationData(folder, names, records, problems)


def ganimation_samples(folder: Path, au_names: Sequence[str], strict: bool = True
                       ) -> tuple[list[SampleMeta], list[str]]:
    """The samples of a GANimation folder (AU pickle + images + optional id lists) and the problems noticed."""
    data = read_ganimation(folder, au_names, strict=strict)
    samples = []
    for rec in data.records:
        missing = None if rec.image is not None else f"{folder / IMAGE_DIR}: no image named {rec.stem}.*"
        maps = {} if rec.image is None else {"image": rec.image}
        samples.append(SampleMeta(id=rec.stem, au=rec.au, maps=maps, split=rec.split,
                                  source=f"{folder / AU_FILE}: entry {rec.stem!r}",
                                  missing=missing))
    return samples, list(data.problems)
