"""The benchmark suite behind ``make bench`` / ``python -m benchmarks``: one table and ``results.json``.

Figures (medians over repeats after warm-up, all in this process with the same torch thread count):

* ``peak``: fp32 matmul GFLOP/s (``torch.mm`` of two n x n matrices, 2 n^3 FLOPs per call).
* per preset and size, one training step = ``n_critic`` discriminator updates + one generator update on a
  batch drawn as the loop draws it from 16 synthetic benchmark samples (a randomly initialised frozen AUNet
  stands in for the trained one - speed does not depend on the values), exactly the phases of
  :func:`aucgan.training.loop.training_loop`:
  ``train_images_per_s`` = batch x (1 + n_critic) / step time (the loop's own images/s definition);
  ``flops_per_image`` = FLOPs of one step counted with ``torch.utils.flop_counter``'s formulas (:class:`FlopCount`)
  (forward, backward and double backward of convolutions, matmuls and the like; element-wise ops are not
  counted, as usual for model FLOP utilisation) / images per step; ``achieved_gflops`` = FLOPs per step /
  step time; ``mfu`` = achieved / peak (``mfu_local``: / the matmul peak measured right before and after
  the row, the fairer ratio when other processes load the machine). Timed steps skip the lazy R1 step
  (every ``r1_every`` steps).
  ``peak_mem_mb``: the largest resident set size (sampled from ``/proc/self/statm`` every 5 ms) during the
  build and the steps, above the RSS measured right before building the networks (after ``malloc_trim``
  so that memory freed by earlier configurations does not hide new allocations). Falls back to the
  ``ru_maxrss`` delta where ``/proc`` is missing (then later configurations under-report).
* generator inference ms per map at batch 1 and 16 (``torch.inference_mode``, eval mode).
* synthetic data: samples/s of the in-memory batch path the training loop uses (``TrainData.random_batch``)
  and of on-the-fly rendering (new identities + 10 expressions each, ``aucgan.data.synth``), with their
  ratio to the training consumption of the ``improved`` preset at the same size.
* photo / editor timings from ``bench_photo.py`` / ``bench_ui.py`` when those modules are present.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import math
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from aucgan.config.loading import load_config, preset_names
from aucgan.config.schema import TrainConfig
from aucgan.data.batch import Batch
from aucgan.layout.landmarks import canonical_layout
from aucgan.losses.objective import GANObjective
from aucgan.models.build import build_aunet, build_disc, build_generator, make_codec, make_renderer
from aucgan.models.generator import count_parameters
from aucgan.training.perf import make_adam, maybe_compile, to_channels_last

PRESETS = ("baseline", "ganimation", "improved", "decomposed", "cascade", "sean", "relative")
QUICK_OVERRIDES = ("generator.base_channels=8", "generator.max_channels=32", "generator.latent_dim=16",
                   "discriminator.base_channels=8", "discriminator.max_channels=32", "discriminator.num_down=3",
                   "aunet.base_channels=8", "aunet.depth=3")


# ------------------------------------------------------------------------------------------- timing
def timed(fn: Callable[[], object], warmup: int, repeats: int, budget_s: float = math.inf) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` calls; stops early once the timed calls have used
    ``budget_s`` (after two timed calls, or after one when a warm-up call alone took longer than the budget)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    slow = warmup > 0 and (time.perf_counter() - t0) / warmup > budget_s
    return _timed_calls(fn, repeats, budget_s, 1 if slow else 2)


def _timed_calls(fn: Callable[[], object], repeats: int, budget_s: float, at_least: int) -> list[float]:
    times: list[float] = []
    while len(times) < repeats:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if len(times) >= at_least and sum(times) >= budget_s:
            break
    return times


def matmul_peak(n: int = 2048, repeats: int = 5) -> dict[str, float]:
    """fp32 ``torch.mm`` GFLOP/s of n x n matrices: median and best of ``repeats`` after one warm-up."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    times = timed(lambda: torch.mm(a, b), warmup=1, repeats=repeats)
    flops = 2.0 * n ** 3
    return {"n": n, "gflops_median": round(flops / statistics.median(times) / 1e9, 2),
            "gflops_best": round(flops / min(times) / 1e9, 2)}


