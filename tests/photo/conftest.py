"""Photo tests need the photo extra (MediaPipe, scikit-image); each module skips with the reason without it."""

from __future__ import annotations

import numpy as np
import pytest

EXTRA = "photo extra not installed: pip install 'aucgan[photo]'"


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (512x512 RGB uint8): a real face, shipped with the package."""
    skimage_data = pytest.importorskip("skimage.data", reason=EXTRA)
    return skimage_data.astronaut()


@pytest.fixture(scope="session")
def detector():
    pytest.importorskip("mediapipe", reason=EXTRA)
    from aucgan.photo.landmarks import FaceMeshDetector

    with FaceMeshDetector() as det:
        yield det


@pytest.fixture(scope="session")
def astronaut_face(astronaut, detector):
    return detector.detect(astronaut, where="astronaut")
