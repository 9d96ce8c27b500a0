"""Editing photos: detect, unwrap into the layout, edit with a trained generator, paste the change back.

The photo texture enters the model as its ``albedo`` (and ``image``) map; a ``displacement`` input is neutral
(zero) and a ``normal`` input flat, since a photo has no measured geometry detail. The generator runs twice in
one batch, at the source AUs and at the target AUs, and only the *difference* of the two outputs reaches the
photo: what the model cannot reconstruct of a photo (its domain gap) cancels. The colour difference is added
to the photo texture, and the displacement difference (wrinkles and folds are geometry) is applied as a change
of shading: the texture is multiplied by ``lambert(edited normals) / lambert(source normals)`` under a light
from the front and above (:data:`EDIT_LIGHT`). The result is pasted back with
:meth:`aucgan.photo.warp.PhotoWarp.paste_back`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aucgan.photo.au_estimate import estimate_aus
from aucgan.photo.landmarks import FaceLandmarks, FaceMeshDetector, PhotoError, as_rgb_uint8
from aucgan.photo.warp import PhotoWarp
from aucgan.render.normals import displacement_to_normal
from aucgan.render.shading import lambert


def fill_invisible(texture: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``texture`` (C, S, S) with pixels where ``visible`` is 0 filled from their surroundings (OpenCV Telea)."""
    import cv2

    rgb = as_rgb_uint8(texture)
    hole = (visible[0].numpy() <= 0).astype(np.uint8)
    if not hole.any():
        return texture.clone()
    if hole.all():
        return torch.full_like(texture, 0.5)
    filled = cv2.inpaint(rgb, hole, 3, cv2.INPAINT_TELEA)
    out = torch.from_numpy(filled.astype(np.float32) / 255.0).permute(2, 0, 1)[: texture.shape[0]]
    return torch.where(visible > 0, texture, out)


def training_domain(run_dir: str | Path) -> str:
    """``"photo"``, ``"synthetic"`` or ``"unknown"``: what the run was trained on (from ``RUN/data.json``)."""
    from aucgan.data.folder import is_synth_folder
    from aucgan.errors import AucganError
    from aucgan.rundir.files import recorded_data_path

    try:
        path = recorded_data_path(run_dir)
    except AucganError:
        return "unknown"
    if path is None:
        return "unknown"
    if is_synth_folder(path):
        return "synthetic"
    card = path / "dataset.json" if path.is_dir() else path.parent / "dataset.json"
    try:
        if json.loads(card.read_text()).get("format") == "aucgan-photo":
            return "photo"
    except (OSError, ValueError, AttributeError):
        pass
    return "unknown"


#: Light for turning displacement changes into shading changes on photos (front, slightly above).
EDIT_LIGHT: tuple[float, float, float] = (0.0, -0.35, 1.0)
SHADING_RATIO_RANGE = (0.5, 1.5)

DOMAIN_WARNING = ("the model was trained on the synthetic benchmark, not on photo textures: expect a domain gap "
                  "(edits follow the synthetic maps' look; train on a set made by `aucgan prepare` for photos)")


@dataclass
class PhotoFace:
    """A photo analysed for editing: the face, its layout texture, visibility and the filled model input."""

    photo: torch.Tensor
    face: FaceLandmarks
    texture: torch.Tensor
    visible: torch.Tensor
    filled: torch.Tensor
    source_au: dict[str, float] = field(default_factory=dict)


