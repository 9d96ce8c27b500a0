"""The metric registry and runner (as stylegan3's ``metric_main``): name -> metric, one JSON line per run.

A metric is a function ``(ctx: EvalContext) -> dict`` of JSON-ready results registered under a name with
what it needs from the context (``judge``, ``D``, ``truth``, ...) and its headline figures (a flat
``results["summary"]`` key with the direction that is better). Tensors a metric wants to keep (maps for the
report) go under ``results["arrays"]``; :func:`run_metrics` stores them in a safetensors file beside the
JSONL and writes the file name in their place.
"""

from __future__ import annotations

import datetime
import importlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from aucgan.errors import AucganError
from aucgan.nn.registry import Registry

if TYPE_CHECKING:
    from aucgan.metrics.context import EvalContext

#: Modules holding the built-in metrics (imported on first use so ``aucgan.metrics`` stays light).
BUILTIN_MODULES = (
    "aucgan.metrics.paired",
    "aucgan.metrics.blind",
    "aucgan.metrics.control",
    "aucgan.metrics.spatial",
    "aucgan.metrics.identity",
    "aucgan.metrics.realism",
    "aucgan.metrics.discriminator",
)

#: What a metric may need from the context, and how to provide it (for error messages).
REQUIREMENTS = {
    "judge": "an independent AU estimator (--judge RUN_DIR from `aucgan train-au --config aunet-judge`)",
    "D": "the run's discriminator (from the checkpoint)",
    "truth": "ground truth renders: the data must be a synthetic benchmark folder (`aucgan.data.synth`)",
    "reference": "held-out real maps (the data set's train split)",
}

DIRECTIONS = ("min", "max")


class MetricError(AucganError, ValueError):
    """An unknown metric, or a metric whose requirements the evaluation context does not meet."""


@dataclass(frozen=True)
class Metric:
    """A registered metric: the function, what it needs and its headline ``summary`` keys."""

    name: str
    fn: Callable[[EvalContext], dict]
    needs: tuple[str, ...]
    headline: tuple[tuple[str, str], ...]   # (summary key, "min" | "max")
    description: str
    no_edit: tuple[tuple[str, float | str], ...] = ()   # headline key -> do-nothing score (value or summary key)
    truth: tuple[tuple[str, str], ...] = ()             # headline key -> summary key of the ground truth's score

    def missing(self, ctx: EvalContext) -> list[str]:
        """The requirements ``ctx`` lacks (empty when the metric can run)."""
        return [n for n in self.needs if getattr(ctx, n) is None]


METRICS = Registry("metric")
_loaded = False


def register_metric(name: str, needs: Sequence[str] = (), headline: Sequence[tuple[str, str]] = (),
                    no_edit: Mapping[str, float | str] | None = None, truth: Mapping[str, str] | None = None
                    ) -> Callable[[Callable[[EvalContext], dict]], Callable[[EvalContext], dict]]:
    """Decorator registering ``fn(ctx) -> dict`` as metric ``name``.

    ``no_edit`` gives, per headline key, the score of doing nothing (the unedited source): a number or the
    summary key holding it. Reports show it beside every run and never mark as best a run that is worse than
    it. ``truth`` names, per headline key, the summary key of the ground truth's own score under the same
    measurement (e.g. the judge's reading of the true maps): the best a generator can be shown to do."""
    unknown = [n for n in needs if n not in REQUIREMENTS]
    bad = [d for _, d in headline if d not in DIRECTIONS]
    if unknown or bad:
        raise ValueError(f"metric {name!r}: unknown requirement(s) {unknown} or direction(s) {bad}")

    def deco(fn: Callable[[EvalContext], dict]) -> Callable[[EvalContext], dict]:
        doc = (fn.__doc__ or "").strip().splitlines()
        METRICS.register(name)(Metric(name, fn, tuple(needs), tuple(headline), doc[0] if doc else "",
                                      tuple((no_edit or {}).items()), tuple((truth or {}).items())))
        return fn

    return deco


def _load_builtins() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for mod in BUILTIN_MODULES:
            importlib.import_module(mod)


#: The order metrics run and are reported in (others follow in registration order).
ORDER = ("paired_fidelity", "identity_blind", "au_control", "locality", "identity", "realism", "disc_awareness",
         "sensitivity")


