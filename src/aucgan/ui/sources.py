"""The faces the editor edits: test identities of the run's data, synthetic identities, uploaded map sets, photos.

A :class:`Source` holds a face at the model's size with its AUs, landmarks and attributes; :class:`FaceSources`
makes them for one session (the run's data set opened once, Random's seeded choices, the photo tools loaded
once). Bad input raises :class:`aucgan.ui.UIError`.
"""

from __future__ import annotations

import importlib.util
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aucgan.errors import AucganError
from aucgan.layout.landmarks import Layout
from aucgan.ui import UIError
from aucgan.ui.uploads import check_image_header, check_map_set, check_upload, read_side_json, short, sort_uploads


@dataclass
class PhotoContext:
    """What pasting an edit back into an uploaded photo needs: the photo (3, H, W), its face and the layout
    pixels the photo shows (1, S, S)."""

    image: torch.Tensor
    face: object
    visible: torch.Tensor


@dataclass
class Source:
    """The face being edited: the model's maps at the model's size, its AUs and where its features are."""

    key: str
    label: str
    maps: dict[str, torch.Tensor]
    au: np.ndarray
    landmarks: np.ndarray | None = None
    attrs: dict[str, float] = field(default_factory=dict)
    photo: PhotoContext | None = None


class FaceSources:
    """Makes :class:`Source` faces for a model with maps ``maps`` at ``size`` px and AUs ``au_names``
    (thread-safe). ``data_path``: the run's data set (None: synthetic identities only); ``layout``: the
    model's map space (None: the built-in layout)."""

    def __init__(self, maps: Sequence[str], au_names: Sequence[str], size: int, run_dir: str | Path,
                 data_path: str | Path | None = None, max_upload_bytes: int = 20 * 2**20, seed: int = 0,
                 layout: Layout | None = None) -> None:
        self.maps, self.au_names, self.size = tuple(maps), tuple(au_names), int(size)
        self.layout = layout
        self.run_dir = Path(run_dir)
        self.data_path = None if data_path is None else Path(data_path)
        self.max_upload_bytes = int(max_upload_bytes)
        self.seed = int(seed)
        self._rng = np.random.default_rng(seed)
        self._dataset = None
        self._lock = threading.RLock()
        self.photo_tools = None   # (FaceMeshDetector, PhotoWarp) once a photo was loaded

    # ------------------------------------------------------------------------------------- the data set
    def _open_data(self):
        if self._dataset is not None:
            return self._dataset
        if self.data_path is None:
            raise UIError(f"{self.run_dir}: the run records no data set (no data.json); use Random for a "
                          "synthetic identity, or upload maps")
        from aucgan.data.datasets import open_dataset

        errors = []
        for split in ("test", None):
            try:
                ds = open_dataset(self.data_path, split=split, size=(self.size, self.size), au_names=self.au_names)
            except AucganError as exc:
                errors.append(str(exc))
                continue
            if len(ds):
                self._dataset = ds
                return ds
        raise UIError(f"{self.data_path}: the run's data set cannot be read ({'; '.join(errors) or 'empty'})")

    def has_data(self) -> bool:
        """Whether the run's data set can be opened."""
        try:
            self._open_data()
        except UIError:
            return False
        return True

    def sample_ids(self) -> list[str]:
        """Ids of the test identities' samples (all samples when the data set has no test split)."""
        return [m.id for m in self._open_data().samples_meta]

    def load_sample(self, sample_id: str) -> Source:
        """The data set sample ``sample_id`` as a source."""
        ds = self._open_data()
        try:
            item = ds.get_by_id(str(sample_id).strip())
        except AucganError as exc:
            raise UIError(str(exc)) from None
        missing = [m for m in self.maps if m not in item["maps"]]
        if missing:
            raise UIError(f"sample {sample_id}: lacks map(s) {missing} that the model needs")
        lm = item.get("landmarks")
        return Source(key=secrets.token_hex(8), label=f"test sample {sample_id}",
                      maps={m: item["maps"][m].float() for m in self.maps},
                      au=np.asarray(item["au"], np.float32), landmarks=None if lm is None else np.asarray(lm),
                      attrs={k: float(v) for k, v in item.get("attrs", {}).items()})

    # ------------------------------------------------------------------------------ synthetic and random
    def synthetic_identity(self, index: int) -> Source:
        """A neutral face of synthetic identity ``index`` rendered at the model's size (no data needed)."""
        from dataclasses import replace

        from aucgan.au import AU_NAMES
        from aucgan.data.synth.config import in_layout
        from aucgan.data.synth.identity import make_identities
        from aucgan.data.synth.render import render

        batch = make_identities([int(index)], self.seed, replace(in_layout(self.layout), size=self.size))
        out = render(batch, torch.zeros(1, len(AU_NAMES)))
        maps = {"albedo": out["albedo"][0], "displacement": out["displacement"][0],
                "normal": (out["normal"][0] + 1.0) * 0.5}
        missing = [m for m in self.maps if m not in maps]
        if missing:
            raise UIError(f"synthetic identities have no {missing} map(s), which the model needs")
        p = batch.params[0]
        return Source(key=secrets.token_hex(8), label=f"synthetic identity {int(index)} (neutral)",
                      maps={m: maps[m] for m in self.maps}, au=np.zeros(len(self.au_names), np.float32),
                      landmarks=out["landmarks"][0].numpy(),
                      attrs={"age": float(p.age), "gender": float(p.gender), "emotion": 0.0, "valence": 0.0})

    def random_source(self) -> Source:
        """A random test sample of the run's data, or a random synthetic identity when there is no data."""
        with self._lock:
            if self.has_data():
                ids = self.sample_ids()
                return self.load_sample(ids[int(self._rng.integers(len(ids)))])
            return self.synthetic_identity(int(self._rng.integers(10_000, 1_000_000)))

    def first_source(self) -> Source:
        """The source the page opens with: the first test sample, else synthetic identity 0."""
        if self.has_data():
            return self.load_sample(self.sample_ids()[0])
        return self.synthetic_identity(0)

    # ------------------------------------------------------------------------------------------ uploads
    def load_map_files(self, paths: Sequence[str | Path] | None) -> Source:
        """A source from uploaded files: ``NAME_albedo.png``, ``NAME_displacement.png`` (16- or 8-bit grey),
        optionally ``NAME_normal.png``, a layout JSON (landmarks) and an AU JSON saved by the editor."""
        from aucgan.data.mapio import load_displacement, load_rgb

        files = [check_upload(p, self.max_upload_bytes) for p in (paths or [])]
        if not files:
            raise UIError("no files uploaded (expected NAME_albedo.png and NAME_displacement.png)")
        found, side = sort_uploads(files)
        landmarks, source_au = None, None
        for f in side:
            landmarks, source_au = read_side_json(f, self.au_names, landmarks, source_au)
        check_map_set(found, self.maps, self.size)
        hw = (self.size, self.size)
        maps = {}
        for m in self.maps:
            try:
                maps[m] = load_displacement(found[m], size=hw) if m == "displacement" else load_rgb(found[m], size=hw)
            except AucganError as exc:
                raise UIError(short(exc, found[m].parent)) from None
        prefix = found[self.maps[0]].stem.rsplit("_", 1)[0]
        au = np.zeros(len(self.au_names), np.float32) if source_au is None else source_au
        return Source(key=secrets.token_hex(8), label=f"uploaded map set {prefix}", maps=maps, au=au,
                      landmarks=landmarks)

    def photo_unavailable(self) -> str | None:
        """Why photos cannot be edited here (None when they can: ``aucgan.photo`` and MediaPipe installed, a
        colour map, the built-in layout)."""
        if self.layout is not None:
            return f"photos are unwrapped into aucgan's built-in layout; this run works in layout {self.layout.name!r}"
        if importlib.util.find_spec("aucgan.photo") is None or importlib.util.find_spec("mediapipe") is None:
            return "photo editing needs the photo extra: pip install 'aucgan[photo]'"
        if not {"albedo", "image"} & set(self.maps):
            return f"the model reads no colour map ({', '.join(self.maps)}), so photos cannot enter it"
        return None

    def load_photo(self, path: str | Path | None) -> Source:
        """A face photo mapped into the model's layout (MediaPipe face mesh, piecewise-affine unwrap; unseen
        layout pixels filled) with its landmark-geometry AU estimate as the source AUs."""
        why = self.photo_unavailable()
        if why:
            raise UIError(why)
        if not path:
            raise UIError("no photo uploaded")
        from aucgan.photo.au_estimate import estimate_aus
        from aucgan.photo.edit import fill_invisible
        from aucgan.photo.io import load_photo
        from aucgan.photo.landmarks import FaceMeshDetector
        from aucgan.photo.warp import PhotoWarp

        p = check_upload(path, self.max_upload_bytes)
        check_image_header(p)
        try:
            photo = load_photo(p)
            with self._lock:
                if self.photo_tools is None:
                    self.photo_tools = (FaceMeshDetector(), PhotoWarp(self.size))
                detector, warp = self.photo_tools
                face = detector.detect(photo, where=p.name)
                texture, visible = warp.unwrap(photo, face)
        except AucganError as exc:
            raise UIError(short(exc, p.parent)) from None
        filled = fill_invisible(texture, visible)
        s = self.size
        maps = {"albedo": filled, "image": filled, "displacement": torch.zeros(1, s, s),
                "normal": torch.tensor([0.5, 0.5, 1.0]).view(3, 1, 1).expand(3, s, s)}
        estimate = estimate_aus(face.ibug68)
        au = np.array([estimate.get(a, 0.0) for a in self.au_names], np.float32)
        return Source(key=secrets.token_hex(8), label=f"photo {p.name}", maps={m: maps[m] for m in self.maps},
                      au=au, photo=PhotoContext(photo, face, visible))
