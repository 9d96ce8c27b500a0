"""The editor's logic without Gradio: sources, the edit, the views, downloads and input checks.

One :class:`EditorSession` per process holds the run's EMA generator (one model load). A :class:`Source` (a
test identity of the run's data, a fresh synthetic identity, an uploaded map set or a photo) is encoded once
and cached; each slider move then only runs the generator's decoder under ``torch.inference_mode`` and
renders the views. Bad input raises :class:`UIError`, whose message the page shows.
"""

from __future__ import annotations

import importlib.util
import json
import math
import secrets
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.au import EMOTIONS, AUError, au_indices, au_vector, format_au, prototype_vector
from aucgan.errors import AucganError

#: Uploads larger than this are refused (the page's server refuses them too).
MAX_UPLOAD_MB = 20.0
MIN_MAP_SIDE = 16
MAX_MAP_SIDE = 4096
#: Views are enlarged (nearest neighbour) to at least this many pixels a side.
DISPLAY_SIZE = 256
#: An AU counts as moved when its target differs from the source by more than this.
MOVED_THRESHOLD = 0.05
#: Change (mean over channels of |output - source| in network units, about [-1, 1]) drawn at full colour.
HEAT_VMAX = 0.5
#: Exaggeration of displacement slopes for viewing (downloads keep geometric normals).
VIEW_STRENGTH = 3.0
#: Default light: azimuth (degrees, 0 = from above, 90 = from the viewer's right) and tilt from the view axis.
DEFAULT_AZIMUTH = -40.0
DEFAULT_TILT = 40.0
#: Names of the views, in the page's order.
VIEWS: tuple[str, ...] = ("albedo", "shaded", "normal", "render", "change", "photo")
#: Height of the face crop shown for photo sources.
PHOTO_VIEW_HEIGHT = 384
MAP_SUFFIXES: tuple[str, ...] = ("albedo", "displacement", "normal", "image")
IMAGE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Outline colours of moved AUs' footprints in the change heatmap (cycled).
OUTLINE_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("cyan", (0, 255, 255)), ("lime", (120, 255, 0)), ("white", (255, 255, 255)), ("magenta", (255, 0, 255)),
    ("blue", (80, 140, 255)), ("yellow", (255, 255, 0)),
)

#: The AUs by face region, in slider order.
AU_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Forehead and brows", ("AU01", "AU02", "AU04")),
    ("Eyes and lids", ("AU05", "AU06", "AU07", "AU45")),
    ("Nose", ("AU09",)),
    ("Upper lip and cheeks", ("AU10", "AU12", "AU14")),
    ("Lips and mouth", ("AU15", "AU20", "AU23", "AU24", "AU25", "AU26", "AU28")),
    ("Chin", ("AU17",)),
)


class UIError(AucganError, ValueError):
    """Bad input to the editor (a file, its size, a run directory, a value): shown as a message in the page."""


