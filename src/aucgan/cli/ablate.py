"""Train variants of a preset with the same data, seed and step budget, evaluate each, and write the
comparison report. Each --vary KEY=V1,V2,... lists values of one config key (YAML values; commas inside
[...] stay with their list); several --vary flags give every combination. --study NAME adds a built-in
question (conditioning, discriminator, au_loss). ``--vary preset=baseline,improved`` compares whole presets
(each variant starts from that preset instead of --base; the --set overrides apply to all). A variant whose
run already holds a checkpoint at the final step is not retrained, so an interrupted ablation continues where
it stopped.

Layout of --out: runs/<variant>/ (training runs, scored in place), report/ (index.html, summary.md),
ablation.json (variants and their overrides).

Examples:
  aucgan ablate --base improved --vary generator.conditioning=[adain],[spade_au],[adain,spade_au] \\
      --steps 800 --data bench --aunet runs/aunet --judge runs/judge --out ablation-cond
  aucgan ablate --base baseline --study au_loss --steps 800 --data bench --aunet A --judge J --out abl-loss
  aucgan ablate --base improved --vary preset=baseline,improved --steps 800 --data bench --aunet A --judge J \
      --out baseline-vs-improved
"""

from __future__ import annotations

import argparse

HELP = "train preset variants at an equal budget, evaluate them and write the comparison report"

#: The --vary key that swaps the whole preset instead of one config value.
PRESET_KEY = "preset"

