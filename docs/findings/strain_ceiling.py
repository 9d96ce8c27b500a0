"""What caps the edits in the strain world? Edits that know all of the person but one hidden part.

Usage: python docs/findings/strain_ceiling.py RUN [SAMPLES] [DONORS]

RUN: a run trained on a strain-world benchmark (``aucgan synth --world strain``); only its data set, held-out
split and codec are used, not its generator. For every edit of ``paired_fidelity`` (the same sources, AUs and
levels as ``aucgan eval RUN --samples SAMPLES``, default 48) each oracle renders the change of the source's own
person - own anatomy (not the tracker's landmarks), own skin material, own everything - except for the hidden
parts, which it takes from each of DONORS training people (default 15) in turn, and adds the per-pixel median
of those changes to the source: the L1-best edit that knows everything but the hidden parts (as the
``identity_blind`` reference is for a person that is hidden entirely). Hidden parts:

  lines    the person's wrinkle-line bank: where along the skin, at which phase and spacing lines form
  traits   the person's wrinkle threshold (strain) and depth
  muscles  the person's muscle draws: anchor offsets and strengths of every AU's displacement field

"none" hides nothing (a check: explained 1 up to quantisation). Prints explained / cosine / amplitude of the
displacement, whole map and inside the changed AUs' footprints, for add, remove and transfer, beside the
identity-blind reference. A removal's source shows the lines it removes, so hiding them understates what can
be done there; adding shows the ceiling of an edit that cannot see the hidden part in the source.

Then two more tables: the truth and the all-hidden oracle kept inside the changed AUs' footprints (grown by 0,
4 and 8 pixels: what a footprint-masked head can write), and the all-hidden oracle rendered without one part
of the change more (``aucgan.data.synth.strain.STRAIN_PARTS``: advection, deepening, lines, bulges).
Results: docs/findings.md, "What caps adding in the strain world".
"""

from __future__ import annotations

import sys
from dataclasses import replace
from functools import partial

import torch

HIDDEN = {"none": (), "lines": ("lines",), "traits": ("traits",), "muscles": ("muscles",),
          "lines+traits": ("lines", "traits"), "all three": ("lines", "traits", "muscles")}


class OracleTruth:
    """The benchmark's truth for the sources' own people with ``hide`` taken from ``donor`` (an identity index),
    rendering only ``parts`` of the change."""

    def __init__(self, truth, hide: tuple[str, ...], parts: frozenset[str] | None = None) -> None:
        from aucgan.data.synth.strain import STRAIN_PARTS, make_strain_identities

        self.truth, self.hide, self.donor = truth, hide, None
        self.parts = STRAIN_PARTS if parts is None else parts
        self._make = lambda idx: make_strain_identities(idx, truth.seed, truth.config)
        self._cache: dict[tuple[int, ...], object] = {}

    def _people(self, indices: tuple[int, ...]):
        if indices not in self._cache:
            self._cache[indices] = self._make(list(indices))
        return self._cache[indices]

    def _swapped(self, indices):
        from aucgan.data.synth.identity import _eye_fields, _mouth_fields, _noise
        from aucgan.data.synth.patterns import Patterns
        from aucgan.data.synth.strain import _BANK, _Muscles, _traits
        from aucgan.layout.atlas import FaceGeometry

        unique = tuple(sorted(set(indices)))
        own = self._people(unique)
        if self.donor is not None and self.hide:
            don, n, cfg = self._people((self.donor,)), len(unique), self.truth.config
            changes = {}
            if "lines" in self.hide:
                material = own.material.clone()
                material[:, _BANK:] = don.material[:, _BANK:]
                changes["material"] = material
            if "traits" in self.hide:
                traits = own.traits.clone()
                traits[:, :2] = don.traits[:, :2]
                changes["traits"] = traits
            if "muscles" in self.hide:
                g = FaceGeometry(own.anatomy, (cfg.size, cfg.size))
                noise = _noise(own.params, cfg.size)
                pat = Patterns(g, torch.empty(0), noise["chin"], cfg)
                _, jitter = _traits(don.params, cfg, don.scale)
                changes["fields"] = _Muscles(g, _eye_fields(g, pat.U), _mouth_fields(g),
                                             jitter.expand(n, *jitter.shape[1:]), cfg).fields().contiguous()
            own = replace(own, **changes)
        return own.take([unique.index(i) for i in indices])

    def render(self, source_ids, target_au: torch.Tensor, target_ids=None) -> torch.Tensor:
        from aucgan.data.synth.render import WORLD_RENDERERS
        from aucgan.data.synth.strain import render_strain

        original = self.truth._identities_for
        self.truth._identities_for = self._swapped
        WORLD_RENDERERS["strain"] = partial(render_strain, parts=self.parts)
        try:
            return self.truth.render(source_ids, target_au, target_ids)
        finally:
            self.truth._identities_for = original
            WORLD_RENDERERS["strain"] = render_strain


