"""One data set type for every source: OpenFace CSVs, GANimation folders, manifests, the synthetic benchmark.

:func:`open_dataset` recognises the kind of a path and returns a :class:`MapDataset`, a torch ``Dataset``
whose items are :meth:`aucgan.data.sample.Sample.to_dict` dicts. Annotations (AUs, identities, splits,
attributes, landmarks) are read when the data set is opened, so ``au_matrix()``/``identities()`` need no image
decoding; images are decoded when an item is asked for (or all at once with ``preload=True``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from aucgan.au import AU_NAMES, AUError, au_set
from aucgan.data.errors import DataError
from aucgan.data.folder import MANIFEST_NAMES, find_manifest, is_synth_folder, read_manifest, read_synth_folder
from aucgan.data.ganimation import AU_FILE, ganimation_samples, is_ganimation_folder
from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE, MapIOError, load_displacement, load_rgb
from aucgan.data.openface import looks_like_openface_csv, openface_samples
from aucgan.data.sample import Sample, SampleMeta
from aucgan.layout.landmarks import Layout

LANDMARK_TOLERANCE = 0.02  # normalised landmarks may overshoot their image by this much (then clipped)


def _header_hw(path: Path) -> tuple[int, int]:
    """(height, width) from the image header (pixels are not decoded)."""
    with Image.open(path) as img:
        return img.size[1], img.size[0]


def _collect(problems: dict[str, list[str]], kind: str, item: str) -> None:
    problems.setdefault(kind, []).append(item)


class MapDataset(Dataset):
    """Samples with map files, AU vectors (0..5, ``au_names`` order) and optional attributes and landmarks.

    ``size=(H, W)`` resizes every map; without it, maps of different sizes raise :class:`DataError`.
    ``preload=True`` decodes every sample once, at construction. ``problems`` carries what the reader
    noticed (rows filtered, entries skipped) for :mod:`aucgan.data.inspect`. ``layout``: the map space the
    data set's card names (None: the built-in layout, or unknown), for training and editing.
    """

    def __init__(self, samples: Sequence[SampleMeta], kind: str, root: str | Path,
                 au_names: Sequence[str] = AU_NAMES, size: tuple[int, int] | None = None,
                 disp_scale: float = DEFAULT_DISP_SCALE, disp_offset: float = DEFAULT_DISP_OFFSET,
                 problems: Sequence[str] = (), preload: bool = False, layout: Layout | None = None) -> None:
        self.samples_meta: list[SampleMeta] = list(samples)
        self.kind, self.root = kind, Path(root)
        self.layout = layout
        self.au_names = tuple(au_names)
        self.size = None if size is None else (int(size[0]), int(size[1]))
        if self.size is not None and min(self.size) < 1:
            raise DataError(f"size must be positive (H, W), got {size}")
        self.disp_scale, self.disp_offset = float(disp_scale), float(disp_offset)
        self.problems: list[str] = list(problems)
        self._index: dict[str, int] = {}
        for i, meta in enumerate(self.samples_meta):
            if meta.au.shape != (len(self.au_names),):
                raise DataError(f"{meta.source or self.root}: sample {meta.id!r} has {meta.au.shape[0]} AU "
                                f"values, expected {len(self.au_names)}")
            if meta.id in self._index:
                first = self.samples_meta[self._index[meta.id]]
                raise DataError(f"{meta.source or self.root}: sample id {meta.id!r} repeats "
                                f"{first.source or 'an earlier sample'} (duplicate id)")
            self._index[meta.id] = i
        self._first_hw: tuple[tuple[int, int], Path] | None = None
        self._cache: list[Sample] | None = None
        if preload:
            self._cache = [self._load(i) for i in range(len(self))]

    def __len__(self) -> int:
        return len(self.samples_meta)

    def __getitem__(self, index: int) -> dict:
        return self.sample(index).to_dict()

    def __repr__(self) -> str:
        return (f"MapDataset(kind={self.kind!r}, root={str(self.root)!r}, samples={len(self)}, "
                f"maps={list(self.map_names)}, size={self.size})")

    def sample(self, index: int) -> Sample:
        """The decoded :class:`Sample` at ``index``."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"sample index {index} out of range for {len(self)} samples")
        index %= len(self)
        if self._cache is not None:
            return self._cache[index]
        return self._load(index)

    def get_by_id(self, sample_id: str) -> dict:
        """The item whose id is ``sample_id``; an unknown id raises :class:`DataError` listing some ids."""
        if sample_id not in self._index:
            some = ", ".join(list(self._index)[:5])
            raise DataError(f"{self.root}: no sample with id {sample_id!r} (ids look like: {some})")
        return self[self._index[sample_id]]

    @property
    def map_names(self) -> tuple[str, ...]:
        """Map names present in any sample, in first-seen order."""
        seen: dict[str, None] = {}
        for meta in self.samples_meta:
            seen.update(dict.fromkeys(meta.maps))
        return tuple(seen)

    def au_matrix(self) -> np.ndarray:
        """(N, K) float32 AU intensities 0..5 (no image decoding)."""
        if not self.samples_meta:
            return np.zeros((0, len(self.au_names)), np.float32)
        return np.stack([m.au for m in self.samples_meta]).astype(np.float32)

    def identities(self) -> list[str]:
        """Sorted distinct identities (samples without one are not counted)."""
        return sorted({m.identity for m in self.samples_meta if m.identity})

    def splits(self) -> dict[str, int]:
        """Sample count per split name (``None`` counted as ``"(none)"``)."""
        return dict(Counter(m.split or "(none)" for m in self.samples_meta))

    def _fail(self, meta: SampleMeta, message: str) -> DataError:
        where = f" ({meta.source})" if meta.source else ""
        return DataError(f"{message} [sample {meta.id}{where}]")

    def _hw(self, meta: SampleMeta, path: Path) -> tuple[int, int]:
        try:
            return _header_hw(path)
        except FileNotFoundError:
            raise self._fail(meta, f"{path}: no such image file") from None
        except (UnidentifiedImageError, OSError) as exc:
            raise self._fail(meta, f"{path}: not a readable image ({exc})") from None

    def _check_size(self, hw: tuple[int, int], path: Path) -> None:
        if self.size is not None:
            return
        if self._first_hw is None:
            self._first_hw = (hw, path)
        elif hw != self._first_hw[0]:
            (h, w), first = self._first_hw
            raise DataError(f"mixed image sizes: {path} is {hw[0]}x{hw[1]} but {first} is {h}x{w}; "
                            "pass size=(H, W) (--size) to resize every map")

    def _load(self, index: int) -> Sample:
        meta = self.samples_meta[index]
        if meta.missing:
            raise self._fail(meta, meta.missing)
        if not meta.maps:
            raise self._fail(meta, "no map files")
        maps: dict[str, torch.Tensor] = {}
        source_hw = None
        for name, path in meta.maps.items():
            hw = self._hw(meta, path)
            source_hw = source_hw or hw
            self._check_size(hw, path)
            try:
                maps[name] = self._decode(name, path)
            except MapIOError as exc:
                raise self._fail(meta, str(exc)) from None
        landmarks = meta.landmarks
        if landmarks is None and meta.landmarks_px is not None:
            landmarks = normalise_landmarks(meta.landmarks_px, source_hw)
        return Sample(id=meta.id, maps=maps, au=torch.from_numpy(meta.au.astype(np.float32)),
                      identity=meta.identity, split=meta.split, attrs=dict(meta.attrs),
                      landmarks=None if landmarks is None else torch.from_numpy(landmarks.astype(np.float32)),
                      au_names=self.au_names)

    def _decode(self, name: str, path: Path) -> torch.Tensor:
        if name == "displacement":
            return load_displacement(path, self.disp_scale, self.disp_offset, size=self.size)
        if name == "mask":
            return load_displacement(path, 1.0, 0.0, size=self.size)
        return load_rgb(path, size=self.size)

    def check_files(self, decode: bool = False) -> list[str]:
        """Problems with every sample's map files (missing, unreadable, mixed sizes, landmarks off-image).

        Reads image headers only unless ``decode``. Each kind of problem is one line with a count and the
        first few examples.
        """
        found: dict[str, list[str]] = {}
        sizes: dict[tuple[int, int], list[str]] = {}
        for meta in self.samples_meta:
            if meta.missing:
                _collect(found, "samples without an image", meta.missing)
                continue
            first_hw = None
            for name, path in meta.maps.items():
                try:
                    hw = _header_hw(path)
                except FileNotFoundError:
                    _collect(found, "missing image files", str(path))
                    continue
                except (UnidentifiedImageError, OSError) as exc:
                    _collect(found, "unreadable image files", f"{path} ({exc})")
                    continue
                if decode:
                    try:
                        self._decode(name, path)
                    except MapIOError as exc:
                        _collect(found, "unreadable image files", str(exc))
                        continue
                first_hw = first_hw or hw
                sizes.setdefault(hw, []).append(str(path))
            if meta.landmarks is None and meta.landmarks_px is not None and first_hw is not None:
                if normalise_landmarks(meta.landmarks_px, first_hw) is None:
                    _collect(found, "samples whose landmarks fall outside their image (not attached; "
                             "they are pixels of another frame, e.g. OpenFace's source video for aligned "
                             "crops)",
                             meta.id)
        out = [f"{kind}: {len(items)} (first: {'; '.join(items[:3])})" for kind, items in found.items()]
        if len(sizes) > 1 and self.size is None:
            parts = [f"{h}x{w}: {len(paths)} files (e.g. {paths[0]})" for (h, w), paths in
                     sorted(sizes.items(), key=lambda kv: -len(kv[1]))]
            out.append("mixed image sizes (pass size=(H, W) / --size to resize): " + "; ".join(parts))
        return out

    def image_sizes(self) -> dict[tuple[int, int], int]:
        """Count of map files per (height, width), from headers; unreadable files are left out."""
        out: Counter = Counter()
        for meta in self.samples_meta:
            for path in meta.maps.values():
                try:
                    out[_header_hw(path)] += 1
                except (UnidentifiedImageError, OSError):
                    continue
        return dict(out)