# ------------------------------------------------------------------------------------------- memory
def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss_bytes() -> int | None:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakRSS:
    """Context manager: the peak resident set size above the entry level, in MB (``.mb`` after exit)."""

    def __init__(self, interval_s: float = 0.005) -> None:
        self.interval_s, self.mb = interval_s, 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._peak = max(self._peak, _rss_bytes() or 0)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRSS:
        gc.collect()
        _malloc_trim()
        self._base = _rss_bytes()
        self._maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self._peak = self._base or 0
        if self._base is not None:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._base is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes() or 0)
            self.mb = (self._peak - self._base) / 2 ** 20
        else:  # ru_maxrss is in KiB on Linux
            self.mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - self._maxrss0) / 1024


# ------------------------------------------------------------------------------------------- training
@functools.lru_cache(maxsize=4)
def synthetic_items(size: int, identities: int = 4, expressions: int = 4) -> tuple[dict, ...]:
    """A few synthetic benchmark samples at ``size`` (rendered once per size and cached)."""
    from aucgan.data.synth.dataset import SyntheticDataset

    ds = SyntheticDataset(identities, expressions, size=size, seed=0)
    return tuple(ds[i] for i in range(len(ds)))


def make_batch(cfg: TrainConfig, gen: torch.Generator) -> Batch:
    """A training batch exactly as the loop draws it (targets, identity pairs, extras) from synthetic samples."""
    from aucgan.au import au_set
    from aucgan.training.data import TrainData

    data = TrainData(list(synthetic_items(cfg.data.size)), make_codec(cfg.data), au_set(cfg.data.au_set),
                     cfg.data.size, extra_attrs=cfg.generator.extra_attrs)
    return data.random_batch(cfg.data.batch_size, gen, mode=cfg.data.target_mode,
                             prototype_prob=cfg.data.prototype_prob, noise=cfg.data.target_noise,
                             pair_identity=cfg.data.pair_identity)


@dataclass
class TrainSetup:
    """Networks, optimisers, objective and a batch for timing training steps of one configuration."""

    cfg: TrainConfig
    G: torch.nn.Module
    D: torch.nn.Module
    obj: GANObjective
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    batch: Batch
    gen: torch.Generator

    @property
    def n_critic(self) -> int:
        return max(1, self.cfg.loss.n_critic)

    @property
    def images_per_step(self) -> int:
        return self.cfg.data.batch_size * (1 + self.n_critic)

    def step(self, i: int) -> None:
        """One training step (the loop's phases); ``i`` is the step index (lazy R1 when i % r1_every == 0)."""
        G, D, b = self.G, self.D, self.batch
        for _ in range(self.n_critic):
            G.requires_grad_(False)
            D.requires_grad_(True)
            self.opt_d.zero_grad(set_to_none=True)
            loss, _ = self.obj.discriminator_phase(b, i, self.gen)
            loss.backward()
            self.opt_d.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        loss, _ = self.obj.generator_phase(b)
        loss.backward()
        self.opt_g.step()


