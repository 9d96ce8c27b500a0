"""identity_blind: the median change of training people for the same edit, scored like paired_fidelity."""

from __future__ import annotations

import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.metrics.blind import blind_edits
from aucgan.metrics.context import EvalContext, decode, footprints_of
from aucgan.metrics.paired import change_scores
from aucgan.metrics.registry import compute_metric
from aucgan.metrics.truth import SynthTruth

from tests.metrics.test_metrics import ToyG
from tests.metrics.test_truth import CODEC, _test_data


def _ctx(bench) -> EvalContext:
    return EvalContext(G=ToyG(), codec=CODEC, au_names=tuple(AU_NAMES), data=_test_data(bench),
                       truth=SynthTruth(bench, CODEC, AU_NAMES, 32), num_samples=6)


def test_the_persons_own_change_is_the_truth(tiny_bench):
    """With the source's own person as the only one pooled, the blind edit is the true edit (explained 1);
    with other people it is not."""
    ctx = _ctx(tiny_bench)
    src = torch.tensor([0, 1])
    target = torch.full((2, len(AU_NAMES)), 0.8)
    truth = ctx.truth.render([ctx.data.ids[i] for i in src], target * 5.0).float()
    fp = footprints_of(ctx, src)
    mask = (fp > 0.05).any(1, keepdim=True).float()
    for people, expected in (([ctx.data.ids[0]], 1.0), (ctx.truth.people("train"), None)):
        edit = blind_edits(people)(ctx, src[:1], target[:1], None)
        s = change_scores(decode(ctx, edit)["displacement"], decode(ctx, ctx.data.x[:1])["displacement"],
                          decode(ctx, truth[:1])["displacement"], mask[:1])
        if expected is not None:
            assert s["explained_whole"] == pytest.approx(expected, abs=1e-5)
        else:
            assert s["explained_whole"] < 0.99


def test_metric_pools_training_people_and_is_seeded(tiny_bench):
    ctx = _ctx(tiny_bench)
    a, b = compute_metric("identity_blind", ctx), compute_metric("identity_blind", ctx)
    train = set(ctx.truth.people("train"))
    test_people = {ctx.truth.rows[i][0] for i in ctx.data.ids}
    assert a["people"] == b["people"] and set(a["people"]) <= train and len(a["people"]) == len(train)
    assert not {ctx.truth.rows[p][0] for p in a["people"]} & test_people
    assert a["summary"] == b["summary"]
    assert set(a["num_pairs"]) == {"transfer", "add", "remove"}
    for key in ("explained/displacement/transfer", "explained_whole/displacement/add", "cosine_whole/albedo/remove"):
        assert a["summary"][key] is not None and a["summary"][key] < 1.0
