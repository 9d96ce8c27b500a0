"""Train an AU estimator (AUNet) on a map data set and report MAE, Pearson r and ICC(3,1) per AU
on held-out identities (the data set's test split, or a seeded 20% of identities).

Examples:
  aucgan train-au --data bench/ --run-dir runs/aunet
  aucgan train-au --config aunet-judge --data bench/ --run-dir runs/judge
"""

from __future__ import annotations

import argparse
import json

HELP = "train the AU estimator (AUNet) used by the AU-consistency loss and as the evaluation judge"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="aunet", help="preset name (aunet, aunet-judge) or YAML path")
    p.add_argument("--data", required=True, help="data set folder or file")
    p.add_argument("--run-dir", help="output folder (default: a new auto-numbered folder under --runs-root)")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--steps", type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--force", action="store_true", help="overwrite an existing --run-dir")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from aucgan.config.loading import load_config
    from aucgan.config.schema import AUNetTrainConfig
    from aucgan.fsutil import check_output
    from aucgan.rundir.folder import make_run_dir
    from aucgan.training.aunet_loop import train_aunet

    overrides = list(args.overrides) + ([f"steps={args.steps}"] if args.steps is not None else [])
    config = load_config(args.config, overrides, schema=AUNetTrainConfig)
    if args.run_dir:
        run_dir = check_output(args.run_dir, force=args.force, what="run directory")
    else:
        run_dir = make_run_dir(args.runs_root, name=config.name)
    print(f"run directory: {run_dir}", flush=True)
    metrics = train_aunet(config, args.data, run_dir, progress=not args.no_progress)
    mean = metrics["mean"]
    print(json.dumps({"held_out_samples": metrics["held_out_samples"], **{f"mean_{k}": v for k, v in mean.items()}}))
    return 0