def build_setup(preset: str, size: int, batch: int, overrides: Sequence[str] = (), adam_impl: str | None = None,
                channels_last: bool | str | None = None, compile_g: bool | None = None) -> TrainSetup:
    """Build a preset's networks at ``size``/``batch`` as the training loop does (optimiser, channels-last
    and compile settings from the config unless given; ``channels_last="all"`` also converts the weights)."""
    cfg = load_config(preset, [f"data.size={size}", f"data.batch_size={batch}", "aunet.checkpoint=unused",
                               *overrides])
    codec = make_codec(cfg.data)
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_disc(cfg)
    aunet = build_aunet(cfg.aunet, cfg.data, cfg.render).requires_grad_(False).eval()
    gen = torch.Generator().manual_seed(0)
    b = make_batch(cfg, gen)
    if channels_last is None:
        channels_last = cfg.optim.channels_last
    if channels_last == "all":
        G, D, aunet = (m.to(memory_format=torch.channels_last) for m in (G, D, aunet))
    if channels_last:
        b = to_channels_last(b)
    impl = adam_impl if adam_impl is not None else cfg.optim.adam_impl
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    opt_g = make_adam(G.parameters(), cfg.optim.lr_g, betas, impl)
    opt_d = make_adam(D.parameters(), cfg.optim.lr_d, betas, impl)
    do_compile = compile_g if compile_g is not None else cfg.optim.compile
    obj = GANObjective(maybe_compile(G, do_compile), D, aunet, cfg.loss,
                       disp_channels=codec.slices().get("displacement"), renderer=make_renderer(cfg.render),
                       codec=codec)
    return TrainSetup(cfg, G, D, obj, opt_g, opt_d, b, gen)


def lazy_r1_every(cfg: TrainConfig) -> int:
    return max(cfg.loss.r1_every, 1) if cfg.loss.r1_gamma > 0 else 0


def plain_steps(cfg: TrainConfig, start: int = 1):
    """Step indices from ``start`` that are not lazy-R1 steps."""
    every, i = lazy_r1_every(cfg), start
    while True:
        if not every or i % every:
            yield i
        i += 1


class FlopCount(TorchDispatchMode):
    """Counts FLOPs with ``torch.utils.flop_counter``'s formulas, like ``FlopCounterMode`` but without its
    module tracker, which fails under ``torch.autograd.grad`` (gradient penalties, R1)."""

    _SKIP = {torch.ops.aten.size.default, torch.ops.aten.stride.default, torch.ops.aten.storage_offset.default,
             torch.ops.aten.numel.default, torch.ops.aten.dim.default, torch.ops.aten.is_contiguous.default,
             torch.ops.aten.is_contiguous.memory_format, torch.ops.prim.layout.default}

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in self._SKIP:
            return NotImplemented
        packet = func._overloadpacket
        if packet not in flop_registry and func is not torch.ops.prim.device.default:
            with self:
                r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
        out = func(*args, **kwargs)
        if packet in flop_registry:
            self.total += int(flop_registry[packet](*args, **kwargs, out_val=out))
        return out


def count_step_flops(setup: TrainSetup, i: int) -> int:
    """FLOPs of training step ``i`` (runs it): forward, backward and double backward."""
    with FlopCount() as counter:
        setup.step(i)
    return counter.total


