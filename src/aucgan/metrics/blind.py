"""``identity_blind``: how much of the true change an edit can explain without reading the person.

The paired truth (:mod:`aucgan.metrics.paired`) is seen from the unedited source (explained 0). This metric
adds a second, stronger reference: for each edit of ``paired_fidelity``'s sets (the same sources, AUs and
levels), the source plus the per-pixel **median** of the true change that ``people`` *training* identities show
for the same edit (each rendered with the source's AU vector, then the target's, and the source's - or for
transfer the target's - expression). The per-pixel median minimises the expected L1 error over people, so this
is, up to the finite number of people, the best edit that knows the edit and not the person: a generator above
it reads the person from its input (where wrinkles form, how deep); one below it has not yet learnt even the
population's average change. It does not depend on the run's generator (scored once per data set and seed).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from aucgan.au import from_unit
from aucgan.metrics.context import EvalContext, EvalError, sample_ids
from aucgan.metrics.paired import CHANGE_KEYS, EditFn, round_score, score_edit_sets
from aucgan.metrics.registry import register_metric

#: Training people whose changes are pooled (odd: one median per pixel).
BLIND_PEOPLE = 15


def blind_edits(people: Sequence[str]) -> EditFn:
    """An edit function (:data:`aucgan.metrics.paired.EditFn`): the source plus the per-pixel median over
    ``people`` (sample ids, one per identity) of their true change for the same edit."""
    if not people:
        raise EvalError("identity_blind needs at least one training identity")

    def edit(ctx: EvalContext, src_idx: torch.Tensor, target: torch.Tensor, others: torch.Tensor | None
             ) -> torch.Tensor:
        ids = sample_ids(ctx, src_idx)
        expression_to = ids if others is None else sample_ids(ctx, others)
        source_au, target_au = from_unit(ctx.data.au[src_idx]), from_unit(target)
        changes = torch.stack([ctx.truth.render([p] * len(ids), target_au, expression_to).float()
                               - ctx.truth.render([p] * len(ids), source_au, ids).float() for p in people])
        return ctx.data.x[src_idx].float() + changes.median(dim=0).values

    return edit


@register_metric("identity_blind", needs=("truth",))
def identity_blind(ctx: EvalContext, people: int = BLIND_PEOPLE) -> dict:
    """The best edit that knows the edit but not the person, against the truth (a reference, not the run).

    Summary keys as ``paired_fidelity``'s (``explained/<map>/<set>``, ``explained_whole/...``, cosine,
    amplitude) for the median change of ``people`` training identities; 0 is not editing, 1 the truth."""
    assert ctx.truth is not None
    pool = getattr(ctx.truth, "people", None)
    train = list(pool("train")) if pool is not None else []
    if not train:
        raise EvalError("identity_blind: the benchmark lists no training identities")
    gen = torch.Generator().manual_seed(int(ctx.seed) * 7919 + 105)
    chosen = [train[i] for i in torch.randperm(len(train), generator=gen)[: min(people, len(train))].tolist()]
    sets = score_edit_sets(ctx, blind_edits(chosen))
    summary: dict[str, float | None] = {}
    for set_name, result in sets.items():
        for map_name, s in result["maps"].items():
            for key in CHANGE_KEYS:
                summary[f"{key}/{map_name}/{set_name}"] = round_score(s[key])
                summary[f"{key}_whole/{map_name}/{set_name}"] = round_score(s[f"{key}_whole"])
    return {"summary": summary, "sets": sets, "people": chosen,
            "num_pairs": {k: v["num_pairs"] for k, v in sets.items()},
            "reference": {"explained": 0.0, "cosine": 0.0, "amplitude": 0.0}}