def metric_names() -> list[str]:
    """Names of all registered metrics, built-ins in :data:`ORDER` first."""
    _load_builtins()
    names = list(METRICS.names())
    return [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]


def get_metric(name: str) -> Metric:
    """The metric ``name``; an unknown name is an error listing the valid ones."""
    _load_builtins()
    if name not in METRICS.names():
        raise MetricError(f"unknown metric {name!r}; valid metrics: {', '.join(metric_names())}")
    return METRICS.get(name)


def parse_metric_list(spec: str | Sequence[str] | None) -> list[str]:
    """``"au_control,locality"`` (or a list, or None for all) -> validated metric names in order."""
    if spec is None:
        return metric_names()
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise MetricError(f"no metric named; valid metrics: {', '.join(metric_names())}")
    return [get_metric(n).name for n in dict.fromkeys(items)]


def compute_metric(name: str, ctx: EvalContext) -> dict:
    """Run one metric on ``ctx``; missing requirements are an error saying what to provide."""
    metric = get_metric(name)
    missing = metric.missing(ctx)
    if missing:
        raise MetricError(f"metric {name!r} needs " + "; ".join(REQUIREMENTS[m] for m in missing))
    return metric.fn(ctx)


def json_ready(value: Any) -> Any:
    """Plain JSON values: tensors/arrays to lists, non-finite floats to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, torch.Tensor):
        return json_ready(value.detach().cpu().tolist())
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return json_ready(value.tolist())
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    raise TypeError(f"not JSON-ready: {type(value).__name__}")


def metric_path(run_dir: str | Path, name: str) -> Path:
    """``RUN/metric-<name>.jsonl``."""
    return Path(run_dir) / f"metric-{name}.jsonl"


def run_metrics(run_dir: str | Path, names: Sequence[str], ctx: EvalContext,
                on_result: Callable[[str, dict], None] | None = None) -> dict[str, dict]:
    """Compute ``names`` on ``ctx`` and append one line per metric to ``RUN/metric-<name>.jsonl``.

    Each line: ``{"metric", "step", "results", "arrays" (file name or None), "seconds", "timestamp",
    "seed", "num_samples", **ctx.info}``. Returns ``{name: line}``.
    """
    from safetensors.torch import save_file

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lines: dict[str, dict] = {}
    for name in names:
        t0 = time.perf_counter()
        results = dict(compute_metric(name, ctx))
        arrays = results.pop("arrays", None)
        array_file = None
        if arrays:
            array_file = f"metric-{name}-step{ctx.step:06d}.safetensors"
            tensors = {k: torch.as_tensor(v).detach().float().cpu().contiguous() for k, v in arrays.items()}
            save_file(tensors, str(run_dir / array_file))
        line = {"metric": name, "step": int(ctx.step), "results": json_ready(results), "arrays": array_file,
                "seconds": round(time.perf_counter() - t0, 3),
                "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "seed": ctx.seed, "num_samples": ctx.num_samples, **json_ready(dict(ctx.info))}
        with metric_path(run_dir, name).open("a") as fh:
            fh.write(json.dumps(line) + "\n")
        lines[name] = line
        if on_result is not None:
            on_result(name, line)
    return lines


def read_metric_lines(run_dir: str | Path, name: str) -> list[dict]:
    """All lines of ``RUN/metric-<name>.jsonl`` (empty if none); a corrupt line is an error naming it."""
    path = metric_path(run_dir, name)
    if not path.is_file():
        return []
    out = []
    for i, text in enumerate(path.read_text().splitlines(), 1):
        if not text.strip():
            continue
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError as exc:
            raise MetricError(f"{path}:{i}: not a JSON line ({exc.msg})") from None
    return out


def latest_results(run_dir: str | Path) -> dict[str, dict]:
    """The newest line of every ``metric-*.jsonl`` in a run dir (highest step; the last written on ties)."""
    out = {}
    for path in sorted(Path(run_dir).glob("metric-*.jsonl")):
        name = path.name[len("metric-"):-len(".jsonl")]
        lines = read_metric_lines(run_dir, name)
        if lines:
            best = max(range(len(lines)), key=lambda i: (lines[i].get("step", 0), i))
            out[name] = lines[best]
    return out
