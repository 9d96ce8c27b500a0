"""Score a training run: load its EMA generator, discriminator, data, judge and ground truth into an
:class:`EvalContext`, run the metrics and append their JSON lines (what ``aucgan eval`` does).

The evaluation data is the data set's test split (the run's own data by default: ``RUN/data.json``), the
realism reference a seeded subset of its train split. The judge and the feature extractor may have been
trained on another map encoding or AU set than the generator: :class:`~aucgan.metrics.context.CodecAdapter`
translates.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from aucgan.au import au_indices, au_set
from aucgan.data.codec import MapCodec
from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.metrics.context import CodecAdapter, EvalContext, EvalError, GroundTruth
from aucgan.metrics.registry import REQUIREMENTS, get_metric, metric_names, parse_metric_list, run_metrics
from aucgan.models.build import make_codec
from aucgan.progress import Mode, Progress
from aucgan.rundir.checkpoints import checkpoint_steps
from aucgan.rundir.files import DATA_FILE, recorded_data_path
from aucgan.runs import load_aunet, load_discriminator, load_generator

#: The most evaluation samples held in memory (a seeded subset of a larger test split).
MAX_EVAL_SAMPLES = 512


@dataclass(frozen=True)
class EvalOptions:
    """What ``aucgan eval`` was asked for."""

    data: str | None = None
    judge: str | None = None
    features: str | None = None
    metrics: tuple[str, ...] | None = None     # None: every metric the context can run
    num_samples: int = 64
    num_sweep: int = 4
    seed: int = 0
    device: str = "auto"
    batch_size: int = 32
    split: str = "test"
    checkpoint: int | str | None = None        # a step (or checkpoint folder); None: the latest


class _Subset:
    """Items ``indices`` of an indexable data set."""

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset, self.indices = dataset, list(indices)
        self.layout = getattr(dataset, "layout", None)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.dataset[self.indices[i]]


def resolve_data_path(run_dir: str | Path, data: str | None) -> Path:
    """``--data`` if given, else the path recorded in ``RUN/data.json``; an error saying what to pass."""
    if data:
        return Path(data)
    recorded = recorded_data_path(run_dir)
    if recorded is None:
        raise EvalError(f"{run_dir}: no {DATA_FILE} recording the training data; pass --data DATASET_DIR")
    return recorded


def _seeded_subset(n: int, limit: int, seed: int) -> list[int]:
    if n <= limit:
        return list(range(n))
    return sorted(torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].tolist())


def load_split(path: Path, codec: MapCodec, au_names: Sequence[str], size: int, split: str, limit: int,
               seed: int, extra_attrs: Sequence[str] = ()):
    """A :class:`TrainData` of (a seeded subset of at most ``limit`` samples of) one split of a data set."""
    from aucgan.data.datasets import open_dataset
    from aucgan.training.data import TrainData

    ds = open_dataset(path, split=split, size=(size, size), au_names=list(au_names), preload=False)
    if len(ds) < 2:
        raise EvalError(f"{path}: the {split!r} split has {len(ds)} sample(s); evaluation needs at least 2")
    return TrainData(_Subset(ds, _seeded_subset(len(ds), limit, seed)), codec, au_names, size,
                     extra_attrs=extra_attrs)


def load_judge(run_dir: str | Path, codec: MapCodec, au_names: Sequence[str],
               device: torch.device) -> CodecAdapter:
    """The frozen AU judge of ``run_dir`` (``aucgan train-au``), adapted to the generator's codec and AUs."""
    net, cfg = load_aunet(run_dir, device)
    judge_aus = au_set(cfg.data.au_set)
    missing = [a for a in au_names if a not in judge_aus]
    if missing:
        raise EvalError(f"judge {run_dir} does not read {missing} (it reads the {cfg.data.au_set!r} AU set)")
    columns = au_indices(list(au_names), judge_aus)
    return CodecAdapter(net, codec, make_codec(cfg.data), cfg.data.size, columns)


def load_truth(path: Path, codec: MapCodec, au_names: Sequence[str], size: int) -> GroundTruth | None:
    """A ground-truth renderer when ``path`` is a synthetic benchmark folder, else None."""
    card = path / "dataset.json"
    if not card.is_file():
        return None
    try:
        fmt = json.loads(card.read_text()).get("format")
    except json.JSONDecodeError:
        return None
    if fmt != "aucgan-synth":
        return None
    from aucgan.metrics.truth import SynthTruth

    return SynthTruth(path, codec, au_names, size)


def build_context(run_dir: str | Path, options: EvalOptions,
                  log: Callable[[str], None] = print) -> EvalContext:
    """Load everything the metrics may need for the run's checkpoint (``options.checkpoint``, else the latest)."""
    run_dir = Path(run_dir)
    device = pick_device(options.device)
    G, cfg, step = load_generator(run_dir, device, checkpoint=options.checkpoint)
    codec, au_names, size = make_codec(cfg.data), tuple(au_set(cfg.data.au_set)), cfg.data.size
    data_path = resolve_data_path(run_dir, options.data)
    limit = max(MAX_EVAL_SAMPLES, options.num_samples)
    data = load_split(data_path, codec, au_names, size, options.split, limit, options.seed,
                      cfg.generator.extra_attrs)
    reference = None
    try:
        ref = load_split(data_path, codec, au_names, size, "train", options.num_samples, options.seed + 1)
        reference = ref.x
    except AucganError as exc:
        log(f"realism: no held-out reference ({exc})")
    judge = None if options.judge is None else load_judge(options.judge, codec, au_names, device)
    trained_with = cfg.aunet.checkpoint
    judge_independent = not (options.judge and trained_with
                             and Path(options.judge).resolve() == Path(trained_with).resolve())
    if not judge_independent:
        log(f"warning: the judge {options.judge} is the AU estimator this run trained against; au_control "
            "then measures how well G fooled it, not AU control (train an independent one: "
            "`aucgan train-au --config aunet-judge`)")
    features = None
    if options.features is not None:
        from aucgan.metrics.realism import aunet_features

        features = aunet_features(options.features, codec, device)
    try:
        D, _, _ = load_discriminator(run_dir, device, checkpoint=options.checkpoint)
    except AucganError as exc:
        D = None
        log(f"disc_awareness: no discriminator ({exc})")
    truth = load_truth(data_path, codec, au_names, size)
    info = {"run": str(run_dir), "data": str(data_path), "split": options.split, "judge": options.judge,
            "images": step * cfg.data.batch_size,
            "judge_independent": judge_independent if options.judge else None,
            "features": options.features, "generator": "G_ema", "num_sweep": options.num_sweep,
            "eval_samples": len(data)}
    return EvalContext(G=G, codec=codec, au_names=au_names, data=data, judge=judge, D=D, reference=reference,
                       truth=truth, features=features, device=device, seed=options.seed,
                       num_samples=options.num_samples, num_sweep=options.num_sweep,
                       batch_size=options.batch_size, step=step, info=info)


