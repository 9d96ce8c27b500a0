"""Does a detail decoder follow the AUs? Per-AU sensitivity of uv_z inside vs outside each AU's footprint, the
share of the output's variation the AUs explain against the expression code, the AU edits against another
image of the same person (--pairs), AU sweeps as pictures, a JSON with every figure and a verdict line
("ignores the AUs" when the sensitivity is zero; the likely cause when the AUs are barely followed).

CHECKPOINT is a DECA/EMOCA checkpoint with --deca (deca_model.tar: plain DECA, or their variant whose first
layer also takes the AUs; give its AU set and scale), or a run directory of the deca preset. The footprints
are those of the layout (--layout: DECA's FLAME UV layout from `aucgan layout flame`); without one, a run's
own footprints, else aucgan's canonical layout (not FLAME UV: a note says so).

--pairs N scores the AU edits against another image of the same person: for N seeded pairs (A, B) of one
identity, A's codes with B's AUs against A's output moved by B's uv_z - A's (explained / cosine / amplitude,
beside not editing, 0, and codes only: A's codes with B's jaw pose and expression code). It needs a data set
prepared with identities, and it is meaningful on people the decoder did not train on: pass a held-out --data
set (on its training set, a decoder trained with loss.w_cross is scored on its own objective).

--truth WORLD (a world from `aucgan synth-deca`) also scores the decoder's AU edits against the world's exact
truth (explained / cosine / amplitude for add, remove and transfer, beside not editing and "codes only": the
target's own expression code with the source's AUs) into truth.json; without --data the other figures are
measured on the world's images, the pairs on its held-out (test) people.

Examples:
  aucgan diagnose DECA/data/deca_model.tar --deca --data deca_set --layout flame_layout.json --out diag
  aucgan diagnose runs/00003-deca --truth world --out diag_truth
  aucgan diagnose runs/00003-deca --data deca_set --out diag_run
  aucgan diagnose runs/00003-deca --data held_out_set --pairs 96 --out diag_pairs   # people it did not train on
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from aucgan.deca.world import DecaWorld

HELP = "measure whether a DECA detail decoder (or a deca run) follows the AUs; writes figures and a verdict"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="deca_model.tar (with --deca) or a deca run directory")
    p.add_argument("--deca", action="store_true", help="CHECKPOINT is a DECA/EMOCA checkpoint")
    p.add_argument("--data", help="a data set from `aucgan prepare-deca` (needed unless --truth is given)")
    p.add_argument("--truth", metavar="WORLD", help="a DECA world (`aucgan synth-deca`): score AU edits against it")
    p.add_argument("--truth-samples", type=int, default=16, help="with --truth: source images (default 16)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--au-set", default="openface17", help="with --deca: the AUs of an AU-concat checkpoint")
    p.add_argument("--au-input", default="unit", choices=("unit", "intensity"),
                   help="with --deca: the AU scale an AU-concat checkpoint was trained with")
    p.add_argument("--layout", help="layout JSON of the UV space (footprints); default: see above")
    p.add_argument("--mask", help="mask image multiplied into the footprints (DECA's uv_face_eye_mask.png)")
    p.add_argument("--samples", type=int, default=8, help="samples the figures average over (default 8)")
    p.add_argument("--sweeps", type=int, default=2, help="samples drawn as AU sweeps (default 2)")
    p.add_argument("--pairs", type=int, default=48,
                   help="pairs of images of one person the AU edits are scored on (default 48; 0: skip); "
                        "meaningful on people the decoder did not train on: pass a held-out --data set (on its "
                        "training set, a decoder trained with loss.w_cross is scored on its own objective)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite --out")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress over the samples and sweeps (a bar on a terminal, else a line every 30 s)")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from aucgan.deca.build import decoder_footprints, load_decoder
    from aucgan.deca.data import open_deca_data
    from aucgan.deca.diagnose import diagnose, percent, pick, sweep_picture, work_units
    from aucgan.deca.world import open_world
    from aucgan.errors import AucganError
    from aucgan.fsutil import atomic_write_text, check_output
    from aucgan.progress import Progress
    from aucgan.report.plots import sensitivity_heatmaps

    out = check_output(args.out, force=args.force, what="output folder")
    au_names = args.au_set if "," not in args.au_set else args.au_set.split(",")
    if args.data is None and args.truth is None:
        raise AucganError("give --data (a data set from `aucgan prepare-deca`) or --truth (a DECA world)")
    if args.pairs < 0:
        raise AucganError(f"--pairs {args.pairs}: expected a count of pairs, 0 or more (0: skip)")
    world = open_world(args.truth) if args.truth else None
    dec, info = load_decoder(args.checkpoint, deca=args.deca, au_names=au_names, au_input=args.au_input)
    data = open_deca_data(args.data, au_names=dec.au_names) if args.data else world.deca_data(dec.au_names)
    if data.latent_dim != dec.latent_dim or data.size != dec.output_size:
        raise_mismatch(args, data, dec)
    notes = []
    if args.layout or args.mask or dec.footprints is None:
        fp = decoder_footprints(args.layout, args.mask, dec.au_names, dec.output_size)
        where = args.layout or "aucgan's canonical layout"
        if not args.layout:
            notes.append("footprints from aucgan's canonical layout, not FLAME UV: pass --layout (aucgan layout flame)")
    else:
        fp, where = dec.footprints.detach().clone(), "the run's own footprints"
    mask, mask_note = pairs_mask(args, info, world, dec.output_size)
    if mask_note:
        notes.append(mask_note)
    pairs_data = None
    if world is not None and args.data is None and "test" in world.splits and args.pairs > 0:
        pairs_data = world.deca_data(dec.au_names, split="test")
        notes.append("pairs drawn from the world's held-out (test) people")
    seen_note = held_out_note(args.checkpoint, world) if world is not None and not args.deca else None
    if seen_note:
        notes.append(seen_note)
    swept = pick(len(data), args.sweeps, args.seed + 7).tolist() if args.sweeps > 0 else []
    with Progress(work_units(len(data), args.samples, args.pairs) + len(swept),
                  f"diagnose {Path(args.checkpoint).name}", unit="sample",
                  mode="off" if args.no_progress else "auto") as progress:
        figures, arrays = diagnose(dec, data, fp, num_samples=args.samples, seed=args.seed, num_pairs=args.pairs,
                                   mask=mask, pairs_data=pairs_data, progress=progress)
        out.mkdir(parents=True, exist_ok=True)
        pictures = [str(sensitivity_heatmaps(arrays["sensitivity"] * 1e6, arrays["footprints"], list(dec.au_names),
                                             f"mean |d uv_z / d AU| over {len(figures['samples'])} samples",
                                             out / "sensitivity.png", label="micrometres per intensity point").name)]
        for i in swept:
            pictures.append(sweep_picture(dec, data, i, out / f"sweep-{data.names[i]}.png").name)
            progress.update(postfix={"figure": "AU sweeps"})
    report = {"decoder": info, "data": str(Path(args.data or args.truth).resolve()), "footprints": where,
              "notes": notes, **figures, "pictures": pictures}
    if world is not None:
        from aucgan.deca.truth import STAGES, summary_lines, truth_scores

        split = "test" if "test" in world.splits else None          # the held-out people, when there are some
        with Progress(STAGES, "diagnose --truth", unit="stage", mode="off" if args.no_progress else "auto") as bar:
            truth = truth_scores(dec, world, num_samples=args.truth_samples, seed=args.seed, split=split,
                                 progress=bar)
        atomic_write_text(out / "truth.json", json.dumps(truth, indent=1))
        report["truth"] = truth["summary"]
    atomic_write_text(out / "diagnosis.json", json.dumps(report, indent=1))
    s, v = figures["sensitivity"], figures["variation"]
    print(f"decoder: {info['kind']} ({info.get('variant') or ', '.join(info.get('conditioning', []))})")
    print(f"sensitivity |d uv_z / d AU|: inside footprints {s['mean_inside'] * 1e6:.4g} um, outside "
          f"{s['mean_outside'] * 1e6:.4g} um per intensity point")
    share = percent(float("nan") if v["au_share"] is None else v["au_share"])
    print(f"variation: AUs {v['std_au_m'] * 1e6:.4g} um, expression code {v['std_expression_m'] * 1e6:.4g} um, "
          f"detail code {v['std_detail_m'] * 1e6:.4g} um (std); AU share {share}")
    print(pairs_line(figures["pairs"]))
    for note in notes:
        print(f"note: {note}")
    print(f"verdict: {figures['verdict']}")
    for line in summary_lines(truth) if world is not None else []:
        print(f"truth: {line}")
    print(f"wrote {out / 'diagnosis.json'} and {len(pictures)} pictures")
    return 0


def pairs_mask(args: argparse.Namespace, info: dict, world: DecaWorld | None, size: int
               ) -> tuple[torch.Tensor | None, str | None]:
    """The face mask the paired figure is scored inside (:func:`aucgan.deca.build.face_mask`, None: the whole
    map) and a note when a run's own layout or mask cannot be read: --layout / --mask when given, else a run's
    own layout and mask, else the world's layout when its images are measured."""
    from aucgan.deca.build import face_mask
    from aucgan.errors import AucganError

    if args.layout or args.mask:
        return face_mask(args.layout, args.mask, size), None
    if info.get("layout") or info.get("mask"):
        try:
            return face_mask(info.get("layout"), info.get("mask"), size), None
        except AucganError as exc:
            return None, f"pairs scored over the whole map: the run's layout or mask cannot be read ({exc})"
    if world is not None and args.data is None:
        return face_mask(world.layout, None, size), None
    return None, None


