"""Piecewise-affine warps between a photo and the layout, over the mesh triangles of :mod:`aucgan.photo.mesh`.

- :meth:`PhotoWarp.unwrap`: photo -> layout texture (C, S, S) and a visibility mask (1, S, S): each layout
  pixel's triangle and barycentric coordinates are fixed per layout size, so unwrapping is one gather and one
  ``torch.nn.functional.grid_sample``. Visibility is 0 outside the mesh, in triangles that face away from the
  camera (folded in the photo) or fall outside the photo, and ramps down on triangles seen at a grazing angle.
- :meth:`PhotoWarp.rewarp`: layout -> photo: the front-facing triangles are rasterised in the photo (far ones
  first, so near ones win), each photo pixel gets its layout position by its triangle's inverse affine map,
  and ``grid_sample`` reads the layout texture there.
- :meth:`PhotoWarp.paste_back`: rewarp blended into the photo inside the face mask with a feathered edge.
  Given the unedited texture too, only the *change* is added to the photo, so untouched skin keeps the photo's
  own pixels and the seam carries no resampling blur.

Photos are (3, H, W) float tensors in 0..1; pixel (i, j) covers [j, j+1) x [i, i+1) (MediaPipe's convention).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from aucgan.photo.landmarks import NUM_MESH, FaceLandmarks, PhotoError
from aucgan.photo.mesh import MeshLayout, mesh_layout

GRAZING_LO, GRAZING_HI = 0.15, 0.45  # |normal.z| below LO: invisible; above HI: fully visible


@dataclass(frozen=True, eq=False)
class _Raster:
    tri: torch.Tensor        # (S*S,) triangle index, -1 outside the mesh
    bary: torch.Tensor       # (S*S, 3) barycentric coordinates


def _signed_area(p: np.ndarray, tri: np.ndarray) -> np.ndarray:
    a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


class PhotoWarp:
    """Unwrap photos into a layout of ``size`` px and paste layout textures back (see the module notes)."""

    def __init__(self, size: int = 128, mesh: MeshLayout | None = None) -> None:
        if size < 8:
            raise PhotoError(f"layout size must be >= 8 px, got {size}")
        self.size = int(size)
        self.mesh = mesh or mesh_layout()
        self.layout_vertices = self.mesh.vertices.astype(np.float64)
        self.triangles = self.mesh.triangles
        self._raster = self._rasterise_layout()
        self._layout_area = _signed_area(self.layout_vertices, self.triangles)

    def _rasterise_layout(self) -> _Raster:
        s = self.size
        c = (np.arange(s) + 0.5) / s
        pts = np.stack(np.meshgrid(c, c, indexing="xy"), axis=-1).reshape(-1, 2)
        tri = self.mesh.delaunay.find_simplex(pts)
        t = self.mesh.delaunay.transform[np.maximum(tri, 0)]
        b2 = np.einsum("nij,nj->ni", t[:, :2], pts - t[:, 2])
        bary = np.concatenate([b2, 1.0 - b2.sum(axis=1, keepdims=True)], axis=1)
        return _Raster(torch.from_numpy(tri.astype(np.int64)), torch.from_numpy(bary.astype(np.float32)))

    # ------------------------------------------------------------------------------ visibility

    def triangle_visibility(self, face: FaceLandmarks) -> np.ndarray:
        """(T,) 0..1 per triangle: 0 when folded in the photo, ramping with how squarely it faces the camera."""
        p = face.mesh[:NUM_MESH].astype(np.float64)
        tri = self.triangles
        same_side = np.sign(_signed_area(p[:, :2], tri)) == np.sign(self._layout_area)
        a, b, c = p[tri[:, 0]], p[tri[:, 1]], p[tri[:, 2]]
        n = np.cross(b - a, c - a)
        facing = np.abs(n[:, 2]) / np.maximum(np.linalg.norm(n, axis=1), 1e-12)
        ramp = np.clip((facing - GRAZING_LO) / (GRAZING_HI - GRAZING_LO), 0.0, 1.0)
        return np.where(same_side, ramp, 0.0)

    # ------------------------------------------------------------------------------ photo -> layout

    def unwrap(self, photo: torch.Tensor, face: FaceLandmarks) -> tuple[torch.Tensor, torch.Tensor]:
        """Layout texture (C, S, S) and visibility (1, S, S) of ``photo`` (C, H, W) with ``face`` fitted."""
        if photo.dim() != 3:
            raise PhotoError(f"expected a (C, H, W) photo tensor, got shape {tuple(photo.shape)}")
        h, w = photo.shape[-2:]
        if (h, w) != tuple(face.image_size):
            raise PhotoError(f"photo is {w}x{h} but the landmarks were found on a "
                             f"{face.image_size[1]}x{face.image_size[0]} image")
        verts = torch.from_numpy(face.mesh[:NUM_MESH, :2].astype(np.float32))
        photo, verts = self._prefilter(photo.float(), verts)
        ph, pw = photo.shape[-2:]
        inside = self._raster.tri >= 0
        tri = torch.from_numpy(self.triangles)[self._raster.tri.clamp(min=0)]        # (N, 3)
        pos = (verts[tri] * self._raster.bary[:, :, None]).sum(dim=1)                  # (N, 2) pixels
        grid = torch.stack([pos[:, 0] / pw * 2 - 1, pos[:, 1] / ph * 2 - 1], dim=-1)
        grid = grid.reshape(1, self.size, self.size, 2)
        tex = F.grid_sample(photo[None], grid, mode="bilinear", padding_mode="border", align_corners=False)[0]
        vis_tri = torch.from_numpy(self.triangle_visibility(face).astype(np.float32))
        vis = vis_tri[self._raster.tri.clamp(min=0)] * inside
        in_photo = (pos[:, 0] >= 0) & (pos[:, 0] <= pw) & (pos[:, 1] >= 0) & (pos[:, 1] <= ph)
        vis = (vis * in_photo).reshape(1, self.size, self.size)
        return tex * (vis > 0), vis

    def _prefilter(self, photo: torch.Tensor, verts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Crop the photo to the face and shrink it (antialiased) when the face is much larger than the layout."""
        h, w = photo.shape[-2:]
        lo, hi = verts.min(dim=0).values, verts.max(dim=0).values
        margin = 0.1 * float((hi - lo).max()) + 2.0
        x0, y0 = max(0, int(lo[0] - margin)), max(0, int(lo[1] - margin))
        x1, y1 = min(w, int(hi[0] + margin) + 1), min(h, int(hi[1] + margin) + 1)
        photo = photo[:, y0:y1, x0:x1]
        verts = verts - torch.tensor([x0, y0], dtype=verts.dtype)
        layout_span = float(np.ptp(self.layout_vertices, axis=0).max()) * self.size
        factor = float((hi - lo).max()) / max(layout_span, 1.0)
        if factor > 1.5:
            ch, cw = photo.shape[-2:]
            nh, nw = max(8, round(ch / factor)), max(8, round(cw / factor))
            photo = F.interpolate(photo[None], size=(nh, nw), mode="bilinear", antialias=True,
                                  align_corners=False)[0]
            verts = verts * torch.tensor([nw / cw, nh / ch], dtype=verts.dtype)
        return photo, verts

    # ------------------------------------------------------------------------------ layout -> photo

    def photo_map(self, face: FaceLandmarks) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]:
        """Layout coordinates (h, w, 2) in -1..1 of every photo pixel of the face's box, the coverage (1, h, w)
        with the triangle visibility, and the box (x0, y0, x1, y1) in photo pixels."""
        import cv2

        h, w = face.image_size
        p = face.mesh[:NUM_MESH].astype(np.float64)
        lo, hi = np.floor(p[:, :2].min(axis=0)), np.ceil(p[:, :2].max(axis=0))
        x0, y0 = int(max(0, lo[0])), int(max(0, lo[1]))
        x1, y1 = int(min(w, hi[0] + 1)), int(min(h, hi[1] + 1))
        if x1 - x0 < 2 or y1 - y0 < 2:
            raise PhotoError("the face mesh lies outside the photo")
        vis = self.triangle_visibility(face)
        order = [t for t in np.argsort(-p[self.triangles, 2].mean(axis=1)) if vis[t] > 0]  # far first
        ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
        shift = 4
        pts = np.round((p[:, :2] - [x0 + 0.5, y0 + 0.5]) * (1 << shift)).astype(np.int32)
        for t in order:
            cv2.fillConvexPoly(ids, pts[self.triangles[t]], int(t), lineType=cv2.LINE_8, shift=shift)
        # inverse affine per triangle: layout uv = A @ [x, y, 1] (photo pixel centres)
        src = p[self.triangles][:, :, :2]                                            # (T, 3, 2)
        dst = self.layout_vertices[self.triangles]                                   # (T, 3, 2)
        m = np.concatenate([src, np.ones((len(src), 3, 1))], axis=2)                 # (T, 3, 3)
        det_ok = np.abs(np.linalg.det(m)) > 1e-9
        m[~det_ok] = np.eye(3)
        affine = np.linalg.solve(m, dst)                                             # (T, 3, 2)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        sel = ids.clip(min=0)
        a = torch.from_numpy(affine[sel].astype(np.float32))                         # (h, w, 3, 2)
        xy1 = torch.from_numpy(np.stack([xx + 0.5, yy + 0.5, np.ones_like(xx)], axis=-1).astype(np.float32))
        uv = (xy1[..., :, None] * a).sum(dim=-2)
        cover = torch.from_numpy(np.where(ids >= 0, vis[sel], 0.0).astype(np.float32))[None]
        return uv * 2 - 1, cover, (x0, y0, x1, y1)

    def _rewarp_box(self, texture: torch.Tensor, face: FaceLandmarks, valid: torch.Tensor | None
                    ) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int]]:
        uv, cover, box = self.photo_map(face)
        grid = uv[None]
        img = F.grid_sample(texture.float()[None], grid, mode="bilinear", padding_mode="border",
                            align_corners=False)[0]
        if valid is not None:
            cover = cover * F.grid_sample(valid.float()[None], grid, mode="bilinear", padding_mode="zeros",
                                          align_corners=False)[0]
        return img * (cover > 0), cover, box

    def rewarp(self, texture: torch.Tensor, face: FaceLandmarks, valid: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Layout ``texture`` (C, S', S') drawn into the photo frame: (C, H, W) image (0 where the coverage is
        0) and (1, H, W) coverage.

        ``valid`` (1, S', S') 0..1 (e.g. the unwrap visibility) multiplies the coverage.
        """
        h, w = face.image_size
        img, cover, (x0, y0, x1, y1) = self._rewarp_box(texture, face, valid)
        out = torch.zeros(texture.shape[0], h, w)
        alpha = torch.zeros(1, h, w)
        out[:, y0:y1, x0:x1] = img
        alpha[:, y0:y1, x0:x1] = cover
        return out, alpha

    def paste_back(self, photo: torch.Tensor, texture: torch.Tensor, face: FaceLandmarks,
                   source_texture: torch.Tensor | None = None, valid: torch.Tensor | None = None,
                   feather: float = 0.04) -> torch.Tensor:
        """``photo`` (3, H, W) with the layout ``texture`` pasted in over the face, blended at a feathered edge.

        With ``source_texture`` (the unedited layout texture, same size), only ``texture - source_texture`` is
        added to the photo. ``feather``: edge width as a fraction of the face size (outer eye corners x 2.5).
        Only the face's box of the photo is touched.
        """
        import cv2

        if source_texture is not None and source_texture.shape != texture.shape:
            raise PhotoError(f"source texture {tuple(source_texture.shape)} and texture {tuple(texture.shape)} "
                             "differ in shape")
        delta = texture if source_texture is None else texture - source_texture
        warped, alpha, (x0, y0, x1, y1) = self._rewarp_box(delta, face, valid)
        a = alpha[0].numpy()
        radius = max(1.0, feather * 2.5 * face.face_size)
        k = int(2 * round(radius) + 1)
        inner = cv2.erode((a > 0.5).astype(np.uint8), np.ones((k, k), np.uint8), borderValue=0)
        soft = cv2.GaussianBlur(inner.astype(np.float32), (0, 0), sigmaX=radius / 2.0)
        weight = torch.from_numpy(np.minimum(soft, a))[None]
        out = photo.float().clone()
        region = out[:, y0:y1, x0:x1]
        if source_texture is None:
            out[:, y0:y1, x0:x1] = region * (1 - weight) + warped * weight
        else:
            out[:, y0:y1, x0:x1] = region + warped * weight
        return out.clamp(0, 1)
