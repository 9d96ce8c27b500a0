"""paired_fidelity's figures that do not assume the atlas: whole-map scores and truth-region locality."""

import pytest
import torch

from aucgan.metrics.paired import change_scores, round_score, truth_region


def _pair():
    g = torch.Generator().manual_seed(0)
    source = torch.rand(2, 1, 16, 16, generator=g)
    truth = source.clone()
    truth[:, :, 2:6, 2:6] += 0.5                      # a change inside the footprint
    truth[:, :, 10:14, 10:14] -= 0.5                  # and one outside it
    mask = torch.zeros(2, 1, 16, 16)
    mask[:, :, :8, :8] = 1.0
    return source, truth, mask


def test_whole_map_scores_see_the_change_outside_the_footprint():
    source, truth, mask = _pair()
    inside_only = source.clone()
    inside_only[:, :, :8, :8] = truth[:, :, :8, :8]
    s = change_scores(inside_only, source, truth, mask)
    assert s["explained"] == pytest.approx(1.0) and s["cosine"] == pytest.approx(1.0)
    assert s["explained_whole"] == pytest.approx(0.5) and s["amplitude_whole"] == pytest.approx(0.5 ** 0.5)
    assert s["locality_truth"] == pytest.approx(1.0)
    exact = change_scores(truth, source, truth, mask)
    assert exact["explained_whole"] == pytest.approx(1.0) and exact["cosine_whole"] == pytest.approx(1.0)
    nothing = change_scores(source, source, truth, mask)
    assert nothing["explained_whole"] == 0.0 and nothing["amplitude_whole"] == 0.0
    assert nothing["locality_truth"] != nothing["locality_truth"]          # NaN: the edit changed nothing


def test_locality_against_the_truths_own_region():
    source, truth, mask = _pair()
    region = truth_region(source, truth)
    assert region.shape == (2, 1, 16, 16)
    assert float(region[0, 0, 2:6, 2:6].min()) == 1.0 and float(region[0, 0, 1, 1]) == 1.0   # grown a pixel
    assert float(region[0, 0, 8, 2]) == 0.0
    stray = truth.clone()
    stray[:, :, 0, 12:16] += 1.0                      # paints where the truth does not change
    s = change_scores(stray, source, truth, mask)
    assert 0.5 < s["locality_truth"] < 0.95 and s["truth_region"] == pytest.approx(float(region.mean()))


def test_scores_keep_six_significant_digits_so_tiny_outside_errors_keep_their_ratio():
    assert round_score(2.591234e-05) == 2.59123e-05 and round_score(6.3e-06) / round_score(2.591234e-05) == \
        pytest.approx(6.3e-06 / 2.591234e-05, rel=1e-5)
    assert round_score(0.49923351) == 0.499234 and round_score(-1.5) == -1.5
    assert round_score(float("nan")) is None and round_score(None) is None
