"""The main job on the built-in synthetic benchmark, end to end, in about ten minutes on 2 CPU cores:

  1. synthesise a benchmark (identities x expressions, 64 px) and its preview sheet;
  2. train the AU estimator (AUNet, used by the AU-consistency loss) and an independent AU judge (another
     architecture and seed, used only to score), and report their held-out MAE / Pearson / ICC;
  3. train `baseline` (the existing design) and `improved` at the same budget, score both with every metric
     and write the comparison report (comparison/report/index.html: table, sweep grids, plots);
  4. edit a held-out face with the improved model (AU12=4, AU06=3) and write AU sweep strips.

Everything goes under --out (refused if it exists, unless --force). `make demo` runs this. The demo says
which stage it is on and which trainings start and finish; trainings that run at once each print a progress
line every 30 s labelled with their run (step, images/s, time left); --quiet / --no-progress leaves those out.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

HELP = "run the main job on the built-in synthetic benchmark (make demo)"

#: Slimmer networks than the presets' defaults (baseline's too), so that the demo fits its time on 2 CPU cores.
DEMO_WIDTHS = ["generator.base_channels=16", "generator.cond_hidden=32", "discriminator.base_channels=16"]
DEMO_AUNET = ["aunet.base_channels=16"]
#: Generator steps per compared preset (batch 16, 8k images): past the regime where nothing is learnt
#: (docs/findings.md has the learning curves), within about 20 minutes for the whole demo on 2 cores.
DEMO_STEPS = 500
DEMO_JUDGE = ["aunet.base_channels=16"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--expressions", type=int, default=24, help="expressions per identity")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--aunet-steps", type=int, default=400)
    p.add_argument("--judge-steps", type=int, default=400)
    p.add_argument("--steps", type=int, default=DEMO_STEPS, help="generator training steps (each compared preset)")
    p.add_argument("--jobs", type=int, default=2,
                   help="trainings run at once (the two AU estimators, then the two presets); 1: one at a time")
    p.add_argument("--preset", default="improved")
    p.add_argument("--compare", default="baseline",
                   help="preset trained at the same budget and compared in the report ('none' to skip)")
    p.add_argument("--eval-samples", type=int, default=48, help="evaluation samples per metric")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")
    p.add_argument("--no-progress", "--quiet", dest="no_progress", action="store_true",
                   help="no training progress (with --jobs > 1 each training prints labelled lines: step, images/s, "
                        "time left); the demo's own lines stay")


def paired_headline(run_dir) -> dict[str, float]:
    """The run's newest ``paired_fidelity`` summary figures that compare with the truth (``explained``, L1)."""
    from aucgan.metrics.registry import latest_results

    line = latest_results(run_dir).get("paired_fidelity")
    summary = {} if line is None else line["results"]["summary"]
    return {k: v for k, v in summary.items() if k.startswith(("explained/", "l1_footprint/", "source_l1_footprint/"))
            and isinstance(v, (int, float))}


def blind_headline(run_dir) -> dict[str, float]:
    """The ``identity_blind`` reference's explained figures for the run's benchmark (empty when not scored)."""
    from aucgan.metrics.registry import latest_results

    line = latest_results(run_dir).get("identity_blind")
    summary = {} if line is None else line["results"]["summary"]
    return {k: v for k, v in summary.items() if k.startswith("explained/") and isinstance(v, (int, float))}


def _train_estimator(config: dict, data: str, run_dir: str, progress: str) -> dict:
    """Train one AU estimator in a worker process (the config travels as a dict)."""
    from aucgan.config.loading import from_dict
    from aucgan.config.schema import AUNetTrainConfig
    from aucgan.training.aunet_loop import train_aunet

    return train_aunet(from_dict(AUNetTrainConfig, config, "demo estimator"), data, run_dir, progress=progress)