def select_metrics(ctx: EvalContext, names: Sequence[str] | None) -> tuple[list[str], dict[str, str]]:
    """(metrics to run, {skipped: reason}). Without ``names``: every metric ``ctx`` can run; explicitly
    named metrics whose requirements are missing are an error."""
    if names is None:
        run, skipped = [], {}
        for name in metric_names():
            missing = get_metric(name).missing(ctx)
            if missing:
                skipped[name] = "needs " + "; ".join(REQUIREMENTS[m] for m in missing)
            else:
                run.append(name)
        return run, skipped
    chosen = parse_metric_list(list(names))
    for name in chosen:
        missing = get_metric(name).missing(ctx)
        if missing:
            raise EvalError(f"metric {name!r} needs " + "; ".join(REQUIREMENTS[m] for m in missing))
    return chosen, {}


def format_summary(name: str, line: dict) -> list[str]:
    """Table rows ``metric  key  value`` of one result line (headline keys marked with their direction)."""
    from aucgan.report.collect import fmt  # layer exception: the summary prints numbers as the report does

    arrows = {k: ("▼" if d == "min" else "▲") for k, d in get_metric(name).headline}
    rows = []
    for key, value in line["results"].get("summary", {}).items():
        v = value if isinstance(value, (int, float)) else None
        rows.append(f"{name:<16} {key:<36} {fmt(v):>12} {arrows.get(key, '')}")
    return rows


def at_checkpoint(ctx: EvalContext, run_dir: str | Path, step: int) -> EvalContext:
    """``ctx`` with the generator (EMA) and discriminator of checkpoint ``step`` of the same run (the data,
    judge and truth are reused: a learning curve loads them once)."""
    G, cfg, step = load_generator(run_dir, ctx.device, checkpoint=step)
    D = ctx.D
    if D is not None:
        D, _, _ = load_discriminator(run_dir, ctx.device, checkpoint=step)
    info = {**ctx.info, "images": step * cfg.data.batch_size}
    return dataclasses.replace(ctx, G=G, D=D, step=step, info=info)


def evaluate_all(run_dir: str | Path, options: EvalOptions, steps: Sequence[int] | None = None,
                 log: Callable[[str], None] = print, progress: Mode = "off") -> dict[int, dict[str, dict]]:
    """Score every checkpoint of a run (or ``steps``) in step order - a learning curve: one line per metric and
    checkpoint in ``RUN/metric-<name>.jsonl``, each with the images the generator had seen (``images``).
    ``progress`` (a :class:`~aucgan.progress.Progress` mode) counts the metrics scored over all checkpoints."""
    steps = list(checkpoint_steps(run_dir) if steps is None else steps)
    if not steps:
        raise EvalError(f"{run_dir}: the run has no checkpoint yet")
    ctx = build_context(run_dir, dataclasses.replace(options, checkpoint=steps[0]), log)
    names, skipped = select_metrics(ctx, options.metrics)
    for name, reason in skipped.items():
        log(f"skipping {name}: {reason}")
    out = {}
    with Progress(len(steps) * len(names), f"eval {Path(run_dir).name}", unit="metric", mode=progress) as bar:
        for step in steps:
            ctx = at_checkpoint(ctx, run_dir, step)
            out[step] = run_metrics(run_dir, names, ctx,
                                    on_result=lambda name, _, s=step: bar.update(postfix={"step": s, "done": name}))
            log(f"step {step} ({ctx.info['images']} images): " + ", ".join(
                f"{k.split('/', 1)[1]} {v:.3f}" for k, v in out[step].get("paired_fidelity", {})
                .get("results", {}).get("summary", {}).items()
                if k.startswith("explained/") and isinstance(v, (int, float))))
    return out


def evaluate(run_dir: str | Path, options: EvalOptions,
             log: Callable[[str], None] = print) -> dict[str, dict]:
    """Score the run's checkpoint (the latest unless ``options.checkpoint``); append ``RUN/metric-<name>.jsonl``
    lines; return them by name."""
    ctx = build_context(run_dir, options, log)
    names, skipped = select_metrics(ctx, options.metrics)
    for name, reason in skipped.items():
        log(f"skipping {name}: {reason}")
    log(f"scoring step {ctx.step} of {run_dir} on {len(ctx.data)} {options.split} samples: "
        f"{', '.join(names)}")
    log(f"{'metric':<16} {'figure':<36} {'value':>12}")

    def show(name: str, line: dict) -> None:
        for row in format_summary(name, line):
            log(row)

    return run_metrics(run_dir, names, ctx, on_result=show)
