"""The truth metric for detail decoders: AU edits against a DECA world's exact truth (``diagnose --truth``).

For source images of a DECA world (:mod:`aucgan.deca.world`), the decoder's edit is
``decode(the source's codes, target AUs)``, and the truth is the source identity's uv_z at the target AUs. The
decoder's own output for the source (``decode(codes, the source's OpenFace AUs)``) is "not editing"; the truth
is seen from it - ``decode(source) + (truth(target) - truth(source))`` - so the decoder's error in reconstructing
the source cancels and only the edit is scored. :func:`aucgan.metrics.paired.change_scores` gives, inside the
layout's face mask:

* ``explained = 1 - L1(edit, truth) / L1(not editing, truth)``: the share of the true change the edit
  reproduces (0: no better than not editing; 1: exact);
* ``cosine`` of the edit's change with the true change, ``amplitude`` = |edit's change| / |true change|.

Three edit sets, as for the synthetic benchmark's ``paired_fidelity``: ``add`` (one AU OpenFace reads below 0.5
set to 2..5), ``remove`` (one AU it reads at 1 or more set to 0) - the other AUs are OpenFace's for the decoder
and the true ones for the truth - and ``transfer`` (towards another image of the same person: its true AUs).
Three references beside each: not editing (0 by definition), **identity-blind** (the median over up to
:data:`BLIND_PEOPLE` of the world's *training* people of their own true change for the same edit, added to the
decoder's source: the best edit that knows the edit but not the person - a decoder must read the person from
its codes to beat it) and **codes only**: the target's own expression code
and jaw pose (its EMOCA codes for ``transfer``; for ``add`` / ``remove`` the codes the world's encoder gives that
person showing the target AUs) with the source's AUs and detail code - how much of the change the expression
code alone carries through the decoder. ``l1_target`` is the edit's plain error against the truth at the target
(metres), beside ``source_l1_target`` (not editing's) and ``reconstruction_l1`` (the decoder's source against the
source's truth).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from aucgan.au import AUError, au_indices
from aucgan.deca.edits import SCORES, Decoder, decode, edit_scores, masked_l1
from aucgan.deca.world import DecaWorld, WorldError, latent_of
from aucgan.metrics.blind import BLIND_PEOPLE
from aucgan.metrics.paired import ADD_BELOW, ADD_LEVELS, EDIT_SETS, REMOVE_FROM

SALT_SOURCES, SALT_TARGETS, SALT_LEVELS = 201, 202, 203
#: Latent positions of DECA's jaw pose and expression code (``[pose[3:6], exp, detail]``).
JAW_EXP = slice(0, 53)
SALT_BLIND = 204
#: Stages :func:`truth_scores` reports to its ``progress``: the edit pairs, then each edit set.
STAGES = 1 + len(EDIT_SETS)


class Updates(Protocol):
    """Where :func:`truth_scores` reports its stages (:class:`aucgan.progress.Progress` has this method)."""

    def update(self, n: int = 1, postfix: dict[str, str] | None = None) -> None: ...


def _pick(n_total: int, n: int, gen: torch.Generator) -> list[int]:
    return sorted(torch.randperm(n_total, generator=gen)[: max(1, min(n, n_total))].tolist())


def _sources(world: DecaWorld, split: str | None, n: int, seed: int) -> list[int]:
    rows = [i for i, s in enumerate(world.splits) if split is None or s == split]
    if not rows:
        raise WorldError(f"{world.folder}: no images in split {split!r} (splits: "
                         f"{', '.join(sorted(set(world.splits)))})")
    gen = torch.Generator().manual_seed(seed * 1000 + SALT_SOURCES)
    return [rows[i] for i in _pick(len(rows), n, gen)]


class _Pairs:
    """One edit set: per pair the source row, the decoder's inputs and the true AU vectors."""

    def __init__(self) -> None:
        self.rows: list[int] = []
        self.au_k: list[int | None] = []
        self.target_in: list[np.ndarray] = []
        self.target_true: list[np.ndarray] = []
        self.codes_latent: list[np.ndarray] = []

    def add(self, row: int, k: int | None, target_in: np.ndarray, target_true: np.ndarray,
            codes_latent: np.ndarray) -> None:
        self.rows.append(row)
        self.au_k.append(k)
        self.target_in.append(target_in)
        self.target_true.append(target_true)
        self.codes_latent.append(codes_latent)