def pairs_line(pairs: dict) -> str:
    """The paired figure as one printed line (or why it is absent)."""
    if not pairs["pairs"]:
        return f"pairs: none - {pairs['absent']}"
    e, c = pairs["edit"], pairs["codes_only"]

    def fmt(d: dict) -> str:
        return " / ".join("n/a" if d[k] is None else f"{d[k]:.3f}" for k in ("explained", "cosine", "amplitude"))

    return (f"pairs ({pairs['pairs']} pairs of {pairs['people']} people, another image of the same person): AU edits "
            f"explained / cosine / amplitude {fmt(e)}; codes only {fmt(c)}; not editing 0")


def held_out_note(run_dir: str, world) -> str | None:
    """A note when a deca run was trained on images of the world's held-out (test) people, whose images the
    truth metric edits: its scores are then not on unseen people. None when it was not (or nothing to check)."""
    from aucgan.deca.build import is_deca_run
    from aucgan.deca.data import open_deca_data
    from aucgan.errors import AucganError
    from aucgan.rundir.files import recorded_data_path

    test = {n for n, s in zip(world.names, world.splits) if s == "test"}
    if not test or not is_deca_run(run_dir):
        return None
    path = recorded_data_path(run_dir)
    try:
        names = open_deca_data(path).names if path is not None else None
    except AucganError:
        names = None
    if names is None:
        return (f"the run's training data ({path or 'not recorded in data.json'}) cannot be read: whether it held "
                "out the world's test people is unchecked")
    seen = sum(1 for n in names if n in test or n[:-2] in test)     # EMOCA's face folders: the name + "00"
    if not seen:
        return None
    return (f"the run was trained on {seen} of the world's {len(test)} held-out test images ({path}): its truth "
            "scores are not on unseen people; prepare its data from the world's train people only (docs/deca.md)")


def raise_mismatch(args, data, dec) -> None:
    from aucgan.errors import AucganError

    raise AucganError(f"{args.data or args.truth}: the data set has {data.latent_dim}-value latents and {data.size} px "
                      f"uv_z; the decoder takes {dec.latent_dim} and makes {dec.output_size} px")
