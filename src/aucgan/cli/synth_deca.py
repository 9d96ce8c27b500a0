"""Write a DECA-code world with exact truth: the synthetic benchmark's faces in FLAME UV, written as EMOCA
(--save_codes), OpenFace (per-image CSVs) and optionally DECA (--saveMat) write theirs, so `aucgan
prepare-deca` reads it like real data. See docs/deca.md ("A DECA-code world").

Knobs (recorded in WORLD/world.json): --exp-info, the share of every AU's variance a linear read-out of the
expression code recovers (0, 0.5, 0.9, ...); --detail-leak, the share of the image's expression detail the
detail code carries (DECA's E_detail sees the wrinkles); --au-noise, OpenFace's error (mean absolute error in
intensity points, or "judge": aucgan's AU judge on real maps, 0.182). WORLD/samples.csv holds the true AUs,
WORLD/identities.csv the people; `aucgan diagnose ... --truth WORLD` scores a decoder's AU edits against the
truth.

Examples:
  aucgan synth-deca --layout flame_layout.json --out world --exp-info 0.9 --detail-leak 0.5 --au-noise judge
  aucgan synth-deca --layout flame_layout.json --out world_mat --mat --identities 8 --expressions 12
  aucgan prepare-deca --codes world/emoca --aus world/openface --identities world/identities.csv \\
      --decoder DECA/data/deca_model.tar --out deca_set
  aucgan prepare-deca --mat world_mat/deca --fixed-displacement world_mat/fixed_displacement_256.npy \\
      --codes world_mat/emoca --aus world_mat/openface --identities world_mat/identities.csv --out deca_set
"""

from __future__ import annotations

import argparse

HELP = "write a DECA-code world with exact truth (EMOCA codes, OpenFace CSVs, optional DECA .mat files)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output folder (new or empty unless --force)")
    p.add_argument("--layout", required=True,
                   help="layout JSON of the UV space (`aucgan layout flame --deca-data DECA/data`)")
    p.add_argument("--identities", type=int, default=40, help="people (default 40)")
    p.add_argument("--expressions", type=int, default=24, help="images per person (default 24)")
    p.add_argument("--size", type=int, default=256, help="uv_z size in pixels (default 256, DECA's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exp-info", type=float, default=0.9,
                   help="share of the AU variance a linear read-out of exp recovers, 0..1 (default 0.9)")
    p.add_argument("--detail-leak", type=float, default=0.5,
                   help="share of the image's expression detail in the detail code, 0..1 (default 0.5)")
    p.add_argument("--au-noise", default="0",
                   help="OpenFace's AU error: mean absolute error in intensity points, or judge (default 0)")
    p.add_argument("--detail-noise", type=float, default=0.1, help="noise of the detail code (default 0.1)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="people held out as the test split")
    p.add_argument("--model-name", default="EMOCA", help="EMOCA's model folder name (default EMOCA)")
    p.add_argument("--mat", action="store_true",
                   help="also write DECA --saveMat files (uv_z + the world's fixed displacement)")
    p.add_argument("--synth", action="append", default=[], metavar="KEY=VALUE",
                   help="a benchmark parameter (aucgan.data.synth.SynthConfig field, e.g. wrinkle_depth=0.006); "
                        "repeatable, recorded in world.json")
    p.add_argument("--force", action="store_true", help="replace a previous world in --out")
    p.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true", help="no progress")


def run(args: argparse.Namespace) -> int:
    import time

    from aucgan.deca.world import WorldConfig, WorldError, au_noise_level, write_world
    from aucgan.layout.landmarks import load_layout
    from aucgan.progress import Progress

    cfg = WorldConfig(identities=args.identities, expressions=args.expressions, size=args.size, seed=args.seed,
                      exp_info=args.exp_info, detail_leak=args.detail_leak, au_noise=au_noise_level(args.au_noise),
                      detail_noise=args.detail_noise, test_fraction=args.test_fraction, model_name=args.model_name,
                      mat=args.mat)
    synth: dict[str, object] = {}
    for item in args.synth:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorldError(f"--synth takes KEY=VALUE, got {item!r}")
        try:
            synth[key.strip()] = float(value)
        except ValueError:
            synth[key.strip()] = value.strip()
    layout = load_layout(args.layout)
    t0 = time.perf_counter()
    total = cfg.identities * cfg.expressions
    with Progress(total, "synth-deca", unit="image", mode="off" if args.quiet else "auto") as bar:
        card = write_world(args.out, cfg, layout, force=args.force, progress=bar.update, synth=synth)
    print(f"wrote {total} images ({cfg.identities} people x {cfg.expressions}, {cfg.size} px, layout "
          f"{layout.name!r}) to {args.out} in {time.perf_counter() - t0:.1f}s: exp_info {cfg.exp_info:g}, "
          f"detail_leak {cfg.detail_leak:g}, AU noise {cfg.au_noise:g} (measured MAE "
          f"{card['au_noise_measured_mae']:.3f})")
    files = card["files"]
    print(f"  codes {files['codes']}, AUs {files['aus']}, people {files['identities']}, true AUs {files['samples']}"
          + (f", DECA {files['mat']} + {files['fixed_displacement']}" if cfg.mat else ""))
    if card["uv_z"]["clipped_pixels"]:
        print(f"note: {card['uv_z']['clipped_pixels']} uv_z pixels reached DECA's +-1 cm and were clipped")
    return 0
