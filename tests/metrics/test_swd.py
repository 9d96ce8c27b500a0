"""The sliced Wasserstein distance and its Laplacian pyramid (Karras et al. 2018)."""

import pytest
import torch

from aucgan.metrics.swd import SWDConfig, laplacian_pyramid, num_levels, pyr_up, sliced_wasserstein, swd


def _smooth(n: int, seed: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(n, 2, 8, 8, generator=g)
    return torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)


def test_laplacian_pyramid_reconstructs_the_image():
    x = torch.rand(2, 3, 32, 32)
    pyr = laplacian_pyramid(x, 3)
    assert [p.shape[-1] for p in pyr] == [32, 16, 8]
    rec = pyr[-1]
    for band in reversed(pyr[:-1]):
        rec = band + pyr_up(rec)
    assert torch.allclose(rec, x, atol=1e-5)


def test_levels_stop_at_16_px():
    assert num_levels(64) == 3 and num_levels(32) == 2 and num_levels(16) == 1 and num_levels(8) == 1


def test_sliced_wasserstein_of_a_shift_in_one_dimension_is_the_shift():
    a = torch.randn(500, 1)
    g = torch.Generator().manual_seed(0)
    assert sliced_wasserstein(a, a + 1.5, repeats=2, dirs=8, gen=g) == pytest.approx(1.5, rel=1e-6)
    shuffled = a[torch.randperm(500)]
    assert sliced_wasserstein(a, shuffled, repeats=2, dirs=8, gen=g) == pytest.approx(0.0, abs=1e-9)


def test_swd_same_distribution_small_other_distributions_large():
    cfg = SWDConfig(nhoods_per_image=64, dirs_per_repeat=64)
    ref, same = _smooth(48, 0), _smooth(48, 1)
    floor = swd(ref, same, config=cfg)
    assert floor["resolutions"] == [32, 16] and len(floor["per_level"]) == 2
    noise = 0.5 * torch.randn(same.shape, generator=torch.Generator().manual_seed(2))
    noisy = swd(ref, same + noise, config=cfg)
    flat = swd(ref, same * 0.3, config=cfg)    # amplitude counts: standardised by the reference statistics
    assert noisy["mean"] > 3 * floor["mean"] and flat["mean"] > 3 * floor["mean"]
    assert swd(ref, same, config=cfg) == floor                    # seeded: the same figure twice


def test_swd_needs_equal_sets():
    with pytest.raises(ValueError, match="equal-shaped"):
        swd(torch.zeros(4, 1, 32, 32), torch.zeros(5, 1, 32, 32))
