import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES, AUError
from aucgan.cli import main
from aucgan.layout.atlas import (
    FOOTPRINT_AUS,
    REGION_NAMES,
    RegionAtlas,
    au_footprints,
    face_mask,
    pixel_grid,
    region_masks,
    soft_capsule,
    soft_ellipse,
    soft_polygon,
)
from aucgan.layout.landmarks import Layout, LayoutVariation, canonical_layout, vary_landmarks

SIZE = (32, 32)


def _lm(variation: LayoutVariation | None = None) -> torch.Tensor:
    pts = canonical_layout().landmarks
    return torch.as_tensor(pts if variation is None else vary_landmarks(pts, variation))


def _centre_of_mass(mask: torch.Tensor) -> torch.Tensor:
    h, w = mask.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    total = mask.sum()
    return torch.stack([(mask * xs).sum() / total, (mask * ys).sum() / total])


def test_shapes_ranges_and_peaks():
    lm = torch.stack([_lm(), _lm(LayoutVariation(face_width=1.04, eye_distance=0.01))])
    regions = region_masks(lm, SIZE)
    prints = au_footprints(lm, SIZE)
    face = face_mask(lm, SIZE)
    assert regions.shape == (2, len(REGION_NAMES), 32, 32)
    assert prints.shape == (2, len(AU_NAMES), 32, 32)
    assert face.shape == (2, 1, 32, 32)
    for masks in (regions, prints, face):
        assert float(masks.min()) >= 0.0 and float(masks.max()) <= 1.0
        peaks = masks.amax(dim=(2, 3))
        assert bool((peaks > 0.99).all()), peaks
    # every footprint is exactly zero somewhere far from where it acts (most of the map)
    assert bool(((prints == 0).float().mean(dim=(2, 3)) > 0.5).all())


def test_single_landmark_set_gets_a_batch_dimension_and_numpy_works():
    a = au_footprints(canonical_layout().landmarks, SIZE, ["AU12"])
    b = au_footprints(_lm()[None], SIZE, ["AU12"])
    assert a.shape == (1, 1, 32, 32)
    torch.testing.assert_close(a, b)


def test_footprints_sit_where_the_anatomy_says():
    lm = _lm()
    fp = dict(zip(AU_NAMES, au_footprints(lm, (64, 64))[0]))
    y = {code: float(_centre_of_mass(m)[1]) / 64 for code, m in fp.items()}
    brow_y, eye_y = float(lm[17:27, 1].mean()), float(lm[36:48, 1].mean())
    mouth_y, chin_y = float(lm[48:60, 1].mean()), float(lm[8, 1])
    assert y["AU01"] < brow_y and y["AU02"] < brow_y            # forehead
    assert abs(y["AU45"] - eye_y) < 0.03 and y["AU05"] < y["AU07"]  # lids: upper above lower
    assert abs(y["AU25"] - mouth_y) < 0.03
    assert mouth_y < y["AU17"] < chin_y                         # chin
    assert y["AU04"] < eye_y < y["AU06"] < mouth_y
    # AU01 is central, AU02 lateral
    x01 = (fp["AU01"] * (torch.arange(64) - 31.5).abs()).sum() / fp["AU01"].sum()
    x02 = (fp["AU02"] * (torch.arange(64) - 31.5).abs()).sum() / fp["AU02"].sum()
    assert x02 > x01 + 5


def test_left_is_smaller_x():
    regions = dict(zip(REGION_NAMES, region_masks(_lm(), (64, 64))[0]))
    for part in ("brow", "eye", "cheek", "nasolabial"):
        assert _centre_of_mass(regions[f"{part}_left"])[0] < 32 < _centre_of_mass(regions[f"{part}_right"])[0]


@pytest.mark.parametrize("code", AU_NAMES)
def test_footprints_move_with_landmarks(code):
    base = _lm()
    moved = _lm(LayoutVariation(offset=(0.06, 0.04)))
    fp = au_footprints(torch.stack([base, moved]), (64, 64), [code])
    shift = _centre_of_mass(fp[1, 0]) - _centre_of_mass(fp[0, 0])
    assert abs(float(shift[0]) - 0.06 * 64) < 1.0 and abs(float(shift[1]) - 0.04 * 64) < 1.5, shift


