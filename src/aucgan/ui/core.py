"""The editor session without Gradio: one model load, the edit of a source, its views and the downloads.

One :class:`EditorSession` per process holds the run's EMA generator as an :class:`aucgan.inference.Editor`.
A :class:`~aucgan.ui.sources.Source` (made by :class:`~aucgan.ui.sources.FaceSources`) is encoded once and
cached (:meth:`aucgan.inference.Editor.encode`); each slider move then only runs the generator's decoder
(:meth:`aucgan.inference.Editor.decode`) under ``torch.inference_mode`` and renders the views
(:mod:`aucgan.ui.views`). Bad input raises :class:`aucgan.ui.UIError`, whose message the page shows.
"""

from __future__ import annotations

import json
import threading
import time
import zipfile
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aucgan.au import EMOTIONS, AUError, au_vector, format_au, prototype_vector
from aucgan.errors import AucganError
from aucgan.inference import Editor, Encoding
from aucgan.render.views import VIEW_STRENGTH
from aucgan.ui import UIError
from aucgan.ui.sources import FaceSources, Source
from aucgan.ui.uploads import MAX_UPLOAD_MB
from aucgan.ui.views import (
    DEFAULT_AZIMUTH,
    DEFAULT_TILT,
    DISPLAY_SIZE,
    PHOTO_VIEW_HEIGHT,
    VIEWS,
    change_view,
    light_direction,
    map_views,
    to_uint8,
)

#: An AU counts as moved when its target differs from the source by more than this.
MOVED_THRESHOLD = 0.05
#: Encoded sources kept (the most recently used).
CACHED_SOURCES = 8


@dataclass
class EditResult:
    """One edit: the views (uint8 HxWx3 images; None where the model lacks the map), the edited maps
    (each CxSxS), the target AUs, the moved AUs with their outline colours, and the time it took."""

    images: dict[str, np.ndarray | None]
    maps: dict[str, torch.Tensor]
    target: np.ndarray
    moved: list[tuple[str, str]]
    seconds: float