def train_estimators(plans: list, data, out, jobs: int, quiet: bool = False,
                     say: Callable[[str], None] = print) -> dict:
    """``{name: held-out metrics}`` of the AU estimators ``[(name, config)]`` trained into ``out/name``: one at a
    time, or at once in spawned processes with ``jobs`` > 1 (the same results; each prints labelled progress
    lines, and ``say`` tells which started and finished)."""
    from aucgan.config.loading import replace_path, to_dict
    from aucgan.training.parallel import job_progress, job_threads, run_spawned

    apart = jobs > 1 and len(plans) > 1
    progress = job_progress(quiet, apart)
    argsets = [(to_dict(replace_path(cfg, "threads", job_threads(jobs)) if apart and cfg.threads == 0 else cfg),
                str(data), str(out / name), progress) for name, cfg in plans]
    results = run_spawned(_train_estimator, argsets, jobs if apart else 1,
                          on_start=lambda i: say(f"    {plans[i][0]}: started ({plans[i][1].steps} steps)"),
                          on_done=lambda i, _: say(f"    {plans[i][0]}: trained"))
    return dict(zip([name for name, _ in plans], results))


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import shutil
    import time
    from pathlib import Path

    from aucgan.cli import main as cli_main
    from aucgan.config.loading import load_config
    from aucgan.config.schema import AUNetTrainConfig
    from aucgan.data.synth import write_dataset
    from aucgan.errors import AucganError
    from aucgan.fsutil import check_output

    if args.jobs < 1:
        raise AucganError(f"--jobs must be at least 1, got {args.jobs}")
    out = Path(args.out)
    if out.exists() and args.force:
        shutil.rmtree(out)
    check_output(out, what="demo folder")
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[demo {time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    data = out / "benchmark"
    say(f"1/4 synthesising {args.identities} identities x {args.expressions} expressions at {args.size} px")
    write_dataset(data, identities=args.identities, expressions=args.expressions, size=args.size, seed=args.seed)
    say(f"    benchmark in {data}, preview sheet {data / 'preview.png'}")

    size_set = [f"data.size={args.size}"]
    estimators = {}
    plans = []
    for name, preset, steps, widths in (("aunet", "aunet", args.aunet_steps, DEMO_AUNET),
                                        ("judge", "aunet-judge", args.judge_steps, DEMO_JUDGE)):
        role = "AU estimator for the baseline's AU loss" if name == "aunet" else "independent AU judge"
        say(f"2/4 training the {role} ({preset}, {steps} steps)")
        seed = [f"seed={args.seed}"] if name == "aunet" else []
        plans.append((name, load_config(preset, [f"steps={steps}", *seed, *size_set, *widths],
                                        schema=AUNetTrainConfig)))
    for name, m in train_estimators(plans, data, out, args.jobs, quiet=args.no_progress, say=say).items():
        estimators[name] = m["mean"]
        say(f"    held-out {name}: MAE {m['mean']['mae']:.3f}, Pearson {m['mean']['pearson']:.3f}, "
            f"ICC {m['mean']['icc']:.3f} (over {m['held_out_samples']} samples)")

    presets = [args.preset] + ([] if args.compare == "none" else [args.compare])
    say(f"3/4 training {' and '.join(presets)} ({args.steps} steps each), scoring and comparing them")
    shared = [f"seed={args.seed}", f"sample_every={max(args.steps // 4, 1)}", f"ckpt_every={args.steps}",
              f"log_every={max(args.steps // 20, 1)}", *size_set, *DEMO_WIDTHS]
    code = cli_main(["ablate", "--base", args.preset, "--vary", f"preset={','.join(presets)}",
                     "--jobs", str(args.jobs), "--steps", str(args.steps), "--data", str(data),
                     "--aunet", str(out / "aunet"), "--judge", str(out / "judge"), "--out", str(out / "comparison"),
                     "--samples", str(args.eval_samples), *(["--no-progress"] if args.no_progress else []),
                     *sum((["--set", o] for o in shared), [])])
    if code != 0:
        return code
    run_dir = out / "comparison" / "runs" / f"preset={args.preset}"
    report = out / "comparison" / "report" / "index.html"
    say(f"    report {report} (table: {report.parent / 'summary.md'})")
    truth = {p: paired_headline(out / "comparison" / "runs" / f"preset={p}") for p in presets}
    for p, figures in truth.items():
        say(f"    {p}: share of the true change reproduced (explained; 0 = no edit, 1 = exact) " + ", ".join(
            f"{k.split('/', 1)[1]} {v:.2f}" for k, v in figures.items() if k.startswith("explained/")))
    blind = blind_headline(run_dir)
    if blind:
        say("    reference, the median change of training people (knows the edit, not the person): " + ", ".join(
            f"{k.split('/', 1)[1]} {v:.2f}" for k, v in blind.items()))

    say("4/4 editing a held-out face: AU12=4, AU06=3 and AU sweeps")
    with (data / "manifest.csv").open(newline="") as fh:
        source = next(r["sample_id"] for r in csv.DictReader(fh) if r["split"] == "test")
    code = cli_main(["generate", "--checkpoint", str(run_dir), "--data", str(data), "--source", source,
                     "--au", "AU12=4,AU06=3", "--sweep", "AU12", "AU04", "AU01", "AU17", "--out", str(out / "edit")])
    if code != 0:
        return code
    summary = {"benchmark": str(data), "aunet": estimators["aunet"], "judge": estimators["judge"],
               "paired_truth": truth, "identity_blind": blind, "steps": args.steps,
               "images_per_run": args.steps * load_config(args.preset).data.batch_size,
               "generator_run": str(run_dir), "report": str(report), "edit": str(out / "edit"),
               "seconds": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    say(f"done: {out / 'summary.json'}")
    return 0
