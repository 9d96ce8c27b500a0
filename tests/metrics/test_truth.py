"""Ground truth of the synthetic benchmark: renders reproduce the stored maps; an oracle scores zero."""

from __future__ import annotations

import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.data.codec import MapCodec
from aucgan.data.datasets import open_dataset
from aucgan.metrics.context import EvalContext
from aucgan.metrics.registry import compute_metric
from aucgan.metrics.truth import SynthTruth, TruthError
from aucgan.training.data import TrainData

from tests.metrics.test_metrics import ToyG

CODEC = MapCodec(maps=("displacement", "albedo"), disp_scale=0.02)


def _test_data(bench):
    ds = open_dataset(bench, split="test", size=(32, 32), au_names=AU_NAMES, preload=True)
    return TrainData(ds, CODEC, AU_NAMES, 32)


def test_render_of_a_sample_with_its_own_aus_is_the_stored_sample(tiny_bench):
    data = _test_data(tiny_bench)
    truth = SynthTruth(tiny_bench, CODEC, AU_NAMES, 32)
    ids = data.ids[:5]
    gt = truth.render(ids, data.au[:5] * 5.0, ids)
    assert gt.shape == data.x[:5].shape
    assert torch.allclose(gt, data.x[:5], atol=1e-6)
    # another target changes the maps where the AUs act
    other = truth.render(ids, torch.full((5, len(AU_NAMES)), 4.0), ids)
    assert (other - gt).abs().mean() > 1e-3


def test_neutral_depends_on_the_identity_only(tiny_bench):
    truth = SynthTruth(tiny_bench, CODEC, AU_NAMES, 32)
    data = _test_data(tiny_bench)
    first = int(data.identity[0])
    same = [i for i in range(len(data)) if int(data.identity[i]) == first]
    other = next(i for i in range(len(data)) if int(data.identity[i]) != first)
    neutral = truth.neutral([data.ids[i] for i in [*same, other]])
    assert len(same) >= 2
    assert all(torch.equal(neutral[0], neutral[j]) for j in range(1, len(same)))
    assert not torch.allclose(neutral[0], neutral[-1])
    expressive = max(same, key=lambda i: float(data.au[i].sum()))
    assert (neutral[same.index(expressive)] - data.x[expressive]).abs().mean() > 1e-3


def test_paired_fidelity_of_an_oracle_generator_on_the_benchmark_is_zero(tiny_bench):
    data = _test_data(tiny_bench)
    truth = SynthTruth(tiny_bench, CODEC, AU_NAMES, 32)
    lookup = {tuple(x.flatten()[:64].tolist()): sid for x, sid in zip(data.x, data.ids)}

    class Oracle(ToyG):
        """Renders the truth for the source (found by its maps) and the target AUs."""

        def forward(self, x, au, fp, source_au=None):
            ids = [lookup[tuple(xi.flatten()[:64].tolist())] for xi in x]
            return {"out": truth.render(ids, au * 5.0, None)}

    ctx = EvalContext(G=Oracle(), codec=CODEC, au_names=tuple(AU_NAMES), data=data, truth=truth,
                      num_samples=6)
    result = compute_metric("paired_fidelity", ctx)
    assert result["world"] == "default"
    s = result["summary"]
    # the oracle renders the source's emotion, the truth the target's: albedo flush may differ, geometry not
    assert s["l1_footprint/displacement"] == pytest.approx(0.0, abs=1e-6)
    assert s["source_l1_footprint/displacement"] > 1e-4
    for edit_set in ("add", "remove", "transfer"):       # the figures that do not assume the footprints
        assert s[f"explained_whole/displacement/{edit_set}"] == pytest.approx(1.0, abs=1e-5)
        assert s[f"locality_truth/displacement/{edit_set}"] > 0.99


def test_in_the_strain_world_an_oracle_explains_the_whole_map_and_do_nothing_scores_zero(tmp_path):
    from aucgan.data.synth import SynthConfig, write_dataset

    bench = write_dataset(tmp_path / "strain", identities=4, expressions=3, size=32, seed=3, test_fraction=0.5,
                          config=SynthConfig(world="strain"))
    data = _test_data(bench)
    truth = SynthTruth(bench, CODEC, AU_NAMES, 32)
    assert truth.config.world == "strain"
    lookup = {tuple(x.flatten()[:64].tolist()): sid for x, sid in zip(data.x, data.ids)}

    class Oracle(ToyG):
        def forward(self, x, au, fp, source_au=None):
            ids = [lookup[tuple(xi.flatten()[:64].tolist())] for xi in x]
            return {"out": truth.render(ids, au * 5.0, None)}

    class Idle(ToyG):
        def forward(self, x, au, fp, source_au=None):
            return {"out": x}

    results = {}
    for name, g in (("oracle", Oracle()), ("idle", Idle())):
        ctx = EvalContext(G=g, codec=CODEC, au_names=tuple(AU_NAMES), data=data, truth=truth, num_samples=6)
        results[name] = compute_metric("paired_fidelity", ctx)
    assert results["oracle"]["world"] == "strain"
    oracle, idle = results["oracle"]["summary"], results["idle"]["summary"]
    assert oracle["explained_whole/displacement/transfer"] == pytest.approx(1.0, abs=1e-5)
    assert idle["explained_whole/displacement/transfer"] == 0.0
    assert idle["explained_whole/albedo/transfer"] == 0.0


def test_a_folder_that_is_not_a_benchmark_is_refused(tmp_path):
    (tmp_path / "dataset.json").write_text("{}")
    with pytest.raises(TruthError, match="dataset.json"):
        SynthTruth(tmp_path, CODEC, AU_NAMES, 32)


def test_a_card_with_an_unknown_world_is_refused(tiny_bench, tmp_path):
    import json
    import shutil

    bench = tmp_path / "bench"
    shutil.copytree(tiny_bench, bench)
    card = json.loads((bench / "dataset.json").read_text())
    (bench / "dataset.json").write_text(json.dumps({**card, "world": "wrinkly"}))
    with pytest.raises(TruthError, match=r"dataset.json: unknown world 'wrinkly'; valid: default, strain"):
        SynthTruth(bench, CODEC, AU_NAMES, 32)
