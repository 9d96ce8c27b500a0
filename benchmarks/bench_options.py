"""A/B timing of speed options on one preset's training step, interleaved so that load from other processes
hits every variant alike (steps alternate A, B, A, B, ... after each variant's warm-up).

Run: .venv/bin/python -m benchmarks.bench_options --option adam --preset improved --size 64 --batch 8 --steps 6

Options and their variants:
  adam           Adam kernels: single (per-tensor loop), foreach (multi-tensor), fused; also times opt.step() alone
  channels_last  contiguous (NCHW) vs channels_last (NHWC) batch only (cl_batch) vs batch and weights (cl_all)
  compile        eager vs torch.compile(G) (inductor); compile time reported separately
  threads        torch intra-op threads 1 vs N (--threads, default: torch's default)
  profile        no A/B: torch.profiler table of one step (top ops by self CPU time)
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from benchmarks.machine import machine_line
from benchmarks.suite import TrainSetup, build_setup, plain_steps

OPTIONS = ("adam", "channels_last", "compile", "threads", "profile")


def interleaved(variants: dict[str, tuple[TrainSetup, Callable[[], None]]], steps: int, warmup: int
                ) -> dict[str, dict]:
    """Median step seconds per variant; ``variants`` maps a name to (setup, hook run before each step)."""
    iters = {name: plain_steps(s.cfg) for name, (s, _) in variants.items()}
    first = {}
    for name, (setup, before) in variants.items():
        t = time.perf_counter()
        for _ in range(warmup):
            before()
            setup.step(next(iters[name]))
        first[name] = time.perf_counter() - t
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(steps):
        for name, (setup, before) in variants.items():
            before()
            t = time.perf_counter()
            setup.step(next(iters[name]))
            times[name].append(time.perf_counter() - t)
    out = {}
    for name, ts in times.items():
        setup = variants[name][0]
        med = statistics.median(ts)
        out[name] = {"step_ms": round(1000 * med, 1), "images_per_s": round(setup.images_per_step / med, 3),
                     "warmup_s": round(first[name], 1), "steps_ms": [round(1000 * t) for t in ts]}
    return out


def opt_step_ms(setup: TrainSetup, repeats: int = 10) -> dict[str, float]:
    """ms of ``opt_g.step()`` and ``opt_d.step()`` alone (gradients from the last training step)."""
    res = {}
    for name, opt, module in (("opt_g", setup.opt_g, setup.G), ("opt_d", setup.opt_d, setup.D)):
        for p in module.parameters():
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        opt.step()
        ts = []
        for _ in range(repeats):
            t = time.perf_counter()
            opt.step()
            ts.append(time.perf_counter() - t)
        res[f"{name}_ms"] = round(1000 * statistics.median(ts), 2)
    return res


def profile_step(setup: TrainSetup, rows: int = 15) -> str:
    """torch.profiler table (top ``rows`` ops by self CPU time) of one training step after a warm-up step."""
    from torch.profiler import ProfilerActivity, profile

    it = plain_steps(setup.cfg)
    setup.step(next(it))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        setup.step(next(it))
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--option", choices=OPTIONS, required=True)
    p.add_argument("--preset", default="improved")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=6, help="timed steps per variant (interleaved)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="threads of the N variant (threads option)")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="config override key=value")
    p.add_argument("--json", help="append the result as one JSON line to this file")
    args = p.parse_args(argv)
    print(machine_line(), flush=True)
    mk = lambda **kw: build_setup(args.preset, args.size, args.batch, args.overrides, **kw)  # noqa: E731
    noop = lambda: None  # noqa: E731
    extra: dict = {}
    if args.option == "profile":
        print(profile_step(mk()))
        return 0
    if args.option == "adam":
        variants = {impl: (mk(adam_impl=impl, channels_last=False), noop) for impl in ("single", "foreach", "fused")}
    elif args.option == "channels_last":
        variants = {"contiguous": (mk(channels_last=False), noop), "cl_batch": (mk(channels_last=True), noop),
                    "cl_all": (mk(channels_last="all"), noop)}
    elif args.option == "compile":
        variants = {"eager": (mk(compile_g=False), noop), "compiled": (mk(compile_g=True), noop)}
        args.warmup = max(args.warmup, 3)  # guards on requires_grad toggles compile a few graphs
    else:
        n = args.threads or torch.get_num_threads()
        variants = {"threads_1": (mk(), lambda: torch.set_num_threads(1)),
                    f"threads_{n}": (mk(), lambda: torch.set_num_threads(n))}
    res = interleaved(variants, args.steps, args.warmup)
    if args.option == "adam":
        for name, (setup, _) in variants.items():
            res[name].update(opt_step_ms(setup))
    base = next(iter(res))
    for name, r in res.items():
        r["speedup_vs_" + base] = round(res[base]["step_ms"] / r["step_ms"], 3)
        print(f"{name:<15} step {r['step_ms']:>9.1f} ms  {r['images_per_s']:>7.2f} img/s  "
              f"x{r['speedup_vs_' + base]:.3f} vs {base}  (warm-up {r['warmup_s']} s)  "
              + " ".join(f"{k} {v}" for k, v in r.items() if k.endswith("_ms") and k != "step_ms"), flush=True)
    record = {"option": args.option, "preset": args.preset, "size": args.size, "batch": args.batch,
              "overrides": args.overrides, "machine": machine_line(), **extra, "results": res}
    if args.json:
        with open(args.json, "a") as fh:
            fh.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
