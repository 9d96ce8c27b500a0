"""A/B of CPU data parallelism through the real CLI: ``aucgan train`` as 1 process x N threads vs
``aucgan train --procs N`` (N processes x 1 thread, same global batch), run back to back in alternating
rounds so that both see the same load.

Run: .venv/bin/python -m benchmarks.bench_dp --data DATA --aunet AUNET_RUN [--presets improved ganimation]
     [--size 64] [--batch 16] [--steps 6] [--rounds 2] [--procs 2]

images/s is the training loop's own ``perf/images_per_s`` over the second half of the run (the first
``steps // 2`` steps, with start-up and warm-up, are a separate logging window and are not used).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.machine import machine_line


def train_rate(preset: str, data: str, aunet: str | None, size: int, batch: int, steps: int, procs: int,
               threads: int, workdir: Path) -> float:
    """images/s of the second half of an ``aucgan train`` run with ``procs`` processes x ``threads`` threads."""
    run = workdir / f"{preset}-{procs}x{threads}-{time.monotonic_ns()}"
    cmd = [sys.executable, "-m", "aucgan", "train", "--config", preset, "--data", data, "--run-dir", str(run),
           "--steps", str(steps), "--no-progress"]
    if aunet:
        cmd += ["--aunet", aunet]
    for item in (f"data.size={size}", f"data.batch_size={batch}", f"log_every={steps // 2}", "sample_every=100000",
                 "ckpt_every=100000", "tensorboard=false", f"threads={threads}"):
        cmd += ["--set", item]
    if procs > 1:
        cmd += ["--procs", str(procs)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    rows = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    rates = [r["perf/images_per_s"] for r in rows if "perf/images_per_s" in r]
    return float(rates[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--aunet", help="AU estimator run dir (presets whose loss reads it)")
    p.add_argument("--presets", nargs="+", default=["improved", "ganimation"])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=16, help="global batch (split over the processes)")
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--json", help="append the result as one JSON line to this file")
    args = p.parse_args(argv)
    print(machine_line(), flush=True)
    n = args.procs
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            rates: dict[str, list[float]] = {f"1x{n}": [], f"{n}x1": []}
            for _ in range(args.rounds):
                rates[f"1x{n}"].append(train_rate(preset, args.data, args.aunet, args.size, args.batch, args.steps,
                                                  1, n, Path(tmp)))
                rates[f"{n}x1"].append(train_rate(preset, args.data, args.aunet, args.size, args.batch, args.steps,
                                                  n, 1, Path(tmp)))
            med = {k: statistics.median(v) for k, v in rates.items()}
            ratio = med[f"{n}x1"] / med[f"1x{n}"]
            results[preset] = {"rates": rates, "median": med, "procs_speedup": round(ratio, 3)}
            print(f"{preset:<11} {args.size} px batch {args.batch}: 1 proc x {n} threads {med[f'1x{n}']:.2f} img/s, "
                  f"{n} procs x 1 thread {med[f'{n}x1']:.2f} img/s -> x{ratio:.2f}  (rounds: {rates})", flush=True)
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps({"machine": machine_line(), "size": args.size, "batch": args.batch,
                                 "steps": args.steps, "results": results}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
