"""Photo tests need the photo extra (MediaPipe, scikit-image); without it they are skipped with the reason."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mediapipe", reason="photo extra not installed: pip install 'aucgan[photo]'")
skimage_data = pytest.importorskip("skimage.data", reason="photo extra not installed: pip install 'aucgan[photo]'")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut photo (512x512 RGB uint8): a real face, shipped with the package."""
    return skimage_data.astronaut()


@pytest.fixture(scope="session")
def detector():
    from aucgan.photo.landmarks import FaceMeshDetector

    with FaceMeshDetector() as det:
        yield det


@pytest.fixture(scope="session")
def astronaut_face(astronaut, detector):
    return detector.detect(astronaut, where="astronaut")