def test_footprints_follow_identity_geometry():
    wide = _lm(LayoutVariation(mouth_width=1.25))
    narrow = _lm(LayoutVariation(mouth_width=0.8))
    fp = au_footprints(torch.stack([wide, narrow]), (64, 64), ["AU14"])
    cols = fp[:, 0].sum(dim=1)                       # (2, W) mass per column
    xs = torch.arange(64, dtype=torch.float32)
    spread = [float(((xs - 31.5).abs() * c).sum() / c.sum()) for c in cols]
    assert spread[0] > spread[1] + 2                 # dimples sit further apart on the wider mouth


def test_au_names_by_alias_and_extra_aus():
    a = au_footprints(_lm(), SIZE, ["AU6", "12", "AU24", "AU28"])
    b = au_footprints(_lm(), SIZE, ["AU06", "AU12", "AU24", "AU28"])
    torch.testing.assert_close(a, b)
    assert float(a[0, 2].max()) > 0.99 and float(a[0, 3].max()) > 0.99
    assert set(AU_NAMES) < set(FOOTPRINT_AUS)
    with pytest.raises(AUError, match="AU43"):
        au_footprints(_lm(), SIZE, ["AU43"])


def test_bad_landmark_shape_is_refused():
    with pytest.raises(ValueError, match="68, 2"):
        region_masks(torch.zeros(2, 60, 2), SIZE)


def test_primitives():
    X, Y = pixel_grid((16, 16))
    centre = torch.tensor([[0.5, 0.5]])
    e = soft_ellipse(X, Y, centre, torch.tensor([[0.25, 0.1]]), torch.tensor([[1.0, 0.0]]))
    assert float(e[0, 8, 8]) == 1.0 and float(e[0, 0, 0]) == 0.0
    assert float(e[0, 8, 12]) > float(e[0, 12, 8])     # wider than tall
    cap = soft_capsule(X, Y, torch.tensor([[[0.2, 0.5], [0.8, 0.5]]]), torch.tensor([0.1]))
    assert float(cap[0, 8, 3]) == 1.0 and float(cap[0, 8, 13]) == 1.0 and float(cap[0, 1, 8]) == 0.0
    square = torch.tensor([[[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]])
    poly = soft_polygon(X, Y, square, torch.tensor([0.02]))
    assert float(poly[0, 8, 8]) == 1.0 and float(poly[0, 1, 1]) == 0.0


def test_region_atlas_uses_the_layout_and_its_mask():
    layout = canonical_layout(32)
    atlas = RegionAtlas(layout)
    assert atlas.regions().shape == (len(REGION_NAMES), 32, 32)
    assert atlas.footprints((16, 16), ["AU12"]).shape == (1, 16, 16)
    torch.testing.assert_close(atlas.face(), face_mask(layout.landmarks, (32, 32))[0], atol=0.02, rtol=0)
    square = np.array([[0.3, 0.3], [0.7, 0.3], [0.7, 0.7], [0.3, 0.7]], np.float32)
    custom = Layout(name="m", landmarks=layout.landmarks, size=(32, 32), mask_polygon=square)
    masked = RegionAtlas(custom).face()
    assert float(masked[0, 16, 16]) == 1.0 and float(masked[0, 2, 16]) == 0.0


def test_atlas_cli_writes_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "atlas.png"
    layout = tmp_path / "layout.json"
    canonical_layout(64).save(layout)
    assert main(["atlas", "--layout", str(layout), "--size", "48", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    before = out.stat().st_mtime_ns
    assert main(["atlas", "--size", "48", "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err and out.stat().st_mtime_ns == before
    assert main(["atlas", "--size", "48", "--out", str(out), "--force"]) == 0
    assert main(["atlas", "--layout", str(tmp_path / "missing.json"), "--out", str(tmp_path / "b.png")]) == 2
    assert "no such layout file" in capsys.readouterr().err
