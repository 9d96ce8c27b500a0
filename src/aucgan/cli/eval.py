"""Score a training run's latest checkpoint (EMA generator) and append one JSON line per metric to
RUN_DIR/metric-<name>.jsonl. Metrics: paired_fidelity (synthetic benchmark only), au_control (needs
--judge), locality, identity, realism (FID/KID with --features), disc_awareness, sensitivity; see
docs/metrics.md. Without --metrics every metric the inputs allow runs; the others are listed as skipped.

--checkpoint STEP scores another checkpoint than the latest; --checkpoint all scores every checkpoint of the
run in step order (a learning curve: each line records the images the generator had seen; `aucgan compare`
plots them; progress shows the metrics scored and the time left, --no-progress hides it). Checkpoints at
chosen steps: train with --set ckpt_at=[250,500,1000] --set keep_ckpts=0.

Examples:
  aucgan eval runs/00001-improved --judge runs/judge
  aucgan eval runs/00001-improved --checkpoint all --metrics paired_fidelity
  aucgan eval runs/00001-improved --data bench --judge runs/judge --metrics au_control,locality --samples 128
"""

from __future__ import annotations

import argparse

HELP = "score a run's checkpoint: AU control, locality, identity, realism, discriminator, sensitivity"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="training run (its latest checkpoint is scored)")
    p.add_argument("--data", help="data set (default: the run's own, from RUN_DIR/data.json)")
    p.add_argument("--split", default="test", help="split to score (default: test)")
    p.add_argument("--judge", help="independent AU estimator run (`aucgan train-au --config aunet-judge`)")
    p.add_argument("--features", help="AU estimator run whose penultimate features give FID/KID (optional)")
    p.add_argument("--metrics", help="comma-separated metric names (default: all that the inputs allow)")
    p.add_argument("--samples", type=int, default=64, help="source samples per metric (default: 64)")
    p.add_argument("--sweep-samples", type=int, default=4,
                   help="sources for sweeps, locality and sensitivity (default: 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--checkpoint", default="latest",
                   help="the checkpoint to score: latest (default), a step, or all (a learning curve)")
    p.add_argument("--no-progress", action="store_true",
                   help="with --checkpoint all: no progress (a bar on a terminal, else a line every 30 s)")


def run(args: argparse.Namespace) -> int:
    from aucgan.metrics.evaluate import EvalError, EvalOptions, evaluate, evaluate_all

    if args.samples < 2 or args.sweep_samples < 1 or args.batch_size < 1:
        raise EvalError("--samples must be >= 2, --sweep-samples and --batch-size >= 1")
    which = args.checkpoint.strip().lower()
    if which not in ("latest", "all") and not which.isdigit():
        raise EvalError(f"--checkpoint must be latest, all or a step number, got {args.checkpoint!r}")
    metrics = None if args.metrics is None else tuple(args.metrics.split(","))
    options = EvalOptions(data=args.data, judge=args.judge, features=args.features, metrics=metrics,
                          num_samples=args.samples, num_sweep=args.sweep_samples, seed=args.seed,
                          device=args.device, batch_size=args.batch_size, split=args.split,
                          checkpoint=int(which) if which.isdigit() else None)
    log = lambda msg: print(msg, flush=True)  # noqa: E731
    if which == "all":
        done = evaluate_all(args.run_dir, options, log=log, progress="off" if args.no_progress else "auto")
        print(f"scored {len(done)} checkpoint(s); lines appended to {args.run_dir}/metric-*.jsonl")
        return 0
    lines = evaluate(args.run_dir, options, log=log)
    print(f"appended {len(lines)} line(s) to {args.run_dir}/metric-*.jsonl")
    return 0