#: Built-in questions: study name -> (config key, values).
STUDIES = {
    "conditioning": ("generator.conditioning", ["[concat_latent]", "[concat_input]", "[adain]", "[spade_au]",
                                                "[adain,spade_au]"]),
    "discriminator": ("discriminator.kind", ["concat", "projection", "aux_regressor", "projection_aux"]),
    "au_loss": ("loss.au_loss", ["bce", "mse"]),
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--base", required=True, help="preset name or YAML path the variants start from")
    p.add_argument("--vary", action="append", default=[], metavar="KEY=V1,V2",
                   help="values of one config key to compare (repeat for a grid)")
    p.add_argument("--study", action="append", default=[], choices=sorted(STUDIES),
                   help="a built-in comparison (adds its --vary)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="an override shared by every variant")
    p.add_argument("--steps", type=int, required=True, help="training steps of every variant (equal budget)")
    p.add_argument("--data", required=True, help="data set (the synthetic benchmark for paired_fidelity)")
    p.add_argument("--aunet", help="AU estimator run for the AU-consistency loss")
    p.add_argument("--judge", help="independent AU judge run for au_control")
    p.add_argument("--features", help="AU estimator run for FID/KID features (optional)")
    p.add_argument("--out", required=True, help="ablation folder (runs/, report/)")
    p.add_argument("--samples", type=int, default=64, help="evaluation samples per metric")
    p.add_argument("--sweep-samples", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=32, help="evaluation batch size")
    p.add_argument("--seed", type=int, help="seed of every variant (default: the preset's)")
    p.add_argument("--jobs", type=int, default=1,
                   help="variants trained at once, in separate processes (each with cores / jobs torch threads "
                        "unless threads is set): on a CPU, 2 single-thread runs use 2 cores better than one "
                        "2-thread run (docs/performance.md); results are the same as one at a time")
    p.add_argument("--dry-run", action="store_true", help="print the variants and exit")
    p.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                   help="no training progress (bars, or with --jobs the lines each variant prints); the lines saying "
                        "which variants start and finish stay")


def split_values(text: str) -> list[str]:
    """``"a,[b,c],d"`` -> ``["a", "[b,c]", "d"]``: commas split values except inside brackets."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur).strip())
    return [v for v in out if v]


def variant_name(assignments: list[tuple[str, str]]) -> str:
    """A folder name for a variant: ``conditioning=adain+spade_au__au_loss=mse``."""
    parts = []
    for key, value in assignments:
        v = value.strip("[]").replace(",", "+").replace(" ", "")
        parts.append(f"{key.split('.')[-1]}={v}")
    return "__".join(parts)


def plan(args: argparse.Namespace) -> list[tuple[str, str, list[str]]]:
    """[(variant name, preset, overrides)] for the cartesian product of the --vary / --study values."""
    import itertools

    from aucgan.config.loading import load_config
    from aucgan.errors import AucganError

    axes = []
    for study in args.study:
        key, values = STUDIES[study]
        axes.append((key, list(values)))
    for item in args.vary:
        if "=" not in item:
            raise AucganError(f"--vary {item!r} must look like key=v1,v2")
        key, raw = item.split("=", 1)
        values = split_values(raw)
        if not values:
            raise AucganError(f"--vary {item!r} lists no values")
        axes.append((key.strip(), values))
    if not axes:
        raise AucganError("nothing to vary: give --vary KEY=V1,V2 or --study NAME")
    shared = list(args.overrides) + [f"steps={args.steps}"]
    if args.seed is not None:
        shared.append(f"seed={args.seed}")
    if args.aunet:
        shared.append(f"aunet.checkpoint={args.aunet}")
    variants = []
    for combo in itertools.product(*[[(k, v) for v in vals] for k, vals in axes]):
        preset = next((v for k, v in combo if k == PRESET_KEY), args.base)
        overrides = shared + [f"{k}={v}" for k, v in combo if k != PRESET_KEY]
        load_config(preset, overrides)                 # validates keys and values before any training
        variants.append((variant_name(list(combo)), preset, overrides))
    names = [n for n, _, _ in variants]
    if len(set(names)) != len(names):
        raise AucganError(f"two variants would share a folder name: {names}")
    return variants


def report_title(base: str, names: list[str], steps: int, data: str) -> str:
    """What the ablation compared, for its report: ``improved vs baseline: 500 steps each on benchmark``, or
    ``improved with conditioning=adain vs conditioning=spade_au: ...`` (the base preset named unless the presets
    themselves are compared; more than four variants are summed up by the keys they vary)."""
    from pathlib import Path

    combos = [[part.split("=", 1) for part in name.split("__")] for name in names]
    keys = list(dict.fromkeys(k for combo in combos for k, _ in combo))
    shown = [", ".join(v if k == PRESET_KEY else f"{k}={v}" for k, v in combo) for combo in combos]
    if len(names) > 4:
        what = f"{base}: {len(names)} variants over {', '.join(keys)}"
    elif PRESET_KEY in keys:
        what = " vs ".join(shown)
    else:
        what = f"{base} with {' vs '.join(shown)}"
    return f"{what}: {steps} steps each on {Path(data).name}"


def _train_variant(config: dict, data: str, run_dir: str, resume: bool, progress: str) -> int:
    """Train one variant (in a worker process with --jobs: the config travels as a dict); the final step."""
    from aucgan.config.loading import from_dict
    from aucgan.config.schema import TrainConfig
    from aucgan.training.loop import training_loop

    cfg = from_dict(TrainConfig, config, "ablation variant")
    return training_loop(cfg, data, run_dir, resume=resume, progress=progress).step


def train_variants(jobs: list[tuple[str, object, object, bool]], data: str, workers: int, quiet: bool) -> None:
    """Train ``[(name, config, run_dir, resume)]``: one at a time in this process, or ``workers`` at once in
    spawned processes with the cores shared out (``threads`` unless the config sets it). Spawned trainings
    report their progress as lines labelled with the variant's name (they share the terminal); this process
    says which variants start and finish."""
    from aucgan.config.loading import replace_path, to_dict
    from aucgan.training.parallel import job_progress, job_threads, run_spawned

    apart = workers > 1 and len(jobs) > 1
    progress = job_progress(quiet, apart)
    argsets = [(to_dict(replace_path(cfg, "threads", job_threads(workers)) if apart and cfg.threads == 0 else cfg),
                str(data), str(run_dir), resume, progress) for _, cfg, run_dir, resume in jobs]

    def started(i: int) -> None:
        print(f"  {jobs[i][0]}: {'resuming' if jobs[i][3] else 'started'} ({jobs[i][1].steps} steps)", flush=True)

    run_spawned(_train_variant, argsets, workers if apart else 1,
                on_start=started if apart else None,
                on_done=(lambda i, step: print(f"  {jobs[i][0]}: trained to step {step}", flush=True))
                if apart else None)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from aucgan.config.loading import load_config, replace_path, to_dict
    from aucgan.errors import AucganError
    from aucgan.fsutil import atomic_write_text, check_output
    from aucgan.metrics.evaluate import EvalOptions, evaluate
    from aucgan.report.collect import ABLATION_VARIANT_FILE
    from aucgan.report.compare import build_comparison
    from aucgan.rundir.checkpoints import checkpoint_steps
    from aucgan.rundir.files import record_data

    if args.jobs < 1:
        raise AucganError(f"--jobs must be at least 1, got {args.jobs}")
    variants = plan(args)
    if args.dry_run:
        for name, preset, overrides in variants:
            print(f"{name}: {preset} {' '.join(overrides)}")
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ablation.json", json.dumps(
        {"base": args.base, "steps": args.steps, "data": args.data, "judge": args.judge,
         "variants": {n: {"preset": p, "overrides": o} for n, p, o in variants}}, indent=1))
    runs, todo, configs = [], [], {}
    for i, (name, preset, overrides) in enumerate(variants, 1):
        cfg = replace_path(load_config(preset, overrides), "name", name)
        configs[name] = cfg
        run_dir = out / "runs" / name
        steps = checkpoint_steps(run_dir)
        done = bool(steps) and steps[-1] == cfg.steps
        print(f"[{i}/{len(variants)}] {name}: {'trained already' if done else f'training {cfg.steps} steps'}",
              flush=True)
        if not done:
            todo.append((name, cfg, run_dir, bool(steps)))
    train_variants(todo, args.data, args.jobs, quiet=args.no_progress)
    for name, preset, overrides in variants:
        cfg, run_dir = configs[name], out / "runs" / name
        record_data(run_dir, args.data)
        atomic_write_text(run_dir / ABLATION_VARIANT_FILE, json.dumps({"preset": preset, "overrides": overrides,
                                                                       "config": to_dict(cfg)}, indent=1))
        evaluate(run_dir, EvalOptions(data=args.data, judge=args.judge, features=args.features,
                                      num_samples=args.samples, num_sweep=args.sweep_samples,
                                      batch_size=args.batch_size),
                 log=lambda m: print(f"  {m}", flush=True))
        runs.append(run_dir)
    report = check_output(out / "report", force=True)
    names = [n for n, _, _ in variants]
    page = build_comparison(runs, report, data=args.data, title=report_title(args.base, names, args.steps, args.data),
                            names=names)
    print(f"report: {page} (table: {report / 'summary.md'})")
    return 0