def _score(dec: Decoder, world: DecaWorld, pairs: _Pairs, latents: dict[int, np.ndarray],
           seen: dict[int, np.ndarray], cols: list[int], mask: torch.Tensor, batch_size: int,
           people: list[int]) -> dict:
    n = len(pairs.rows)
    lat = torch.from_numpy(np.stack([latents[r] for r in pairs.rows]))
    src_in = torch.from_numpy(np.stack([seen[r][cols] for r in pairs.rows]))
    tgt_in = torch.from_numpy(np.stack(pairs.target_in)[:, cols])
    codes_lat = torch.from_numpy(np.stack(pairs.codes_latent))
    source = decode(dec, lat, src_in, src_in, batch_size)
    edit = decode(dec, lat, tgt_in, src_in, batch_size)
    codes = decode(dec, codes_lat, src_in, src_in, batch_size)
    truth_s = torch.cat([world.uv_z(world.identities[r], world.true_au[r][None]) for r in pairs.rows]).double()
    truth_t = torch.cat([world.uv_z(world.identities[r], t[None])
                         for r, t in zip(pairs.rows, pairs.target_true)]).double()
    truth = source + (truth_t - truth_s)
    true_source = np.stack([world.true_au[r] for r in pairs.rows])
    true_target = np.stack(pairs.target_true)
    blind = source + torch.stack([(world.uv_z(p, true_target) - world.uv_z(p, true_source)).double()
                                  for p in people]).median(dim=0).values if people else None
    m = mask.expand(n, 1, *mask.shape[-2:]).double()

    def scores(out: torch.Tensor, sel: torch.Tensor | slice = slice(None)) -> dict[str, float | None]:
        return edit_scores(out[sel], source[sel], truth[sel], m[sel])

    result = {"pairs": n, "edit": scores(edit), "codes_only": scores(codes),
              "identity_blind": scores(blind) if blind is not None else dict.fromkeys(SCORES),
              "no_edit": dict.fromkeys(SCORES, 0.0),
              "l1_target": masked_l1(edit, truth_t, m), "source_l1_target": masked_l1(source, truth_t, m),
              "codes_only_l1_target": masked_l1(codes, truth_t, m),
              "reconstruction_l1": masked_l1(source, truth_s, m), "true_change_l1": masked_l1(truth_t, truth_s, m)}
    ks = [k for k in pairs.au_k if k is not None]
    if ks:
        k_arr = torch.tensor(ks)
        result["per_au"] = {dec.au_names[k]: {**scores(edit, k_arr == k), "pairs": int((k_arr == k).sum())}
                            for k in sorted(set(ks))}
    return result


