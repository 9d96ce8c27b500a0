"""Synthetic benchmark speed: render samples/s at 64, 128 and 256 px on this machine.

Run: .venv/bin/python benchmarks/bench_synth.py [--sizes 64 128 256] [--batch 64] [--repeats 7] [--threads N]

Run it on a quiet machine: torch's intra-op threads wait for each other, so when other processes keep the
cores busy, multi-threaded figures collapse (use --threads 1 there for a figure that survives sharing).

Figures (medians over repeats after one warm-up call):
  render     samples/s of render() for a batch of distinct identities (identities prebuilt: the renderer)
  identity   ms per identity of make_identities() (landmarks, footprints, AU bases, skin, noise)
  mix        samples/s of building identities and rendering 10 expressions each, in memory
  write      samples/s of write_dataset() including PNG encoding (only at --write-size, default 128)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402

from aucgan.data.synth import SynthConfig, make_identities, render, sample_expressions, write_dataset  # noqa: E402


def median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_size(size: int, batch: int, repeats: int) -> dict[str, float]:
    cfg = SynthConfig(size=size)
    ids = make_identities(range(batch), seed=0, config=cfg)
    ex = sample_expressions(batch, seed=0)
    t_render = median_time(lambda: render(ids, ex["au"], ex["emotion"], ex["valence"]), repeats)
    n_build = 16
    t_build = median_time(lambda: make_identities(range(100, 100 + n_build), seed=0, config=cfg),
                          max(3, repeats // 2))
    per_identity = 10
    mix_ids = 6
    mix_ex = sample_expressions(mix_ids * per_identity, seed=1)
    index = torch.arange(mix_ids).repeat_interleave(per_identity)

    def mix() -> None:
        built = make_identities(range(200, 200 + mix_ids), seed=0, config=cfg)
        render(built, mix_ex["au"], mix_ex["emotion"], mix_ex["valence"], index=index)

    t_mix = median_time(mix, max(3, repeats // 2))
    return {"render": batch / t_render, "identity_ms": 1000 * t_build / n_build,
            "mix": mix_ids * per_identity / t_mix}


def bench_write(size: int, identities: int, expressions: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(Path(tmp) / "warm", identities=2, expressions=2, size=size)
        t = time.perf_counter()
        write_dataset(Path(tmp) / "bench", identities=identities, expressions=expressions, size=size)
        return identities * expressions / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--write-size", type=int, default=128,
                    help="map size of the folder-writing figure (0: skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(machine_line(), flush=True)
    print(f"{'size':>5} {'render samples/s':>17} {'identity ms':>12} {'mix samples/s':>14}  "
          f"(batch {args.batch})")
    for size in args.sizes:
        r = bench_size(size, args.batch, args.repeats)
        print(f"{size:>5} {r['render']:>17.0f} {r['identity_ms']:>12.1f} {r['mix']:>14.0f}", flush=True)
    if args.write_size:
        rate = bench_write(args.write_size, identities=20, expressions=10)
        print(f"write_dataset at {args.write_size} px (20 identities x 10 expressions, PNGs): "
              f"{rate:.0f} samples/s")


if __name__ == "__main__":
    main()
