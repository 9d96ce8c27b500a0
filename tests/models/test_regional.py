"""Local branches + cascade, local patch discriminators, per-region style codes, landmark heatmaps."""

import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.layout.atlas import au_footprints
from aucgan.layout.heatmaps import HEATMAP_CHANNELS, LANDMARK_DIM, landmark_heatmaps
from aucgan.layout.landmarks import canonical_layout
from aucgan.models.discriminator import build_discriminator
from aucgan.models.generator import MapGenerator
from aucgan.models.patch import GlobalLocalDiscriminator, LocalDiscriminators, crop_boxes, region_boxes
from aucgan.models.regional import LOCAL_REGIONS, RegionalGenerator, region_au_indices
from aucgan.models.sean import RegionStyleGenerator, region_mask, swap_region_codes
from aucgan.nn.layers import NetworkConfigError

S, C, K, B = 32, 4, len(AU_NAMES), 2
SMALL = dict(num_aus=K, base_channels=8, max_channels=16, num_down=2, latent_dim=8, image_size=S, cond_hidden=8)


def landmarks(n: int = B, seed: int = 0) -> torch.Tensor:
    base = torch.as_tensor(canonical_layout().landmarks, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    return base + 0.01 * torch.randn(n, 68, 2, generator=gen)


def inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(B, C, S, S, generator=gen) * 2 - 1
    au = torch.rand(B, K, generator=gen)
    return x, au, au_footprints(landmarks(B, seed), (S, S))


def glob(**kw) -> MapGenerator:
    torch.manual_seed(0)
    return MapGenerator(C, C, **{**SMALL, **kw})


def test_region_indices_follow_the_au_set():
    idx = region_au_indices(tuple(LOCAL_REGIONS), AU_NAMES)
    assert [AU_NAMES[i] for i in idx["nose"]] == ["AU09"]
    assert region_au_indices(("eyes",), ("AU06", "AU12"))["eyes"] == [0]
    with pytest.raises(NetworkConfigError, match="valid: brows"):
        region_au_indices(("ears",), AU_NAMES)
    with pytest.raises(NetworkConfigError, match="none of its AUs"):
        region_au_indices(("nose",), ("AU12",))


def test_regional_generator_shapes_gradients_and_fusion():
    G = RegionalGenerator(glob(), AU_NAMES, local_channels=8, local_num_down=2)
    x, au, fp = inputs()
    out = G(x, au, fp)
    assert out["out"].shape == (B, C, S, S) and out["local_weight"].shape == (B, 1, S, S)
    w = out["local_weight"]
    # outside every region the global branch alone; inside, the local branches
    outside = w == 0
    assert outside.any() and (w > 0.99).any()
    assert torch.equal(out["out"][outside.expand_as(out["out"])], out["global"][outside.expand_as(out["global"])])
    out["out"].square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in G.local["mouth"].parameters()
               if p.requires_grad and p.dim() > 1)
    # a mouth-region AU moves the mouth branch's condition; the brow branch does not see it
    G.zero_grad()
    enc = G.encode(x)
    d1 = G.decode(enc, au, fp)["out"]
    assert torch.allclose(d1, G(x, au, fp)["out"])


def test_cascade_applies_the_change_in_steps():
    torch.manual_seed(1)
    one = RegionalGenerator(glob(), AU_NAMES, regions=("mouth",), local_channels=8)
    three = RegionalGenerator(glob(), AU_NAMES, regions=("mouth",), local_channels=8, cascade_steps=3)
    three.load_state_dict(one.state_dict())
    x, au, fp = inputs(1)
    src = torch.zeros_like(au)
    a, b = one(x, au, fp, source_au=src)["out"], three(x, au, fp, source_au=src)["out"]
    assert a.shape == b.shape and not torch.allclose(a, b)
    # the cascade is three single steps of a third of the change each
    cur, cur_au = x, src
    for i in (1, 2, 3):
        step = src + (au - src) * i / 3
        cur = one(cur, step, fp, source_au=cur_au)["out"]
        cur_au = step
    assert torch.allclose(cur, b, atol=1e-5)
    b.mean().backward()
    with pytest.raises(NetworkConfigError, match="cascade_steps"):
        RegionalGenerator(glob(), AU_NAMES, cascade_steps=0)


def test_region_boxes_and_crops():
    masks = torch.zeros(1, 2, 8, 8)
    masks[0, 0, 2:4, 4:8] = 1.0           # rows 2-3, cols 4-7
    boxes = region_boxes(masks, margin=0.0)
    cx, cy, hw, hh = boxes[0, 0].tolist()
    assert (cx, cy, hw, hh) == pytest.approx((0.5, -0.25, 0.5, 0.25))
    assert boxes[0, 1].tolist() == [0.0, 0.0, 1.0, 1.0]  # empty mask: whole map
    x = torch.arange(64.0).view(1, 1, 8, 8)
    full = crop_boxes(x, boxes[:, 1], 8)
    assert torch.allclose(full, x, atol=1e-4)