def group_aus(au_names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The model's AUs grouped by face region (:data:`AU_GROUPS` order); AUs of no group go to ``Other``."""
    groups = [(title, [c for c in codes if c in au_names]) for title, codes in AU_GROUPS]
    placed = {c for _, codes in groups for c in codes}
    rest = [c for c in au_names if c not in placed]
    return [(t, c) for t, c in groups if c] + ([("Other", rest)] if rest else [])


def light_direction(azimuth: float, tilt: float) -> tuple[float, float, float]:
    """Unit direction towards the light (layout frame: x right, y down, z out of the face).

    ``azimuth`` in degrees: 0 = from above, 90 = from the viewer's right, -90 = from the left; ``tilt`` in
    degrees from the view axis: 0 = head on, 90 = grazing.
    """
    a, t = math.radians(float(azimuth)), math.radians(min(max(float(tilt), 0.0), 89.0))
    return (math.sin(t) * math.sin(a), -math.sin(t) * math.cos(a), math.cos(t))


def check_upload(path: str | Path, max_bytes: int) -> Path:
    """An uploaded file that exists and is at most ``max_bytes``; otherwise :class:`UIError`."""
    p = Path(path)
    if not p.is_file():
        raise UIError(f"{p.name}: the upload did not arrive (no such file)")
    size = p.stat().st_size
    if size > max_bytes:
        raise UIError(f"{p.name}: {size / 2**20:.1f} MB is over the upload limit of {max_bytes / 2**20:.0f} MB")
    return p


def check_image_header(path: Path) -> tuple[int, int]:
    """(height, width) of an image file from its header; :class:`UIError` for non-images and absurd sizes."""
    from PIL import Image

    from aucgan.data.mapio import image_size

    try:
        h, w = image_size(path)
    except AucganError:
        raise UIError(f"{path.name}: not an image (expected a PNG or JPEG file)") from None
    except Image.DecompressionBombError:
        raise UIError(f"{path.name}: the image is far too large (more than {MAX_MAP_SIDE} px a side)") from None
    if max(h, w) > MAX_MAP_SIDE or min(h, w) < MIN_MAP_SIDE:
        raise UIError(f"{path.name}: {w}x{h} px; maps must be between {MIN_MAP_SIDE} and {MAX_MAP_SIDE} px a side")
    return h, w


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


@dataclass
class PhotoContext:
    """What pasting an edit back into an uploaded photo needs: the photo (3, H, W), its face and the layout
    pixels the photo shows (1, S, S)."""

    image: torch.Tensor
    face: object
    visible: torch.Tensor


@dataclass
class EditResult:
    """One edit: the views (uint8 HxWx3 images; None where the model lacks the map), the edited maps
    (each CxSxS), the target AUs, the moved AUs with their outline colours, and the time it took."""

    images: dict[str, np.ndarray | None]
    maps: dict[str, torch.Tensor]
    target: np.ndarray
    moved: list[tuple[str, str]]
    seconds: float


def _magma_lut() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["magma"](np.linspace(0.0, 1.0, 256))[:, :3] * 255.0 + 0.5).astype(np.uint8)


_LUT: np.ndarray | None = None


def heat_colours(values: torch.Tensor, vmax: float = HEAT_VMAX) -> np.ndarray:
    """A (H, W) tensor of non-negative values -> uint8 (H, W, 3) magma colours, ``vmax`` at full colour."""
    global _LUT
    if _LUT is None:
        _LUT = _magma_lut()
    idx = (values.float() / vmax).clamp(0.0, 1.0).mul(255.0).round().to(torch.int64).numpy()
    return _LUT[idx]