def inference_ms(setup: TrainSetup, batch: int, repeats: int, budget_s: float) -> float:
    """Generator inference ms per map at ``batch`` (eval mode, inference mode); restores train mode."""
    G, b = setup.G, setup.batch

    def rows(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t[:1].expand(batch, *t.shape[1:]).contiguous()

    x, au, target, fp, extra = rows(b.x), rows(b.au), rows(b.target), rows(b.fp), rows(b.target_extra)
    G.eval()
    try:
        with torch.inference_mode():
            times = timed(lambda: G(x, target, fp, source_au=au, extra=extra), warmup=2 if batch == 1 else 1,
                          repeats=repeats, budget_s=budget_s)
    finally:
        G.train()
    return 1000 * statistics.median(times) / batch


def bench_training(preset: str, size: int, batch: int, repeats: int, budget_s: float, peak_gflops: float,
                   overrides: Sequence[str] = (), infer_repeats: int = 7, peak_n: int = 2048) -> dict:
    """One row of the table: training throughput, FLOPs, MFU, peak memory and inference for a preset/size.

    ``mfu`` divides by ``peak_gflops`` (the run's peak); ``mfu_local`` by the matmul peak measured right before
    and after this row's steps, which follows the load when other processes share the cores."""
    t_row = time.perf_counter()
    local = [matmul_peak(peak_n, 2)["gflops_median"]]
    with PeakRSS() as mem:
        setup = build_setup(preset, size, batch, overrides)
        steps = plain_steps(setup.cfg)
        t_warm = time.perf_counter()
        flops = count_step_flops(setup, next(steps))  # doubles as the warm-up step
        at_least = 1 if time.perf_counter() - t_warm > budget_s else 2
        times = _timed_calls(lambda: setup.step(next(steps)), repeats, budget_s, at_least)
    step_s = statistics.median(times)
    local.append(matmul_peak(peak_n, 2)["gflops_median"])
    local_peak = statistics.mean(local)
    row = {"preset": preset, "size": size, "batch": batch, "n_critic": setup.n_critic,
           "train_images_per_s": round(setup.images_per_step / step_s, 3),
           "train_step_ms": round(1000 * step_s, 1), "timed_steps": len(times),
           "flops_per_image": flops // setup.images_per_step,
           "achieved_gflops": round(flops / step_s / 1e9, 2),
           "mfu": round(flops / step_s / 1e9 / peak_gflops, 4) if peak_gflops > 0 else None,
           "local_peak_gflops": round(local_peak, 2), "mfu_local": round(flops / step_s / 1e9 / local_peak, 4),
           "peak_mem_mb": round(mem.mb, 1),
           "G_params_M": round(count_parameters(setup.G) / 1e6, 3),
           "D_params_M": round(count_parameters(setup.D) / 1e6, 3)}
    for ib in (1, 16):
        row[f"infer_ms_per_map_b{ib}"] = round(inference_ms(setup, ib, infer_repeats, budget_s / 2), 2)
    row["seconds"] = round(time.perf_counter() - t_row, 1)
    return row


# ------------------------------------------------------------------------------------------- data
def bench_data(size: int, batch: int, repeats: int, identities: int = 4, per_identity: int = 10) -> dict:
    """Samples/s of the in-memory training batch path and of on-the-fly synthetic rendering at ``size``."""
    from aucgan.au import au_set
    from aucgan.data.codec import MapCodec
    from aucgan.data.synth import SynthConfig, make_identities, render, sample_expressions
    from aucgan.training.data import TrainData

    cfg = SynthConfig(size=size)
    n_expr = identities * per_identity
    ex = sample_expressions(n_expr, seed=1)
    index = torch.arange(identities).repeat_interleave(per_identity)
    counter = iter(range(10 ** 9))

    def on_the_fly() -> object:
        start = 1000 + identities * next(counter)
        built = make_identities(range(start, start + identities), seed=0, config=cfg)
        return render(built, ex["au"], ex["emotion"], ex["valence"], index=index)

    synth_s = statistics.median(timed(on_the_fly, warmup=1, repeats=repeats))
    maps = on_the_fly()
    items = _items_from_render(maps, ex["au"], n_expr, per_identity)
    data = TrainData(items, MapCodec(), au_set("openface17"), size)
    gen = torch.Generator().manual_seed(0)
    mem_s = statistics.median(timed(lambda: data.random_batch(batch, gen), warmup=1, repeats=max(3, repeats)))
    return {"size": size, "synth_samples_per_s": round(n_expr / synth_s, 1),
            "batch_samples_per_s": round(batch / mem_s, 1)}


def _items_from_render(maps: dict, au: torch.Tensor, n: int, per_identity: int) -> list[dict]:
    lm = canonical_layout().landmarks
    out = []
    for i in range(n):
        out.append({"id": f"s{i}", "identity": f"id{i // per_identity}", "au": au[i].numpy() * 5.0,
                    "landmarks": lm, "maps": {k: v[i] for k, v in maps.items() if k in ("displacement", "albedo")}})
    return out


# ------------------------------------------------------------------------------------------- other modules
def bench_other(quick: bool) -> dict[str, dict]:
    """Figures of ``bench_photo`` / ``bench_ui`` (their ``suite(quick)`` functions) when those modules exist."""
    import importlib

    out: dict[str, dict] = {}
    for name in ("bench_photo", "bench_ui"):
        if not (Path(__file__).parent / f"{name}.py").is_file():
            continue
        module = importlib.import_module(f"benchmarks.{name}")
        fn = getattr(module, "suite", None)
        if fn is None:
            out[name] = {"skipped": "no suite(quick) function"}
            continue
        try:
            out[name] = dict(fn(quick=quick))
        except Exception as exc:  # a missing optional dependency must not sink the whole benchmark
            out[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
    return out


# ------------------------------------------------------------------------------------------- the suite
def available_presets(names: Sequence[str] = PRESETS) -> list[str]:
    have = set(preset_names())
    return [p for p in names if p in have]


def run_suite(presets: Sequence[str] | None = None, sizes: Sequence[int] = (64, 128), batch: int = 8,
              quick: bool = False, threads: int = 0, other: bool = True, log: Callable[[str], None] = print
              ) -> dict:
    """Run every figure and return the results dict (see the module docstring); ``log`` gets table lines."""
    from benchmarks.machine import machine_line

    if threads:
        torch.set_num_threads(threads)
    presets = available_presets() if not presets else list(presets)
    overrides = QUICK_OVERRIDES if quick else ()
    repeats, budget = (1, 1.0) if quick else (5, 12.0)
    t0 = time.perf_counter()
    machine = machine_line()
    log(machine)
    peak = matmul_peak(256, 2) if quick else matmul_peak(2048, 5)
    log(f"fp32 matmul peak ({peak['n']}x{peak['n']}, {torch.get_num_threads()} threads): "
        f"{peak['gflops_median']} GFLOP/s median, {peak['gflops_best']} best")
    header = (f"{'preset':<11}{'px':>4}{'bs':>4}{'img/s':>8}{'step ms':>9}{'MFLOP/img':>10}{'GFLOP/s':>9}"
              f"{'MFU':>7}{'MFUloc':>7}{'mem MB':>8}{'inf b1':>8}{'inf b16':>8}")
    log(header + "   (inference: ms per map)")
    rows = []
    for size in sizes:
        for preset in presets:
            r = bench_training(preset, size, batch, repeats, budget, peak["gflops_median"], overrides,
                               infer_repeats=2 if quick else 7, peak_n=peak["n"])
            rows.append(r)
            mfu = f"{100 * r['mfu']:.1f}%" if r["mfu"] is not None else "-"
            log(f"{preset:<11}{size:>4}{batch:>4}{r['train_images_per_s']:>8.2f}{r['train_step_ms']:>9.0f}"
                f"{r['flops_per_image'] / 1e6:>10.0f}{r['achieved_gflops']:>9.2f}{mfu:>7}"
                f"{100 * r['mfu_local']:>6.1f}%{r['peak_mem_mb']:>8.0f}"
                f"{r['infer_ms_per_map_b1']:>8.1f}{r['infer_ms_per_map_b16']:>8.1f}")
    data = []
    for size in sizes:
        d = bench_data(size, batch, repeats=1 if quick else 3, identities=2 if quick else 4)
        ref = next((r for r in rows if r["size"] == size and r["preset"] == "improved"), None)
        if ref is not None:
            d["synth_vs_improved_training"] = round(d["synth_samples_per_s"] / ref["train_images_per_s"], 1)
        data.append(d)
        ratio = f"  ({d['synth_vs_improved_training']}x improved's training rate)" if ref is not None else ""
        log(f"data {size:>4} px: on-the-fly synthetic {d['synth_samples_per_s']:.0f} samples/s{ratio}; "
            f"in-memory batches {d['batch_samples_per_s']:.0f} samples/s")
    other = bench_other(quick) if other else {}
    for name, figures in other.items():
        log(f"{name}: " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    seconds = round(time.perf_counter() - t0, 1)
    log(f"total {seconds} s")
    return {"machine": machine, "torch_threads": torch.get_num_threads(), "quick": quick, "batch": batch,
            "peak": peak, "training": rows, "data": data, "other": other, "seconds": seconds,
            "memory_method": "peak RSS above the pre-build level (/proc/self/statm sampled every 5 ms)"
            if _rss_bytes() is not None else "ru_maxrss delta"}
