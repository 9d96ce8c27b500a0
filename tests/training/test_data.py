"""TrainData's sampling: repeat-factor weights for rare AUs and the batches drawn with them."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from aucgan.data.codec import MapCodec
from aucgan.data.datasets import open_dataset
from aucgan.errors import AucganError
from aucgan.training.data import TrainData


def _set(root, au01, au12):
    """Ten 8 px samples of two people with the given AU01 / AU12 intensities (0..5)."""
    (root / "maps").mkdir(parents=True)
    rows = ["id,identity,albedo,displacement,AU01,AU12"]
    for i, (a, b) in enumerate(zip(au01, au12, strict=True)):
        Image.fromarray(np.full((8, 8, 3), 20 * i, np.uint8)).save(root / "maps" / f"s{i}_albedo.png")
        Image.fromarray(np.full((8, 8), 30000, np.uint16)).save(root / "maps" / f"s{i}_displacement.png")
        rows.append(f"s{i},p{i % 2},maps/s{i}_albedo.png,maps/s{i}_displacement.png,{a},{b}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return TrainData(open_dataset(root, au_names=["AU01", "AU12"]), MapCodec(), ["AU01", "AU12"], 8)


@pytest.fixture
def data(tmp_path):
    # AU01 present (>= 1) in half the samples, AU12 in one; sample 9 reads AU12 at 0.5 (absent)
    return _set(tmp_path / "d", au01=[2, 3, 1, 4, 5, 0, 0, 0, 0, 0], au12=[0, 0, 0, 0, 0, 3, 0, 0, 0, 0.5])


def test_repeat_factors_follow_lvis_rule(data):
    r = data.repeat_factors(0.4)
    rare = math.sqrt(0.4 / 0.1)              # AU12 in 1 of 10 samples
    assert r.shape == (10,)
    assert torch.allclose(r[:5], torch.ones(5))               # AU01 in half the samples: above the threshold
    assert float(r[5]) == pytest.approx(rare)                  # the one AU12 sample
    assert torch.allclose(r[6:], torch.ones(4))                # nothing present (0.5 is below presence)
    # a threshold below every AU's share repeats nothing
    assert torch.allclose(data.repeat_factors(0.05), torch.ones(10))


def test_a_sample_with_several_rare_aus_takes_the_largest_factor(tmp_path):
    # AU01 present in 4 of 10 samples, AU12 in 2; sample 0 has both
    data = _set(tmp_path / "b", au01=[3, 2, 2, 2, 0, 0, 0, 0, 0, 0], au12=[4, 0, 0, 0, 3, 0, 0, 0, 0, 0])
    r = data.repeat_factors(0.8)
    assert float(r[0]) == pytest.approx(math.sqrt(0.8 / 0.2))      # AU12's factor, not AU01's sqrt(2)
    assert float(r[1]) == pytest.approx(math.sqrt(0.8 / 0.4))
    assert float(r[4]) == pytest.approx(math.sqrt(0.8 / 0.2))


def test_repeat_threshold_must_be_a_share(data):
    with pytest.raises(AucganError, match="threshold"):
        data.repeat_factors(0.0)
    with pytest.raises(AucganError, match="threshold"):
        data.repeat_factors(1.5)


def test_weighted_batches_draw_the_rare_sample_more_often(data):
    weights = data.repeat_factors(1.0)                         # AU12's sample sqrt(10) ~ 3.2x
    draws = torch.cat([data.random_batch(64, torch.Generator().manual_seed(s), weights=weights).index
                       for s in range(40)])
    share = float((draws == 5).float().mean())
    expected = float(weights[5] / weights.sum())               # 3.16 / 12.16 = 0.26
    assert share == pytest.approx(expected, abs=0.03)
    uniform = torch.cat([data.random_batch(64, torch.Generator().manual_seed(s)).index for s in range(40)])
    assert float((uniform == 5).float().mean()) == pytest.approx(0.1, abs=0.03)
    # seeded: the same generator state gives the same batch
    a = data.random_batch(8, torch.Generator().manual_seed(3), weights=weights)
    b = data.random_batch(8, torch.Generator().manual_seed(3), weights=weights)
    assert torch.equal(a.index, b.index) and torch.equal(a.x_pair, b.x_pair)