def truth_scores(dec: Decoder, world: DecaWorld, *, num_samples: int = 16, seed: int = 0,
                 split: str | None = "test", batch_size: int = 16, progress: Updates | None = None) -> dict:
    """Score ``dec``'s AU edits against ``world``'s truth (module notes). ``num_samples`` sources for
    ``transfer``; every AU of ``max(4, num_samples // 4)`` of them for ``add`` and ``remove``. ``split``:
    the world's identities to draw sources from (None: all). ``progress`` hears of each of the
    :data:`STAGES` stages. Returns a JSON-ready dict."""
    if dec.latent_dim != 181 or dec.output_size != world.size:
        raise WorldError(f"{world.folder}: the world's latents have 181 values and its uv_z is {world.size} px; "
                         f"the decoder takes {dec.latent_dim} and makes {dec.output_size} px")
    try:
        cols = au_indices(dec.au_names, world.au_names)
    except AUError as exc:
        raise WorldError(f"the decoder's AUs are not the world's: {exc}") from None
    gen = torch.Generator().manual_seed(seed * 1000 + SALT_TARGETS)
    levels_gen = torch.Generator().manual_seed(seed * 1000 + SALT_LEVELS)
    transfer_rows = _sources(world, split, num_samples, seed)
    single_rows = [transfer_rows[i] for i in _pick(len(transfer_rows), max(4, num_samples // 4), gen)]
    needed = set(transfer_rows)
    pairs = {name: _Pairs() for name in EDIT_SETS}
    latents: dict[int, np.ndarray] = {}
    seen: dict[int, np.ndarray] = {}

    def load(row: int) -> None:
        if row not in latents:
            latents[row] = world.latent(world.names[row])
            seen[row] = world.observed_au(world.names[row])

    for row in sorted(needed):
        load(row)
    for row in transfer_rows:
        same = [r for r in range(len(world)) if world.identities[r] == world.identities[row] and r != row]
        if not same:
            continue
        other = same[int(torch.randint(len(same), (1,), generator=gen))]
        load(other)
        pairs["transfer"].add(row, None, world.true_au[other], world.true_au[other],
                              np.concatenate([latents[other][JAW_EXP], latents[row][JAW_EXP.stop:]]))
    query = 0
    for row in single_rows:
        obs, true = seen[row], world.true_au[row]
        for j, k in enumerate(cols):
            level = float(ADD_LEVELS[0] + (ADD_LEVELS[1] - ADD_LEVELS[0]) * torch.rand(1, generator=levels_gen))
            if obs[k] < ADD_BELOW:
                name, value = "add", level
            elif obs[k] >= REMOVE_FROM:
                name, value = "remove", 0.0
            else:
                continue
            target_in, target_true = obs.copy(), true.copy()
            target_in[k] = target_true[k] = value
            codes = world.encode(world.identities[row], target_true[None], query=query)
            query += 1
            target_latent = latent_of({key: v[0] for key, v in codes.items()})
            pairs[name].add(row, j, target_in, target_true,
                            np.concatenate([target_latent[JAW_EXP], latents[row][JAW_EXP.stop:]]))
    mask = world.face_mask()[None, None]
    train = sorted({world.identities[r] for r in range(len(world)) if world.splits[r] == "train"})
    blind_gen = torch.Generator().manual_seed(seed * 1000 + SALT_BLIND)
    people = [train[i] for i in _pick(len(train), BLIND_PEOPLE, blind_gen)] if train else []
    if progress is not None:
        progress.update(postfix={"stage": "edit pairs"})
    sets = {}
    for name, p in pairs.items():
        if p.rows:
            sets[name] = _score(dec, world, p, latents, seen, cols, mask, batch_size, people)
        if progress is not None:
            progress.update(postfix={"stage": name})
    summary: dict[str, float | None] = {}
    for name, s in sets.items():
        for key in SCORES:
            summary[f"{key}/{name}"] = s["edit"][key]
            summary[f"codes_only/{key}/{name}"] = s["codes_only"][key]
            summary[f"identity_blind/{key}/{name}"] = s["identity_blind"][key]
    return {"world": str(world.folder), "world_knobs": world.config.to_dict(), "split": split,
            "sources": [world.names[r] for r in transfer_rows], "au_names": list(dec.au_names),
            "mask": "the layout's face mask" if world.layout is not None and world.layout.mask_image is not None
            else "the whole map", "summary": summary, "sets": sets,
            "identity_blind_people": [int(p) for p in people],
            "reference": {"no_edit": dict.fromkeys(SCORES, 0.0)}}


def summary_lines(result: dict) -> list[str]:
    """Printable lines: per edit set, the edit's explained / cosine / amplitude beside codes only and the
    identity-blind reference."""
    lines = []
    for name, s in result["sets"].items():
        e, c = s["edit"], s["codes_only"]

        def fmt(d: dict, key: str) -> str:
            return "n/a" if d[key] is None else f"{d[key]:.3f}"

        lines.append(f"{name} ({s['pairs']} pairs): explained {fmt(e, 'explained')}, cosine {fmt(e, 'cosine')}, "
                     f"amplitude {fmt(e, 'amplitude')}; codes only {fmt(c, 'explained')} / {fmt(c, 'cosine')} / "
                     f"{fmt(c, 'amplitude')}; identity-blind {fmt(s['identity_blind'], 'explained')}; not editing 0")
    return lines

