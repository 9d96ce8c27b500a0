"""Train an AU-conditioned generator.

Examples:
  aucgan train --config improved --data bench/ --aunet runs/00000-aunet --steps 2000
  aucgan train --config baseline --data bench/ --set loss.w_au=3 --set data.size=64 --dry-run
  torchrun --nproc_per_node=2 -m aucgan train --config improved --data bench/ --aunet AUNET
  aucgan train --config improved --data bench/ --aunet AUNET --procs 2    # CPU data parallel, 1 thread each

``--procs N`` launches N processes through torchrun (``--standalone``) with one torch thread each and splits
the configured batch over them (global batch unchanged, so results match one process in expectation);
rank 0 writes the run directory and the checkpoints. See docs/performance.md for when it pays.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

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
    p.add_argument("--procs", type=int, default=1,
                   help="CPU data-parallel processes (1 thread each, launched with torchrun; the batch is split "
                        "over them; default 1)")


def resolve_config(args: argparse.Namespace):
    from aucgan.config.loading import load_config
    from aucgan.deca.config import PRESETS as DECA_PRESETS
    from aucgan.errors import AucganError

    if args.config in DECA_PRESETS:
        raise AucganError(f"preset {args.config!r} fine-tunes an imported DECA detail decoder: run it with "
                          f"`aucgan train-deca --config {args.config} --decoder deca_model.tar --data DATA` "
                          "(docs/deca.md)")
    overrides = list(args.overrides)
    if args.steps is not None:
        overrides.append(f"steps={args.steps}")
    if args.aunet:
        overrides.append(f"aunet.checkpoint={args.aunet}")
    return load_config(args.config, overrides)


def procs_command(args: argparse.Namespace, batch_size: int) -> list[str]:
    """The torchrun command line that runs this training in ``args.procs`` single-thread processes."""
    import sys

    from aucgan.errors import AucganError

    n = args.procs
    if batch_size % n:
        raise AucganError(f"--procs {n}: the batch size {batch_size} (data.batch_size) must divide by the number "
                          "of processes (each process takes an equal share of the batch)")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1", f"--nproc_per_node={n}",
           "-m", "aucgan", "train", "--config", args.config, "--runs-root", args.runs_root]
    for flag, value in (("--data", args.data), ("--steps", args.steps), ("--run-dir", args.run_dir),
                        ("--aunet", args.aunet)):
        if value is not None:
            cmd += [flag, str(value)]
    for item in [*args.overrides, f"data.batch_size={batch_size // n}", "threads=1"]:
        cmd += ["--set", item]
    cmd += [flag for flag, on in (("--resume", args.resume), ("--no-progress", args.no_progress)) if on]
    return cmd


def launch_procs(args: argparse.Namespace, batch_size: int) -> int:
    """Run :func:`procs_command` with ``OMP_NUM_THREADS=1`` and wait; a failure is an :class:`AucganError`."""
    import os
    import subprocess

    from aucgan.errors import AucganError

    cmd = procs_command(args, batch_size)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    code = subprocess.run(cmd, env=env).returncode
    if code != 0:
        raise AucganError(f"the {args.procs} training processes failed (torchrun exit code {code}); "
                          "see the messages above")
    return 0


def run(args: argparse.Namespace) -> int:
    from aucgan.config.loading import to_dict
    from aucgan.errors import AucganError
    from aucgan.rundir.checkpoints import CKPT_DIR
    from aucgan.rundir.files import LOG_FILE
    from aucgan.rundir.folder import Logger, make_run_dir
    from aucgan.training import distributed as dist_utils
    from aucgan.training.loop import training_loop

    config = resolve_config(args)
    if args.dry_run:
        print(json.dumps(to_dict(config), indent=1))
        return 0
    if not args.data:
        raise AucganError("--data is required (a data set folder or file)")
    if args.resume and not args.run_dir:
        raise AucganError("--resume needs --run-dir (the run to continue)")
    if args.procs < 1:
        raise AucganError(f"--procs must be at least 1, got {args.procs}")
    if args.procs > 1:
        import os

        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            raise AucganError("--procs launches its own processes; do not combine it with torchrun")
        return launch_procs(args, config.data.batch_size)
    info = dist_utils.init_distributed()
    if info.rank == 0:
        run_dir = make_run_dir(args.runs_root, name=config.name, explicit=args.run_dir, resume=args.resume)
    else:
        run_dir = None
    run_dir = dist_utils.broadcast_object(run_dir)
    if info.rank == 0:
        print(f"run directory: {run_dir}", flush=True)
    if info.rank == 0:
        try:
            with Logger(run_dir / LOG_FILE):
                result = training_loop(config, args.data, run_dir, resume=args.resume, progress=not args.no_progress)
        except AucganError:
            if not args.resume and info.world_size == 1:
                _discard_unstarted(run_dir)
            raise
    else:
        result = training_loop(config, args.data, run_dir, resume=args.resume, progress=False)
    if info.rank == 0:
        print(f"finished at step {result.step}; checkpoints in {run_dir / CKPT_DIR}")
    dist_utils.cleanup()
    if info.world_size > 1:
        dist_utils.exit_worker(0)
    return 0


def _discard_unstarted(run_dir: Path) -> None:
    """Remove a new run directory that a refused start left without a checkpoint (config, log), so that the
    corrected command can use the same ``--run-dir``; a directory with any checkpoint is kept."""
    import shutil

    from aucgan.rundir.checkpoints import CKPT_DIR

    ckpts = run_dir / CKPT_DIR
    if ckpts.is_dir() and any(ckpts.iterdir()):
        return
    shutil.rmtree(run_dir, ignore_errors=True)