def oracle_edits(oracle: OracleTruth, donors: list[int], grow: int | None = None):
    """An ``EditFn``: the source plus the per-pixel median over ``donors`` of the oracle's change (kept inside
    the changed AUs' footprints grown by ``grow`` pixels, unless None)."""
    from aucgan.au import ACTIVE_UNIT, from_unit
    from aucgan.metrics.context import footprints_of, sample_ids, union_mask

    def edit(ctx, src_idx, target, others):
        ids = sample_ids(ctx, src_idx)
        expression_to = ids if others is None else sample_ids(ctx, others)
        source_au, target_au = from_unit(ctx.data.au[src_idx]), from_unit(target)
        changes = []
        for d in donors:
            oracle.donor = d
            changes.append(oracle.render(ids, target_au, expression_to).float()
                           - oracle.render(ids, source_au, ids).float())
        oracle.donor = None
        change = torch.stack(changes).median(dim=0).values
        if grow is not None:
            mask = union_mask(footprints_of(ctx, src_idx), (target - ctx.data.au[src_idx]).abs() > ACTIVE_UNIT)
            change = change * torch.nn.functional.max_pool2d(mask, 2 * grow + 1, stride=1, padding=grow)
        return ctx.data.x[src_idx].float() + change

    return edit


def main(run: str, samples: int, num_donors: int) -> None:
    from aucgan.data.synth.strain import STRAIN_PARTS
    from aucgan.metrics.blind import blind_edits
    from aucgan.metrics.evaluate import EvalOptions, build_context
    from aucgan.metrics.paired import score_edit_sets

    torch.set_num_threads(1)
    ctx = build_context(run, EvalOptions(num_samples=samples, device="cpu"), log=lambda _m: None)
    truth = ctx.truth
    if truth is None or getattr(truth.config, "world", "default") != "strain":
        sys.exit(f"{run}: not trained on a strain-world benchmark")
    train = truth.people("train")
    gen = torch.Generator().manual_seed(int(ctx.seed) * 7919 + 105)       # identity_blind's people
    chosen = [train[i] for i in torch.randperm(len(train), generator=gen)[: min(num_donors, len(train))].tolist()]
    donors = [truth._row(s)[0] for s in chosen]
    rows = {"identity-blind (the person hidden)": score_edit_sets(ctx, blind_edits(chosen))}
    for label, hide in HIDDEN.items():
        rows[f"hidden: {label}"] = score_edit_sets(ctx, oracle_edits(OracleTruth(truth, hide), donors))
    print(f"{run}: {samples} samples, {len(donors)} donors; displacement explained / cosine / amplitude, "
          "whole map [footprints]")
    _table(rows)
    rows = {}
    for label, hide in (("truth", ()), ("all three hidden", HIDDEN["all three"])):
        for grow in (0, 4, 8):
            oracle = oracle_edits(OracleTruth(truth, hide), donors if hide else donors[:1], grow)
            rows[f"{label}, inside footprints + {grow} px"] = score_edit_sets(ctx, oracle)
    print("kept inside the changed AUs' footprints (grown):")
    _table(rows)
    rows = {}
    for drop in (("lines",), ("advection",), ("advection", "deepening"), ("bulges",)):
        oracle = OracleTruth(truth, HIDDEN["all three"], STRAIN_PARTS - set(drop))
        rows[f"all three hidden, without {'+'.join(drop)}"] = score_edit_sets(ctx, oracle_edits(oracle, donors))
    print("the all-hidden oracle without parts of the change:")
    _table(rows)


def _table(rows: dict) -> None:
    for label, sets in rows.items():
        parts = []
        for name in ("add", "remove", "transfer"):
            s = sets[name]["maps"]["displacement"]
            parts.append(f"{name} {s['explained_whole']:.2f} / {s['cosine_whole']:.2f} / {s['amplitude_whole']:.2f}"
                         f" [{s['explained']:.2f}]")
        print(f"{label:<44} " + "   ".join(parts))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 48, int(sys.argv[3]) if len(sys.argv) > 3 else 15)