def _to_uint8(img: torch.Tensor, scale: int) -> np.ndarray:
    """(3, H, W) in [0, 1] -> uint8 (H*scale, W*scale, 3)."""
    arr = (img.float().clamp(0.0, 1.0).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return _enlarge(arr, scale)


def _enlarge(arr: np.ndarray, scale: int) -> np.ndarray:
    return arr if scale == 1 else np.repeat(np.repeat(arr, scale, axis=0), scale, axis=1)


def outline(mask: torch.Tensor) -> torch.Tensor:
    """The boundary pixels (bool (H, W)) of a bool mask (H, W): inside pixels with an outside 4-neighbour."""
    m = mask.float()[None, None]
    inner = -F.max_pool2d(-F.pad(m, (1, 1, 1, 1), value=1.0), 3, stride=1)
    return mask & (inner[0, 0] < 0.5)


class EditorSession:
    """The editor of one training run: model, data, sources and edits (thread-safe; one per process)."""

    def __init__(self, editor, run_dir: str | Path, data_path: str | Path | None = None,
                 max_upload_mb: float = MAX_UPLOAD_MB, seed: int = 0) -> None:
        self.editor = editor
        # channels-last convolutions: about 25 % less decoder time on CPU (oneDNN), same results
        self.editor.G.to(memory_format=torch.channels_last)
        self.run_dir = Path(run_dir)
        self.data_path = None if data_path is None else Path(data_path)
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.seed = int(seed)
        self._rng = np.random.default_rng(seed)
        self._dataset = None
        self._prepared: OrderedDict[str, tuple] = OrderedDict()
        self._lock = threading.RLock()
        self._photo_tools = None

    @classmethod
    def open(cls, run_dir: str | Path, data: str | Path | None = None, device: str = "cpu",
             max_upload_mb: float = MAX_UPLOAD_MB, seed: int = 0) -> EditorSession:
        """Load a training run's EMA generator; :class:`UIError` naming the folder if it is not a usable run."""
        from aucgan.inference import Editor
        from aucgan.runs import recorded_data_path

        run = Path(str(run_dir).strip())
        if not str(run_dir).strip() or not run.is_dir():
            raise UIError(f"{run}: no such run directory (expected an aucgan training run folder)")
        try:
            editor = Editor(run, device)
        except AucganError as exc:
            raise UIError(f"not a usable aucgan training run: {exc}") from None
        except Exception as exc:  # e.g. safetensors' own errors for damaged weight files
            raise UIError(f"{run}: not a usable aucgan training run ({type(exc).__name__}: {exc})") from None
        return cls(editor, run, data if data is not None else recorded_data_path(run), max_upload_mb, seed)

    # ------------------------------------------------------------------------------------------ the model
    @property
    def au_names(self) -> tuple[str, ...]:
        return tuple(self.editor.au_names)

    @property
    def size(self) -> int:
        return int(self.editor.size)

    @property
    def extra_names(self) -> tuple[str, ...]:
        """Attributes the generator is conditioned on besides the AUs (``emotion``, ``age``, ...)."""
        return tuple(self.editor.config.generator.extra_attrs)

    def describe(self) -> str:
        """One line about the loaded model."""
        cfg = self.editor.config
        return (f"run `{self.run_dir}` · preset `{cfg.name}` · step {self.editor.step} · {self.size} px · "
                f"maps {', '.join(cfg.data.maps)} · {len(self.au_names)} AUs")

    def compatible(self, other: EditorSession) -> str | None:
        """Why ``other`` cannot replace this session's model in the same page (None if it can)."""
        if other.au_names != self.au_names:
            return f"its AU set ({', '.join(other.au_names)}) differs from this page's"
        if other.extra_names != self.extra_names:
            return f"its extra conditions {list(other.extra_names)} differ from this page's {list(self.extra_names)}"
        return None

    # ----------------------------------------------------------------------------------------- sources
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
        missing = [m for m in self.editor.codec.maps if m not in item["maps"]]
        if missing:
            raise UIError(f"sample {sample_id}: lacks map(s) {missing} that the model needs")
        lm = item.get("landmarks")
        return Source(key=secrets.token_hex(8), label=f"test sample {sample_id}",
                      maps={m: item["maps"][m].float() for m in self.editor.codec.maps},
                      au=np.asarray(item["au"], np.float32), landmarks=None if lm is None else np.asarray(lm),
                      attrs={k: float(v) for k, v in item.get("attrs", {}).items()})

    def synthetic_identity(self, index: int) -> Source:
        """A neutral face of synthetic identity ``index`` rendered at the model's size (no data needed)."""
        from dataclasses import replace

        from aucgan.au import AU_NAMES
        from aucgan.data.synth.config import in_layout
        from aucgan.data.synth.identity import make_identities
        from aucgan.data.synth.render import render

        batch = make_identities([int(index)], self.seed, replace(in_layout(self.editor.layout), size=self.size))
        out = render(batch, torch.zeros(1, len(AU_NAMES)))
        maps = {"albedo": out["albedo"][0], "displacement": out["displacement"][0],
                "normal": (out["normal"][0] + 1.0) * 0.5}
        missing = [m for m in self.editor.codec.maps if m not in maps]
        if missing:
            raise UIError(f"synthetic identities have no {missing} map(s), which the model needs")
        p = batch.params[0]
        return Source(key=secrets.token_hex(8), label=f"synthetic identity {int(index)} (neutral)",
                      maps={m: maps[m] for m in self.editor.codec.maps}, au=np.zeros(len(self.au_names), np.float32),
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

    def load_map_files(self, paths: Sequence[str | Path] | None) -> Source:
        """A source from uploaded files: ``NAME_albedo.png``, ``NAME_displacement.png`` (16- or 8-bit grey),
        optionally ``NAME_normal.png``, a layout JSON (landmarks) and an AU JSON saved by the editor."""
        from aucgan.data.mapio import load_displacement, load_rgb

        files = [check_upload(p, self.max_upload_bytes) for p in (paths or [])]
        if not files:
            raise UIError("no files uploaded (expected NAME_albedo.png and NAME_displacement.png)")
        found: dict[str, Path] = {}
        landmarks, source_au = None, None
        for f in files:
            if f.suffix.lower() == ".json":
                landmarks, source_au = self._read_side_json(f, landmarks, source_au)
                continue
            stem = f.stem.lower()
            name = next((s for s in MAP_SUFFIXES if stem.endswith("_" + s) or stem == s), None)
            if name is None or f.suffix.lower() not in IMAGE_SUFFIXES:
                raise UIError(f"{f.name}: not a map file (names end in _albedo, _displacement, _normal or _image, "
                              "with .png or .jpg; or .json for a layout or AU vector)")
            if name in found:
                raise UIError(f"two {name} maps uploaded ({found[name].name}, {f.name})")
            found[name] = f
        missing = [m for m in self.editor.codec.maps if m not in found]
        if missing:
            raise UIError(f"the model needs map(s) {missing}; uploaded: {sorted(found) or 'none'}")
        sizes = {m: check_image_header(found[m]) for m in self.editor.codec.maps}
        if len(set(sizes.values())) > 1:
            listed = ", ".join(f"{found[m].name} {w}x{h}" for m, (h, w) in sizes.items())
            raise UIError(f"the maps differ in size ({listed}); a map set shares one size")
        h, w = next(iter(sizes.values()))
        if h != w:
            raise UIError(f"the maps are {w}x{h} px; the model's layout is square ({self.size}x{self.size})")
        hw = (self.size, self.size)
        maps = {}
        try:
            for m in self.editor.codec.maps:
                maps[m] = load_displacement(found[m], size=hw) if m == "displacement" else load_rgb(found[m], size=hw)
        except AucganError as exc:
            raise UIError(str(exc).replace(str(found[m].parent) + "/", "")) from None
        prefix = found[self.editor.codec.maps[0]].stem.rsplit("_", 1)[0]
        au = np.zeros(len(self.au_names), np.float32) if source_au is None else source_au
        return Source(key=secrets.token_hex(8), label=f"uploaded map set {prefix}", maps=maps, au=au,
                      landmarks=landmarks)

    def _read_side_json(self, f: Path, landmarks, source_au):
        try:
            data = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UIError(f"{f.name}: not a readable JSON file ({exc})") from None
        if isinstance(data, dict) and "landmarks" in data:
            from aucgan.layout.landmarks import load_layout

            try:
                return load_layout(f).landmarks, source_au
            except AucganError as exc:
                raise UIError(str(exc).replace(str(f.parent) + "/", "")) from None
        if isinstance(data, dict) and isinstance(data.get("au"), dict):
            try:
                return landmarks, au_vector({k: v for k, v in data["au"].items() if k in self.au_names},
                                            self.au_names)
            except AUError as exc:
                raise UIError(f"{f.name}: {exc}") from None
        raise UIError(f"{f.name}: expected a layout JSON (with 'landmarks') or an AU JSON (with 'au')")

    def photo_unavailable(self) -> str | None:
        """Why photos cannot be edited here (None when they can: ``aucgan.photo`` and MediaPipe installed, a
        colour map, the built-in layout)."""
        if self.editor.layout is not None:
            return (f"photos are unwrapped into aucgan's built-in layout; this run works in layout "
                    f"{self.editor.layout.name!r}")
        if importlib.util.find_spec("aucgan.photo") is None or importlib.util.find_spec("mediapipe") is None:
            return "photo editing needs the photo extra: pip install 'aucgan[photo]'"
        if not {"albedo", "image"} & set(self.editor.codec.maps):
            return f"the model reads no colour map ({', '.join(self.editor.codec.maps)}), so photos cannot enter it"
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
                if self._photo_tools is None:
                    self._photo_tools = (FaceMeshDetector(), PhotoWarp(self.size))
                detector, warp = self._photo_tools
                face = detector.detect(photo, where=p.name)
                texture, visible = warp.unwrap(photo, face)
        except AucganError as exc:
            raise UIError(str(exc).replace(str(p.parent) + "/", "")) from None
        filled = fill_invisible(texture, visible)
        s = self.size
        maps = {"albedo": filled, "image": filled, "displacement": torch.zeros(1, s, s),
                "normal": torch.tensor([0.5, 0.5, 1.0]).view(3, 1, 1).expand(3, s, s)}
        estimate = estimate_aus(face.ibug68)
        au = np.array([estimate.get(a, 0.0) for a in self.au_names], np.float32)
        return Source(key=secrets.token_hex(8), label=f"photo {p.name}",
                      maps={m: maps[m] for m in self.editor.codec.maps}, au=au,
                      photo=PhotoContext(photo, face, visible))

    def paste_back(self, source: Source, maps: Mapping[str, torch.Tensor], scale: int) -> np.ndarray | None:
        """The photo with the edit's change (edited minus reconstructed colour) pasted back, cropped to the face."""
        if source.photo is None:
            return None
        from aucgan.photo.edit import face_crop, strip

        colour = "albedo" if "albedo" in maps else "image"
        with self._lock:
            x, enc, fp = self._prepare(source)[:3]
            if len(self._prepared[source.key]) == 3:       # the reconstruction at the source AUs, once
                src_au = torch.as_tensor(source.au, device=self.editor.device).reshape(1, -1) / 5.0
                out = self.editor.G.decode(enc, src_au, fp, self.extra_vector(source, None), source_au=src_au)
                self._prepared[source.key] = (x, enc, fp, self.editor.codec.decode(out["out"].float().cpu())[colour])
            base = self._prepared[source.key][3]
            _, warp = self._photo_tools
        ctx = source.photo
        pasted = warp.paste_back(ctx.image, maps[colour][0], ctx.face, source_texture=base[0], valid=ctx.visible)
        view = strip([pasted], face_crop(ctx.image, ctx.face), height=PHOTO_VIEW_HEIGHT)
        return _to_uint8(view, 1)

    # -------------------------------------------------------------------------------------- the edit
    def _prepare(self, source: Source) -> tuple:
        """(network tensor, encoding, footprints) of a source, cached for the last few sources."""
        if source.key in self._prepared:
            self._prepared.move_to_end(source.key)
            return self._prepared[source.key]
        x = self.editor.prepare(source.maps)
        entry = (x, self.editor.G.encode(x), self.editor.footprints(source.landmarks))
        self._prepared[source.key] = entry
        while len(self._prepared) > 8:
            self._prepared.popitem(last=False)
        return entry

    def target_vector(self, values: Sequence[float]) -> np.ndarray:
        """Slider values (the model's AU order) as a checked intensity vector."""
        vals = list(values)
        if len(vals) != len(self.au_names):
            raise UIError(f"{len(vals)} AU values for the model's {len(self.au_names)} AUs")
        try:
            return au_vector(dict(zip(self.au_names, (float(v) for v in vals))), self.au_names)
        except (AUError, TypeError, ValueError) as exc:
            raise UIError(f"AU values: {exc}") from None

    def extra_vector(self, source: Source, extras: Mapping[str, object] | None) -> torch.Tensor | None:
        """The generator's extra condition (1, D): the page's values, else the source's attributes (landmarks
        from the source, else the canonical layout's), encoded as in training."""
        if not self.extra_names:
            return None
        from aucgan.training.extras import extra_vector

        values: dict[str, object] = {**source.attrs, **(extras or {})}
        if source.landmarks is not None:
            values["landmarks"] = source.landmarks
        try:
            vec = extra_vector(self.extra_names, values, where=source.label)
        except AucganError as exc:
            raise UIError(str(exc)) from None
        return vec[None].to(self.editor.device)

    @torch.inference_mode()
    def edit(self, source: Source, target: Sequence[float] | np.ndarray,
             extras: Mapping[str, object] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, output) network tensors (1, C, S, S) for a target AU vector (0..5)."""
        G = self.editor.G
        with self._lock:
            x, enc, fp = self._prepare(source)[:3]
            t = torch.as_tensor(np.asarray(target, np.float32), device=self.editor.device).reshape(1, -1) / 5.0
            src_au = torch.as_tensor(source.au, device=self.editor.device).reshape(1, -1) / 5.0
            out = G.decode(enc, t, fp, self.extra_vector(source, extras), source_au=src_au)
        return x.float().cpu(), out["out"].float().cpu()

    def moved_aus(self, source: Source, target: np.ndarray) -> list[str]:
        """AUs whose target differs from the source's intensity."""
        diff = np.abs(np.asarray(target, np.float32) - source.au)
        return [c for c, d in zip(self.au_names, diff) if d > MOVED_THRESHOLD]

    @torch.inference_mode()
    def update(self, source: Source, values: Sequence[float], azimuth: float = DEFAULT_AZIMUTH,
               tilt: float = DEFAULT_TILT, strength: float = VIEW_STRENGTH,
               extras: Mapping[str, object] | None = None) -> EditResult:
        """The whole slider callback: edit towards ``values`` and render every view."""
        start = time.perf_counter()
        target = self.target_vector(values)
        x, y = self.edit(source, target, extras)
        codec = self.editor.codec
        out = codec.decode(y)
        scale = max(1, DISPLAY_SIZE // self.size)
        light = light_direction(azimuth, tilt)
        images: dict[str, np.ndarray | None] = dict.fromkeys(VIEWS)
        albedo = out.get("albedo", out.get("image"))
        if albedo is not None:
            images["albedo"] = _to_uint8(albedo[0], scale)
        normal = self._view_normal(out, float(strength))
        if normal is not None:
            from aucgan.render.normals import encode_normal
            from aucgan.render.shading import lambert

            images["shaded"] = _to_uint8(lambert(normal, light)[0].expand(3, -1, -1), scale)
            images["normal"] = _to_uint8(encode_normal(normal)[0], scale)
        images["render"] = _to_uint8(self.relight(albedo, normal, light)[0], scale)
        moved = self.moved_aus(source, target)
        images["change"], legend = self.change_view(source, x, y, moved, scale)
        images["photo"] = self.paste_back(source, out, scale)
        maps = {k: v[0] for k, v in out.items()}
        if "displacement" in out and "normal" not in out:
            from aucgan.render.normals import displacement_to_normal, encode_normal

            maps["normal"] = encode_normal(displacement_to_normal(out["displacement"], 1.0))[0]
        return EditResult(images, maps, target, legend, time.perf_counter() - start)

    def _view_normal(self, maps: Mapping[str, torch.Tensor], strength: float) -> torch.Tensor | None:
        from aucgan.render.normals import decode_normal, displacement_to_normal

        if "displacement" in maps:
            return displacement_to_normal(maps["displacement"], strength)
        if "normal" in maps:
            return decode_normal(maps["normal"])
        return None

    def relight(self, albedo: torch.Tensor | None, normal: torch.Tensor | None,
                light: Sequence[float], ambient: float = 0.3) -> torch.Tensor:
        """Albedo (grey when the model has none) under second-order SH lighting (an ambient term plus a
        distant light from ``light``, scaled so a flat surface keeps its albedo) over the normals."""
        from aucgan.render.sh import ambient_sh, directional_sh, flat_shading, shade

        s = self.size
        if albedo is None:
            albedo = torch.full((1, 3, s, s), 0.7)
        if normal is None:
            normal = torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(1, 3, s, s)
        sh = ambient_sh(ambient) + directional_sh(light)
        sh = sh / flat_shading(sh).mean()
        return shade(albedo.float(), normal.float(), sh).clamp(0.0, 1.0)

    def change_view(self, source: Source, x: torch.Tensor, y: torch.Tensor, moved: Sequence[str],
                    scale: int) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """|output - source| (mean over channels, network units) in magma, with the footprints of the moved
        AUs outlined; returns the image and the (AU, colour) legend."""
        heat = _enlarge(heat_colours((y - x).abs().mean(dim=1)[0]), scale)
        legend = []
        if moved:
            fp = self.editor.footprints(source.landmarks)[0].float().cpu()
            idx = au_indices(moved, self.au_names)
            big = F.interpolate(fp[idx][None], scale_factor=scale, mode="bilinear", align_corners=False)[0]
            for j, (code, mask) in enumerate(zip(moved, big)):
                name, rgb = OUTLINE_COLOURS[j % len(OUTLINE_COLOURS)]
                edge = outline(mask > 0.5).numpy()
                heat[edge] = rgb
                legend.append((code, name))
        return heat, legend

    def prototype(self, emotion: str, intensity: float = 3.0) -> np.ndarray:
        """The AU vector of an emotion prototype (member AUs at ``intensity``, others 0)."""
        if emotion not in EMOTIONS:
            raise UIError(f"unknown expression {emotion!r}; valid: {', '.join(EMOTIONS)}")
        try:
            return prototype_vector(emotion, float(intensity), self.au_names)
        except (AUError, TypeError, ValueError) as exc:
            raise UIError(f"prototype intensity: {exc}") from None

    # -------------------------------------------------------------------------------------- downloads
    def au_record(self, source: Source, target: Sequence[float]) -> dict:
        """The AU vector as JSON-ready data (readable back as an upload's source AUs)."""
        vec = self.target_vector(target)
        return {"au": {c: round(float(v), 3) for c, v in zip(self.au_names, vec)},
                "spec": format_au(vec, self.au_names), "au_set": list(self.au_names), "source": source.label,
                "source_au": {c: round(float(v), 3) for c, v in zip(self.au_names, source.au)},
                "checkpoint": str(self.run_dir), "step": int(self.editor.step)}

    def save_au_json(self, source: Source, target: Sequence[float], folder: str | Path) -> Path:
        """Write the AU vector to ``folder/au.json`` and return its path."""
        from aucgan.fsutil import atomic_write_text

        path = Path(folder) / "au.json"
        atomic_write_text(path, json.dumps(self.au_record(source, target), indent=1))
        return path

    def export_maps(self, source: Source, result: EditResult, folder: str | Path) -> Path:
        """Write the edited maps in the export format (``aucgan export-maps`` where installed, else as
        ``aucgan generate`` writes them) plus ``au.json`` into ``folder/aucgan-edit.zip``; return its path."""
        from aucgan.fsutil import atomic_write

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        au = {c: round(float(v), 3) for c, v in zip(self.au_names, result.target)}
        meta = {"checkpoint": str(self.run_dir), "step": int(self.editor.step), "source": source.label,
                "source_au": format_au(source.au, self.au_names)}
        try:
            from aucgan.export.maps import write_map_set
        except ImportError:
            written = self._write_generate_format(result, folder, au, meta)
        else:
            maps = {k: v for k, v in result.maps.items() if k in ("albedo", "displacement")}
            landmarks = self.editor.default_landmarks if source.landmarks is None else source.landmarks
            sidecar = write_map_set(folder, maps, landmarks=landmarks, au=au, meta=meta, prefix="edited")
            written = [folder / name for name in sidecar["files"].values()] + [folder / "edited.json"]
        written.append(self.save_au_json(source, result.target, folder))

        def write(tmp: Path) -> None:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in written:
                    zf.write(f, f.name)

        return atomic_write(folder / "aucgan-edit.zip", write)

    def _write_generate_format(self, result: EditResult, folder: Path, au: dict, meta: dict) -> list[Path]:
        from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE, save_displacement, save_rgb

        written = []
        for name, tensor in result.maps.items():
            f = folder / f"edited_{name}.png"
            if name == "displacement":
                save_displacement(f, tensor)
            else:
                save_rgb(f, tensor)
            written.append(f)
        sidecar = {**meta, "target_au": au, "normal_strength": 1.0, "files": [f.name for f in written],
                   "displacement": {"scale": DEFAULT_DISP_SCALE, "offset": DEFAULT_DISP_OFFSET}}
        (folder / "edited.json").write_text(json.dumps(sidecar, indent=1))
        return [*written, folder / "edited.json"]
