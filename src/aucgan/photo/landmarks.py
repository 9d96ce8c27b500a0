"""Face detection and the MediaPipe face mesh (468 points + 10 iris points), CPU, bundled models only.

MediaPipe 0.10.14 ships its detector and mesh models inside the wheel (``mediapipe/modules/...``), so nothing
is downloaded. The short and full-range BlazeFace detectors (both run; their boxes are merged) give a score
and a box per face; the largest face is chosen and the face mesh runs on a crop around it, so the mesh
always belongs to the chosen face.

:data:`MP_TO_IBUG68` picks the 68 iBUG landmarks out of the 468 mesh vertices (the correspondence used by
dlib <-> MediaPipe converters; every index was checked on a real photo: eye corners 33/133 and 362/263,
mouth corners 61/291, chin 152, nose tip 4).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from aucgan.errors import AucganError

NUM_MESH = 468
NUM_MESH_IRIS = 478

#: iBUG 68 point i is mesh vertex ``MP_TO_IBUG68[i]`` (viewer's left = the subject's right side).
MP_TO_IBUG68: tuple[int, ...] = (
    127, 234, 93, 132, 58, 136, 150, 176, 152, 400, 379, 365, 288, 361, 323, 454, 356,  # jaw 0-16
    70, 63, 105, 66, 107,                                                              # left brow 17-21
    336, 296, 334, 293, 300,                                                           # right brow 22-26
    168, 197, 5, 4,                                                                    # nose bridge 27-30
    75, 97, 2, 326, 305,                                                               # nose base 31-35
    33, 160, 158, 133, 153, 144,                                                       # left eye 36-41
    362, 385, 387, 263, 373, 380,                                                      # right eye 42-47
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,                               # outer lips 48-59
    78, 82, 13, 312, 308, 317, 14, 87,                                                 # inner lips 60-67
)


class PhotoError(AucganError):
    """A photo that cannot be used (unreadable, no face, face too small) or a missing photo extra."""


class NoFaceError(PhotoError):
    """No face was found in a photo."""


@dataclass(frozen=True)
class FaceLandmarks:
    """One face in a photo of ``image_size`` (H, W): mesh vertices in pixels (x, y, depth), box and score.

    ``mesh``: (468, 3) float32, x/y in pixels of the full photo, z in pixels (MediaPipe's relative depth,
    smaller = nearer the camera). ``box``: (x0, y0, x1, y1) pixels of the detection. ``score``: the
    detector's confidence 0..1.
    """

    mesh: np.ndarray = field(repr=False)
    box: tuple[float, float, float, float]
    score: float
    image_size: tuple[int, int]
    faces_found: int = 1

    @property
    def ibug68(self) -> np.ndarray:
        """(68, 2) iBUG landmarks in pixels."""
        return self.mesh[list(MP_TO_IBUG68), :2]

    @property
    def face_size(self) -> float:
        """Face scale in pixels: the distance between the outer eye corners."""
        pts = self.ibug68
        return float(np.linalg.norm(pts[45] - pts[36]))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence MediaPipe's native log lines (TFLite/absl write to file descriptor 2) and its Python warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no real stderr (e.g. an embedded interpreter): nothing to silence
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


def _import_mediapipe():
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        with _quiet():
            import mediapipe as mp
    except ImportError as exc:
        raise PhotoError("photos need the optional extra: pip install 'aucgan[photo]' "
                         f"(mediapipe 0.10.14; import failed: {exc})") from None
    return mp


def as_rgb_uint8(image) -> np.ndarray:
    """An HxWx3 uint8 RGB array from a uint8/float array (HxW, HxWx3/4) or a 3xHxW float tensor in 0..1."""
    arr = image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        arr = arr.transpose(1, 2, 0)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise PhotoError(f"expected an RGB image (HxWx3), got an array of shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    arr = arr[:, :, :3]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)


class FaceMeshDetector:
    """MediaPipe face detection + face mesh on CPU; :meth:`detect` returns the largest face.

    ``min_score``: detections below it are ignored (a photo whose only faces are below it raises
    :class:`NoFaceError` saying so). ``crop_margin``: the mesh runs on the face box grown by this factor.
    """

    def __init__(self, min_score: float = 0.5, crop_margin: float = 1.8) -> None:
        mp = _import_mediapipe()
        self.min_score = float(min_score)
        self.crop_margin = float(crop_margin)
        with _quiet():
            self._detectors = [mp.solutions.face_detection.FaceDetection(model_selection=m,
                                                                         min_detection_confidence=0.2)
                               for m in (0, 1)]
            self._mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1,
                                                         refine_landmarks=True, min_detection_confidence=0.2)
            blank = np.zeros((64, 64, 3), np.uint8)  # opens every graph now, while its log lines are silenced
            for graph in (*self._detectors, self._mesh):
                graph.process(blank)

    def close(self) -> None:
        for d in self._detectors:
            d.close()
        self._mesh.close()

    def __enter__(self) -> FaceMeshDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _boxes(self, rgb: np.ndarray) -> list[tuple[float, tuple[float, float, float, float]]]:
        h, w = rgb.shape[:2]
        found: list[tuple[float, tuple[float, float, float, float]]] = []
        for det in self._detectors:
            with _quiet():
                result = det.process(rgb)
            for d in result.detections or []:
                b = d.location_data.relative_bounding_box
                box = (b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h)
                if not any(_iou(box, other) > 0.3 for _, other in found):
                    found.append((float(d.score[0]), box))
        return found

    def detect(self, image, where: str = "photo") -> FaceLandmarks:
        """The largest face of ``image`` (see :func:`as_rgb_uint8`); :class:`NoFaceError` when there is none."""
        rgb = as_rgb_uint8(image)
        h, w = rgb.shape[:2]
        if min(h, w) < 32:
            raise PhotoError(f"{where}: image is {w}x{h} px; faces need at least 32 px")
        boxes = self._boxes(rgb)
        if not boxes:
            raise NoFaceError(f"{where}: no face found")
        good = [(s, b) for s, b in boxes if s >= self.min_score]
        if not good:
            best = max(s for s, _ in boxes)
            raise NoFaceError(f"{where}: no face with detector confidence >= {self.min_score:g} "
                              f"(best {best:.2f}; low confidence)")
        score, box = max(good, key=lambda sb: (sb[1][2] - sb[1][0]) * (sb[1][3] - sb[1][1]))
        cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
        half = 0.5 * self.crop_margin * max(box[2] - box[0], box[3] - box[1])
        x0, y0 = int(max(0, np.floor(cx - half))), int(max(0, np.floor(cy - half)))
        x1, y1 = int(min(w, np.ceil(cx + half))), int(min(h, np.ceil(cy + half)))
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        with _quiet():
            result = self._mesh.process(crop)
        if not result.multi_face_landmarks:
            raise NoFaceError(f"{where}: a face was detected (confidence {score:.2f}) but the face mesh "
                              "could not be fitted")
        ch, cw = crop.shape[:2]
        pts = np.array([(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark], np.float32)
        mesh = np.empty((pts.shape[0], 3), np.float32)
        mesh[:, 0] = pts[:, 0] * cw + x0
        mesh[:, 1] = pts[:, 1] * ch + y0
        mesh[:, 2] = pts[:, 2] * cw
        return FaceLandmarks(mesh=mesh[:NUM_MESH_IRIS], box=box, score=score, image_size=(h, w),
                             faces_found=len(boxes))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