@pytest.mark.parametrize("kind", ["concat", "projection", "aux_regressor", "projection_aux"])
def test_local_discriminators(kind):
    torch.manual_seed(0)
    patches = LocalDiscriminators(kind, C, AU_NAMES, ("eyes", "mouth"), patch_size=16, base_channels=8,
                                  max_channels=16, num_down=3)
    D = GlobalLocalDiscriminator(build_discriminator(kind, C, num_aus=K, base_channels=8, max_channels=16,
                                                     num_down=3, image_size=S), patches)
    x, au, fp = inputs()
    x.requires_grad_(True)
    assert D(x, au).score.shape == (B,)
    out = D.local(x, au, fp)
    assert set(out) == {"eyes", "mouth"}
    for r, d in out.items():
        assert d.score.shape == (B,)
        if d.au_pred is not None:
            assert d.au_pred.shape == (B, len(patches.index[r]))
    sum(d.score.sum() for d in out.values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # the eye crop sees the eyes only: changing the chin leaves the eye verdict unchanged
    if kind != "aux_regressor":
        x2 = x.detach().clone()
        x2[:, :, -4:] += 1.0
        same = D.local(x2, au, fp)["eyes"].score
        assert torch.allclose(same, out["eyes"].score.detach(), atol=1e-6)


def test_local_discriminators_condition_on_region_aus_only():
    torch.manual_seed(0)
    patches = LocalDiscriminators("projection", C, AU_NAMES, ("brows",), patch_size=16, base_channels=8,
                                  max_channels=16, num_down=3)
    x, au, fp = inputs()
    mouth_au = au.clone()
    mouth_au[:, AU_NAMES.index("AU12")] += 0.5
    brow_au = au.clone()
    brow_au[:, AU_NAMES.index("AU01")] += 0.5
    base = patches(x, au, fp)["brows"].score
    assert torch.allclose(patches(x, mouth_au, fp)["brows"].score, base)
    assert not torch.allclose(patches(x, brow_au, fp)["brows"].score, base)


def test_region_style_codes_swap_changes_only_that_region():
    G = RegionStyleGenerator(glob(conditioning=["adain", "spade_au"]), AU_NAMES, style_dim=8)
    x, au, fp = inputs(0)
    donor, _, fp_donor = inputs(5)
    codes = G.style_codes(x, fp)
    assert codes.shape == (B, len(LOCAL_REGIONS), 8)
    plain = G(x, au, fp)
    assert torch.allclose(plain["out"], G.decode(G.encode(x), au, fp)["out"])
    swapped = swap_region_codes(G, x, donor, au, fp, fp_donor, "mouth")["out"]
    change = (swapped - plain["out"]).abs().amax(dim=1, keepdim=True)
    mask = region_mask(G, fp, "mouth", (S, S))
    reach = torch.nn.functional.max_pool2d((mask > 0).float(), 3, stride=1, padding=1)  # + the head's 1 px
    assert change[reach > 0].max() > 1e-3
    assert change[reach == 0].max() < 1e-5
    # gradients reach the style encoder and the region weights
    swapped.mean().backward()
    assert G.encoder[0].weight.grad.abs().sum() > 0 and G.weight[str(G.style_levels[0])].grad.abs().sum() > 0
    with pytest.raises(NetworkConfigError, match="unknown style region"):
        swap_region_codes(G, x, donor, au, fp, fp_donor, "ears")


def test_landmark_heatmaps_and_generator_channels():
    lm = landmarks(2)
    hm = landmark_heatmaps(lm, (S, S))
    assert hm.shape == (2, HEATMAP_CHANNELS, S, S) and float(hm.max()) <= 1.0 and float(hm.amax(dim=(2, 3)).min()) > 0.5
    assert torch.allclose(landmark_heatmaps(lm.reshape(2, LANDMARK_DIM), (S, S)), hm)
    G = glob(extra_dim=LANDMARK_DIM + 1, landmark_heatmaps=True)
    x, au, fp = inputs()
    extra = torch.cat([torch.zeros(B, 1), lm.reshape(B, -1)], dim=1)
    moved = torch.cat([torch.zeros(B, 1), (lm + 0.03).reshape(B, -1)], dim=1)
    a, b = G(x, au, extra=extra)["out"], G(x, au, extra=moved)["out"]
    assert not torch.allclose(a, b)
    assert torch.allclose(G.decode(G.encode(x), au, extra=extra)["out"], a)
    with pytest.raises(NetworkConfigError, match="landmark"):
        glob(extra_dim=3, landmark_heatmaps=True)