def normalise_landmarks(points_px: np.ndarray, hw: tuple[int, int]) -> np.ndarray | None:
    """Pixel landmarks -> 0..1 by the image (height, width); None when they fall outside the image."""
    h, w = hw
    unit = points_px.astype(np.float32) / np.array([w, h], np.float32)
    if (unit < -LANDMARK_TOLERANCE).any() or (unit > 1 + LANDMARK_TOLERANCE).any():
        return None
    return unit.clip(0.0, 1.0)


def select_split(samples: Sequence[SampleMeta], split: str | None, source: Path) -> list[SampleMeta]:
    """The samples of ``split``. A data set without any split information is all ``"train"``."""
    if split is None:
        return list(samples)
    if not any(m.split for m in samples):
        if split == "train":
            return list(samples)
        raise DataError(f"{source}: the data set has no split information (no split column or id lists), "
                        f"so it is all 'train'; there is no {split!r} split")
    chosen = [m for m in samples if m.split == split]
    if not chosen:
        present = ", ".join(sorted({m.split for m in samples if m.split}))
        raise DataError(f"{source}: no samples in split {split!r} (splits present: {present})")
    return chosen


def detect_kind(path: str | Path) -> tuple[str, Path]:
    """``(kind, root)`` of a data set path: an OpenFace CSV, a GANimation folder, a synthetic benchmark
    folder, or a manifest (folder with ``manifest.csv``/``manifest.json``, or the manifest file itself)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir():
        if is_synth_folder(path):
            return "synth", path
        if is_ganimation_folder(path):
            return "ganimation", path
        if find_manifest(path) is not None:
            return "manifest", path
        raise DataError(f"{path}: not a recognised data set folder: looked for dataset.json with format "
                        f"'aucgan-synth' (synthetic benchmark), {AU_FILE} (GANimation), "
                        f"{' or '.join(MANIFEST_NAMES)} (folder data set); for OpenFace output pass the CSV "
                        "file")
    suffix = path.suffix.lower()
    if path.name == AU_FILE:
        return "ganimation", path.parent
    if path.name == "dataset.json" and is_synth_folder(path.parent):
        return "synth", path.parent
    if suffix == ".csv":
        return ("openface" if looks_like_openface_csv(path) else "manifest"), path
    if suffix == ".json":
        return "manifest", path
    raise DataError(f"{path}: not a recognised data set file: expected an OpenFace CSV, a manifest "
                    f".csv/.json, {AU_FILE}, or a data set folder")


def open_dataset(path: str | Path, split: str | None = None, size: int | tuple[int, int] | None = None,
                 au_names: Sequence[str] = AU_NAMES, preload: bool = False, strict: bool = True,
                 images: str | Path | None = None, join: str | None = None, min_confidence: float = 0.0,
                 success_only: bool = True) -> MapDataset:
    """Open any supported data set at ``path`` (kind detected by :func:`detect_kind`).

    ``split``: keep one split (the split column, GANimation's id lists, the synthetic card's identity split).
    ``size``: resize every map to (H, W) (an int means square). ``au_names``: the AUs to read, by name.
    ``strict=False`` skips malformed rows/entries and lists them in ``.problems`` instead of raising.
    OpenFace only: ``images`` (the image folder; default: searched beside the CSV), ``join`` (``"frame"`` or
    ``"stem"``; default by CSV layout), ``min_confidence`` and ``success_only`` (row filters).
    """
    kind, root = detect_kind(path)
    try:
        names = au_set(list(au_names))
    except AUError as exc:
        raise DataError(str(exc)) from None
    hw = (size, size) if isinstance(size, int) else size
    disp = (DEFAULT_DISP_SCALE, DEFAULT_DISP_OFFSET)
    layout = None
    if kind == "openface":
        samples, problems = openface_samples(root, names, strict, images, join, min_confidence, success_only)
    elif kind == "ganimation":
        samples, problems = ganimation_samples(root, names, strict)
    else:
        reader = read_synth_folder if kind == "synth" else read_manifest
        data = reader(root, names, strict)
        samples, problems, disp = data.samples, data.problems, (data.disp_scale, data.disp_offset)
        layout = data.layout
    samples = select_split(samples, split, root)
    return MapDataset(samples, kind, root, names, size=hw, disp_scale=disp[0], disp_offset=disp[1],
                      problems=problems, preload=preload, layout=layout)
