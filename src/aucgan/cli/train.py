"""Train an AU-conditioned generator.

Examples:
  aucgan train --config improved --data bench/ --aunet runs/00000-aunet --steps 2000
  aucgan train --config baseline --data bench/ --set loss.w_au=3 --set data.size=64 --dry-run
  torchrun --nproc_per_node=2 -m aucgan train --config improved --data bench/ --aunet AUNET
"""

from __future__ import annotations

import argparse
import json

HELP = "train an AU-conditioned generator from a preset (YAML) and a data set"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="preset name (baseline, ganimation, improved, ...) or YAML path")
    p.add_argument("--data", help="data set: benchmark folder, manifest folder, OpenFace CSV, GANimation folder")
    p.add_argument("--steps", type=int, help="training steps (overrides the preset)")
    p.add_argument("--run-dir", help="run directory (default: a new auto-numbered folder under --runs-root)")
    p.add_argument("--runs-root", default="runs", help="where auto-numbered run folders go (default: runs)")
    p.add_argument("--aunet", help="AU estimator run dir (from `aucgan train-au`) for the AU-consistency loss")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set loss.w_au=2 --set generator.conditioning=[adain]")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir from its latest checkpoint")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def resolve_config(args: argparse.Namespace):
    from aucgan.training.config import load_config

    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"steps={args.steps}")
    if args.aunet:
        overrides.append(f"aunet.checkpoint={args.aunet}")
    return load_config(args.config, overrides)


def run(args: argparse.Namespace) -> int:
    from aucgan.errors import AucganError
    from aucgan.training import distributed as dist_utils
    from aucgan.training.config import to_dict
    from aucgan.training.loop import training_loop
    from aucgan.training.rundir import Logger, make_run_dir

    config = resolve_config(args)
    if args.dry_run:
        print(json.dumps(to_dict(config), indent=1))
        return 0
    if not args.data:
        raise AucganError("--data is required (a data set folder or file)")
    if args.resume and not args.run_dir:
        raise AucganError("--resume needs --run-dir (the run to continue)")
    info = dist_utils.init_distributed()
    if info.rank == 0:
        run_dir = make_run_dir(args.runs_root, name=config.name, explicit=args.run_dir, resume=args.resume)
    else:
        run_dir = None
    run_dir = dist_utils.broadcast_object(run_dir)
    if info.rank == 0:
        print(f"run directory: {run_dir}", flush=True)
    if info.rank == 0:
        with Logger(run_dir / "log.txt"):
            result = training_loop(config, args.data, run_dir, resume=args.resume, progress=not args.no_progress)
    else:
        result = training_loop(config, args.data, run_dir, resume=args.resume, progress=False)
    if info.rank == 0:
        print(f"finished at step {result.step}; checkpoints in {run_dir / 'checkpoints'}")
    dist_utils.cleanup()
    return 0
