"""What the page shows: slider groups, the light, outlines, the map views and the change heatmap."""

from __future__ import annotations

import numpy as np
import torch

from aucgan.au import AU_NAMES
from aucgan.ui.views import (
    DEFAULT_AZIMUTH,
    DEFAULT_TILT,
    OUTLINE_COLOURS,
    change_view,
    group_aus,
    light_direction,
    map_views,
    outline,
)


def test_groups_cover_every_au_once_in_region_order():
    groups = group_aus(AU_NAMES)
    codes = [c for _, cs in groups for c in cs]
    assert sorted(codes) == sorted(AU_NAMES) and len(codes) == len(AU_NAMES)
    assert groups[0] == ("Forehead and brows", ["AU01", "AU02", "AU04"])
    assert group_aus(["AU12", "AU06"]) == [("Eyes and lids", ["AU06"]), ("Upper lip and cheeks", ["AU12"])]


def test_light_direction():
    d = np.array(light_direction(DEFAULT_AZIMUTH, DEFAULT_TILT))
    assert np.isclose(np.linalg.norm(d), 1.0)
    assert d[0] < 0 and d[1] < 0 and d[2] > 0          # upper left, in front
    assert np.allclose(light_direction(90, 90), (1, 0, 0), atol=0.02)   # grazing from the right
    assert np.allclose(light_direction(123, 0), (0, 0, 1))


def test_outline_is_the_boundary():
    m = torch.zeros(9, 9, dtype=torch.bool)
    m[2:7, 2:7] = True
    edge = outline(m)
    assert edge.sum() == 16 and not edge[4, 4] and edge[2, 4] and not edge[0, 0]


def test_map_views_follow_the_maps_the_model_has():
    g = torch.Generator().manual_seed(0)
    maps = {"albedo": torch.rand(1, 3, 16, 16, generator=g), "displacement": 0.01 * torch.randn(1, 1, 16, 16,
                                                                                                 generator=g)}
    light = light_direction(DEFAULT_AZIMUTH, DEFAULT_TILT)
    views = map_views(maps, light, 3.0, 16, scale=4)
    assert all(views[v].shape == (64, 64, 3) and views[v].dtype == np.uint8 for v in views)
    assert np.array_equal(views["albedo"][::4, ::4], (maps["albedo"][0].permute(1, 2, 0).numpy() * 255 + 0.5)
                          .astype(np.uint8))
    grey = map_views({"displacement": maps["displacement"]}, light, 3.0, 16, scale=1)
    assert grey["albedo"] is None and grey["shaded"] is not None and grey["render"].shape == (16, 16, 3)
    flat = map_views({"albedo": maps["albedo"]}, light, 3.0, 16, scale=1)
    assert flat["shaded"] is None and flat["normal"] is None


def test_change_view_outlines_only_the_moved_aus():
    x = torch.zeros(1, 4, 16, 16)
    y = x.clone()
    y[..., 4:8, 4:8] = 0.5                                            # a change inside AU02's block
    fp = torch.zeros(len(AU_NAMES), 16, 16)
    fp[1, 3:9, 3:9] = 1.0
    fp[0, 10:14, 10:14] = 1.0
    heat, legend = change_view(x, y, fp, AU_NAMES, ["AU02"], scale=2)
    assert heat.shape == (32, 32, 3) and legend == [("AU02", OUTLINE_COLOURS[0][0])]
    cyan = (heat == OUTLINE_COLOURS[0][1]).all(axis=-1)
    assert cyan[6, 6:18].all() and not cyan[20:28, 20:28].any()      # AU02's square outlined, AU01's not
    assert (heat[10, 10] != heat[30, 30]).any()                       # changed pixels are coloured
    plain, none = change_view(x, y, fp, AU_NAMES, [], scale=2)
    assert none == [] and not (plain == OUTLINE_COLOURS[0][1]).all(axis=-1).any()
