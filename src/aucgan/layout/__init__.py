"""Layouts: named 68-point iBUG landmarks in layout coordinates (0..1, x right, y down), and the region atlas.

A layout is a 2-D map space (a UV layout or an aligned image crop). Nothing else in aucgan knows
pixel positions: region masks and AU footprints are derived from these landmarks. FLAME's UV space is read
from a DECA data/ folder by :mod:`aucgan.layout.flame`.
"""

from aucgan.layout.atlas import (
    FOOTPRINT_AUS,
    REGION_NAMES,
    RegionAtlas,
    au_footprints,
    face_mask,
    region_masks,
)
from aucgan.layout.landmarks import (
    IBUG_GROUPS,
    Layout,
    LayoutError,
    LayoutVariation,
    canonical_layout,
    load_layout,
    resize_mask,
    validate_landmarks,
    vary_landmarks,
    vary_layout,
)

__all__ = [
    "FOOTPRINT_AUS", "IBUG_GROUPS", "REGION_NAMES", "Layout", "LayoutError", "LayoutVariation", "RegionAtlas",
    "au_footprints", "canonical_layout", "face_mask", "load_layout", "region_masks", "resize_mask",
    "validate_landmarks",
    "vary_landmarks", "vary_layout",
]
