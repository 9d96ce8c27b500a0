"""Latency of the browser editor's slider callback: one AU slider move -> edited maps and every view.

Run: OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_ui.py [--size 128] [--preset improved] [--repeats 30]

An untrained generator of the preset stands in for a trained one (latency does not depend on the weights);
the face is a synthetic identity. Timed: ``EditorSession.update`` (the whole callback the page runs: decoder
under ``torch.inference_mode`` on the cached source encoding, then albedo / shaded / normal / relit / change
views at display size) with a different AU12 value each call; also its parts and, for comparison, a full
``Editor.edit`` (which re-encodes the source every call). Wall-clock medians and 90th percentiles after
warm-up, and the median CPU time per call (the cost when the cores are free; on a shared machine the wall
clock also counts waiting for them). The page adds PNG encoding and the HTTP round trip (a few ms locally).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import machine_line  # noqa: E402
from benchmarks.runs import untrained_run  # noqa: E402


def _stats(samples: list[float], cpu: list[float]) -> dict[str, float]:
    ms = sorted(1000.0 * s for s in samples)
    return {"median_ms": round(statistics.median(ms), 2), "p90_ms": round(ms[int(0.9 * (len(ms) - 1))], 2),
            "cpu_median_ms": round(1000.0 * statistics.median(cpu), 2)}


def _time(fn, repeats: int, warmup: int = 3) -> dict[str, float]:
    """Wall-clock median / p90 and the median CPU time of this process per call (all its threads): on a
    shared machine the CPU time shows what the call costs when it has the cores to itself."""
    for i in range(warmup):
        fn(i)
    wall, cpu = [], []
    for i in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn(i)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return _stats(wall, cpu)


def measure(preset: str = "improved", size: int = 128, repeats: int = 30) -> dict:
    """Slider-callback latency figures for ``preset`` at ``size`` px (see the module docstring)."""
    from aucgan.au import au_indices
    from aucgan.inference import Editor
    from aucgan.ui.core import EditorSession

    with tempfile.TemporaryDirectory(prefix="bench-ui-") as tmp:
        run = untrained_run(Path(tmp) / "run", preset, size)
        t = time.perf_counter()
        session = EditorSession.open(run)
        load_s = time.perf_counter() - t
        source = session.sources.synthetic_identity(0)
        k = au_indices(["AU12"], session.au_names)[0]

        def values(i: int) -> list[float]:
            v = [float(x) for x in source.au]
            v[k] = 0.25 + 4.5 * ((i * 7) % 19) / 18.0
            return v

        t = time.perf_counter()
        session.update(source, values(0))
        first_s = time.perf_counter() - t
        callback = _time(lambda i: session.update(source, values(i)), repeats)
        decoder = _time(lambda i: session.edit(source, values(i)), repeats)
        editor = Editor.from_run(run)
        full = _time(lambda i: editor.edit(source.maps, values(i), source.landmarks, source.au), repeats)
        params = sum(p.numel() for p in session.editor.G.parameters())
    return {"preset": preset, "size": size, "threads": torch.get_num_threads(), "generator_params": params,
            "model_load_s": round(load_s, 2), "first_update_ms": round(1000 * first_s, 1),
            "slider_callback": callback, "decoder_only": decoder, "editor_edit_reencoding": full,
            "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


def suite(quick: bool = False) -> dict:
    """Figures for ``python -m benchmarks`` (fewer repeats when ``quick``)."""
    r = measure(repeats=8 if quick else 30)
    return {"slider_callback_ms_128": r["slider_callback"]["median_ms"],
            "slider_callback_cpu_ms_128": r["slider_callback"]["cpu_median_ms"],
            "slider_callback_p90_ms_128": r["slider_callback"]["p90_ms"],
            "decoder_only_ms_128": r["decoder_only"]["median_ms"],
            "editor_edit_reencoding_ms_128": r["editor_edit_reencoding"]["median_ms"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="improved")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args(argv)
    print(machine_line())
    r = measure(args.preset, args.size, args.repeats)
    print(f"{r['preset']} at {r['size']} px, G {r['generator_params'] / 1e6:.2f}M params, {r['threads']} torch "
          f"threads, load average {r['load_average']:.1f} at the end; model load {r['model_load_s']} s, first "
          f"update (encodes the source) {r['first_update_ms']} ms")
    for name in ("slider_callback", "decoder_only", "editor_edit_reencoding"):
        print(f"  {name:24s} median {r[name]['median_ms']:7.1f} ms   p90 {r[name]['p90_ms']:7.1f} ms   "
              f"CPU {r[name]['cpu_median_ms']:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
