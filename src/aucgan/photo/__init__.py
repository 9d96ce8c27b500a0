"""Face photos in aucgan's layout: landmarks, unwrap, AU edits pasted back, training sets from photo folders.

Needs the optional extra ``pip install 'aucgan[photo]'`` (MediaPipe 0.10.14 with its bundled models,
scikit-image for the test photo). Modules: :mod:`~aucgan.photo.landmarks` (detection, face mesh, the
MediaPipe -> iBUG 68 mapping), :mod:`~aucgan.photo.mesh` (canonical layout positions of the mesh),
:mod:`~aucgan.photo.warp` (unwrap / rewarp / paste back), :mod:`~aucgan.photo.au_estimate` (approximate AUs
from landmark geometry), :mod:`~aucgan.photo.edit` (editing with a trained generator),
:mod:`~aucgan.photo.prepare` (photo folder -> data set).
"""

from aucgan.photo.landmarks import MP_TO_IBUG68, FaceLandmarks, FaceMeshDetector, NoFaceError, PhotoError

__all__ = ["MP_TO_IBUG68", "FaceLandmarks", "FaceMeshDetector", "NoFaceError", "PhotoError"]