class PhotoEditor:
    """A trained generator (:class:`aucgan.inference.Editor`) applied to face photos."""

    def __init__(self, run_dir: str | Path, device: str = "cpu", min_score: float = 0.5,
                 shading_strength: float = 3.0) -> None:
        """``shading_strength``: slope exaggeration of displacement changes shown as shading (0: colour only;
        3 is what aucgan's previews use)."""
        from aucgan.inference import Editor

        self.editor = Editor.from_run(run_dir, device)
        if self.editor.layout is not None:
            raise PhotoError(f"{run_dir}: photos are unwrapped into aucgan's built-in layout, but this run works in "
                             f"layout {self.editor.layout.name!r} (RUN/layout.json); edit its maps with "
                             "`aucgan generate` instead")
        self.warp = PhotoWarp(self.editor.size)
        self.detector = FaceMeshDetector(min_score=min_score)
        self.domain = training_domain(run_dir)
        self.shading_strength = float(shading_strength)
        self.warnings = [DOMAIN_WARNING] if self.domain == "synthetic" else []

    @property
    def au_names(self) -> tuple[str, ...]:
        return self.editor.au_names

    def analyse(self, photo: torch.Tensor, where: str = "photo") -> PhotoFace:
        """Detect the face of ``photo`` (3, H, W) in 0..1 and unwrap it into the model's layout."""
        face = self.detector.detect(photo, where=where)
        tex, vis = self.warp.unwrap(photo, face)
        return PhotoFace(photo, face, tex, vis, fill_invisible(tex, vis), estimate_aus(face.ibug68))

    def source_vector(self, pf: PhotoFace, source_au: dict[str, float] | None = None) -> np.ndarray:
        """Source AUs (model order): ``source_au`` if given, else the landmark-geometry estimate (0 elsewhere)."""
        known = pf.source_au if source_au is None else source_au
        return np.array([known.get(a, 0.0) for a in self.au_names], np.float32)

    def model_maps(self, pf: PhotoFace) -> dict[str, torch.Tensor]:
        """The map set the model reads: photo texture as albedo/image, neutral displacement, flat normals."""
        s = self.editor.size
        maps = {"albedo": pf.filled, "image": pf.filled, "displacement": torch.zeros(1, s, s),
                "normal": torch.tensor([0.5, 0.5, 1.0]).view(3, 1, 1).expand(3, s, s)}
        return {k: maps[k] for k in self.editor.codec.maps}

    def _colour(self, out: dict[str, torch.Tensor]) -> torch.Tensor | None:
        return out.get("albedo", out.get("image"))

    def edit_targets(self, pf: PhotoFace, source: np.ndarray, targets: np.ndarray) -> list[torch.Tensor]:
        """Edited photos (3, H, W) for each row of ``targets`` (N, K) intensities 0..5."""
        batch = np.concatenate([source[None], targets], axis=0)
        outs = self.editor.edit_batch(self.editor.prepare(self.model_maps(pf)), batch, source_au=source[None])
        base = outs[0]
        result = []
        for o in outs[1:]:
            colour, base_colour = self._colour(o), self._colour(base)
            tex = pf.filled if colour is None else pf.filled + (colour - base_colour)
            if "displacement" in o and self.shading_strength > 0:
                tex = tex * self.shading_ratio(o["displacement"], base["displacement"])
            result.append(self.warp.paste_back(pf.photo, tex.clamp(0, 1), pf.face, source_texture=pf.filled,
                                               valid=pf.visible))
        return result

    def shading_ratio(self, disp: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """(1, S, S) shading of ``disp`` over shading of ``base`` (1, S, S displacements) under :data:`EDIT_LIGHT`."""
        pair = torch.stack([disp, base]).float()
        shade = lambert(displacement_to_normal(pair, self.shading_strength), EDIT_LIGHT)
        return (shade[0] / shade[1].clamp_min(1e-3)).clamp(*SHADING_RATIO_RANGE)

    def edit(self, pf: PhotoFace, changes: dict[str, float], source_au: dict[str, float] | None = None
             ) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """Edited photo, source and target AU vectors for AU ``changes`` (absolute targets, e.g. AU12=3)."""
        source = self.source_vector(pf, source_au)
        target = self.editor.target_vector(source, changes)
        return self.edit_targets(pf, source, target[None])[0], source, target

    def sweep(self, pf: PhotoFace, au: str, values: Sequence[float] = (0, 1, 2, 3, 4, 5),
              source_au: dict[str, float] | None = None) -> list[torch.Tensor]:
        """Edited photos with ``au`` set to each of ``values`` (other AUs at the source values)."""
        from aucgan.au import au_indices

        source = self.source_vector(pf, source_au)
        targets = np.repeat(source[None], len(values), axis=0)
        targets[:, au_indices([au], self.au_names)[0]] = np.asarray(values, np.float32)
        return self.edit_targets(pf, source, targets)


def face_crop(photo: torch.Tensor, face: FaceLandmarks, margin: float = 1.5) -> tuple[int, int, int, int]:
    """A square (x0, y0, x1, y1) around the face mesh grown by ``margin``, clipped to the photo."""
    h, w = photo.shape[-2:]
    pts = face.mesh[:, :2]
    (ax, ay), (bx, by) = pts.min(axis=0), pts.max(axis=0)
    cx, cy, half = 0.5 * (ax + bx), 0.5 * (ay + by), 0.5 * margin * max(bx - ax, by - ay)
    return (int(max(0, cx - half)), int(max(0, cy - half)), int(min(w, cx + half)), int(min(h, cy + half)))


def strip(photos: Sequence[torch.Tensor], box: tuple[int, int, int, int], height: int = 192) -> torch.Tensor:
    """The ``box`` of each photo, resized to ``height``, side by side: (3, height, N * width)."""
    x0, y0, x1, y1 = box
    tiles = []
    for p in photos:
        tile = p[:, y0:y1, x0:x1][None]
        width = max(1, round(height * (x1 - x0) / max(1, y1 - y0)))
        tiles.append(torch.nn.functional.interpolate(tile, size=(height, width), mode="bilinear",
                                                     antialias=True, align_corners=False)[0])
    return torch.cat(tiles, dim=2).clamp(0, 1)