class EditorSession:
    """The editor of one training run: model, sources and edits (thread-safe; one per process)."""

    def __init__(self, editor: Editor, run_dir: str | Path, data_path: str | Path | None = None,
                 max_upload_mb: float = MAX_UPLOAD_MB, seed: int = 0) -> None:
        self.editor = editor
        # channels-last convolutions: about 25 % less decoder time on CPU (oneDNN), same results
        self.editor.G.to(memory_format=torch.channels_last)
        self.run_dir = Path(run_dir)
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.sources = FaceSources(editor.codec.maps, editor.au_names, editor.size, self.run_dir, data_path,
                                   self.max_upload_bytes, seed, layout=editor.layout)
        self._encoded: OrderedDict[str, Encoding] = OrderedDict()
        self._reconstructed: dict[str, torch.Tensor] = {}
        self._lock = threading.RLock()

    @classmethod
    def open(cls, run_dir: str | Path, data: str | Path | None = None, device: str = "cpu",
             max_upload_mb: float = MAX_UPLOAD_MB, seed: int = 0) -> EditorSession:
        """Load a training run's EMA generator; :class:`UIError` naming the folder if it is not a usable run."""
        from aucgan.rundir.files import recorded_data_path

        run = Path(str(run_dir).strip())
        if not str(run_dir).strip() or not run.is_dir():
            raise UIError(f"{run}: no such run directory (expected an aucgan training run folder)")
        try:
            editor = Editor.from_run(run, device)
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
        return tuple(self.editor.extra_attrs)

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

    # -------------------------------------------------------------------------------------- the edit
    def _encoding(self, source: Source) -> Encoding:
        """The source encoded once, cached for the last :data:`CACHED_SOURCES` sources."""
        if source.key in self._encoded:
            self._encoded.move_to_end(source.key)
            return self._encoded[source.key]
        enc = self.editor.encode(source.maps, source.landmarks)
        self._encoded[source.key] = enc
        while len(self._encoded) > CACHED_SOURCES:
            old, _ = self._encoded.popitem(last=False)
            self._reconstructed.pop(old, None)
        return enc

    def _decode(self, source: Source, target: np.ndarray, extras: Mapping[str, object] | None) -> dict:
        """The generator's outputs for ``source`` towards ``target`` with the page's extra conditions (else the
        source's attributes; landmarks from the source, else the canonical layout's)."""
        enc = self._encoding(source)
        try:
            return self.editor.decode(enc, target, source.au, {**source.attrs, **(extras or {})}, where=source.label,
                                      source_attrs=self.editor.source_attrs(source.attrs))
        except UIError:
            raise
        except AucganError as exc:
            raise UIError(str(exc)) from None

    def target_vector(self, values: Sequence[float]) -> np.ndarray:
        """Slider values (the model's AU order) as a checked intensity vector."""
        vals = list(values)
        if len(vals) != len(self.au_names):
            raise UIError(f"{len(vals)} AU values for the model's {len(self.au_names)} AUs")
        try:
            return au_vector(dict(zip(self.au_names, (float(v) for v in vals))), self.au_names)
        except (AUError, TypeError, ValueError) as exc:
            raise UIError(f"AU values: {exc}") from None

    @torch.inference_mode()
    def edit(self, source: Source, target: Sequence[float] | np.ndarray,
             extras: Mapping[str, object] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(source, output) network tensors (1, C, S, S) for a target AU vector (0..5)."""
        with self._lock:
            out = self._decode(source, np.asarray(target, np.float32), extras)
            x = self._encoded[source.key].x
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
        out = self.editor.codec.decode(y)
        scale = max(1, DISPLAY_SIZE // self.size)
        images: dict[str, np.ndarray | None] = dict.fromkeys(VIEWS)
        images.update(map_views(out, light_direction(azimuth, tilt), strength, self.size, scale))
        footprints = self._encoded[source.key].footprints[0].float().cpu()
        images["change"], legend = change_view(x, y, footprints, self.au_names, self.moved_aus(source, target), scale)
        images["photo"] = self.paste_back(source, out)
        maps = {k: v[0] for k, v in out.items()}
        if "displacement" in out and "normal" not in out:
            from aucgan.render.normals import displacement_to_normal, encode_normal

            maps["normal"] = encode_normal(displacement_to_normal(out["displacement"], 1.0))[0]
        return EditResult(images, maps, target, legend, time.perf_counter() - start)

    def paste_back(self, source: Source, maps: Mapping[str, torch.Tensor]) -> np.ndarray | None:
        """The photo with the edit's change (edited minus reconstructed colour) pasted back, cropped to the face."""
        if source.photo is None:
            return None
        from aucgan.photo.edit import face_crop, strip

        colour = "albedo" if "albedo" in maps else "image"
        with self._lock:
            if source.key not in self._reconstructed:       # the reconstruction at the source AUs, once
                out = self._decode(source, source.au, None)
                self._reconstructed[source.key] = self.editor.codec.decode(out["out"].float().cpu())[colour]
            base = self._reconstructed[source.key]
            _, warp = self.sources.photo_tools
        ctx = source.photo
        pasted = warp.paste_back(ctx.image, maps[colour][0], ctx.face, source_texture=base[0], valid=ctx.visible)
        view = strip([pasted], face_crop(ctx.image, ctx.face), height=PHOTO_VIEW_HEIGHT)
        return to_uint8(view, 1)

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
        """Write the edited maps as ``aucgan export-maps`` does (prefix ``edited``: maps, normal map, turntable,
        ``edited.json``) plus ``au.json`` into ``folder/aucgan-edit.zip``; return its path."""
        from aucgan.export.maps import EXPORTED_MAPS, write_map_set
        from aucgan.fsutil import atomic_write

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        au = {c: round(float(v), 3) for c, v in zip(self.au_names, result.target)}
        meta = {"checkpoint": str(self.run_dir), "step": int(self.editor.step), "source": source.label,
                "source_au": format_au(source.au, self.au_names)}
        maps = {k: v for k, v in result.maps.items() if k in EXPORTED_MAPS}
        landmarks = self.editor.default_landmarks if source.landmarks is None else source.landmarks
        sidecar = write_map_set(folder, maps, landmarks=landmarks, au=au, meta=meta, prefix="edited")
        written = [folder / name for name in sidecar["files"].values()] + [folder / "edited.json"]
        written.append(self.save_au_json(source, result.target, folder))

        def write(tmp: Path) -> None:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in written:
                    zf.write(f, f.name)

        return atomic_write(folder / "aucgan-edit.zip", write)
