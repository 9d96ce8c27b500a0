"""Read what a training run left behind: its config, metric lines (newest per metric) and training stats,
and line the runs up in the summary table (headline figures, best per column)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aucgan.errors import AucganError
from aucgan.metrics.registry import get_metric, latest_results, metric_names
from aucgan.rundir.files import CONFIG_FILE, STATS_FILE, read_json
from aucgan.rundir.stats import read_stats
from aucgan.runs import load_run_config


class ReportError(AucganError, ValueError):
    """A run directory the report cannot read."""


@dataclass(frozen=True)
class RunRecord:
    """One run as the report sees it."""

    name: str
    path: Path
    config: dict
    metrics: dict[str, dict]          # metric name -> its newest JSONL line
    stats: list[dict]                 # rows of stats.jsonl
    preset: str | None = None         # the preset an ablation variant started from (its config's name is the run's)
    settings: dict = field(default_factory=dict)   # config.json read as today's config, every default filled in
    #                                                (empty when it cannot be: then only ``config`` says anything)

    @property
    def step(self) -> int | None:
        """The checkpoint step the metrics were computed at (the newest), None if not evaluated."""
        steps = [int(line.get("step", 0)) for line in self.metrics.values()]
        return max(steps) if steps else None

    def summary(self, metric: str) -> dict:
        """The ``summary`` dict of a metric's newest result (empty if absent)."""
        line = self.metrics.get(metric)
        return dict(line["results"].get("summary", {})) if line else {}

    def arrays_path(self, metric: str) -> Path | None:
        """The safetensors file of a metric's maps, if it wrote one and it exists."""
        line = self.metrics.get(metric)
        if not line or not line.get("arrays"):
            return None
        path = self.path / line["arrays"]
        return path if path.is_file() else None


@dataclass(frozen=True)
class Column:
    """A summary-table column: ``metric``'s summary ``key``, better when ``direction`` (min/max); ``no_edit`` and
    ``truth`` are the do-nothing and ground-truth scores (a number or the summary key holding it), if known."""

    metric: str
    key: str
    direction: str | None
    no_edit: float | str | None = None
    truth: float | str | None = None

    @property
    def label(self) -> str:
        return f"{self.metric}: {self.key}"


#: What ``aucgan ablate`` records in each variant's run directory (the preset and overrides it started from).
ABLATION_VARIANT_FILE = "ablation-variant.json"


def collect_run(run_dir: str | Path, name: str | None = None) -> RunRecord:
    """Read a run directory (config.json, metric-*.jsonl, stats.jsonl, an ablation variant's preset)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ReportError(f"{path}: no such run directory")
    config = read_json(path / CONFIG_FILE, "training run") if (path / CONFIG_FILE).is_file() else {}
    stats = read_stats(path) if (path / STATS_FILE).is_file() else []
    variant = path / ABLATION_VARIANT_FILE
    recorded = read_json(variant, "ablation variant") if variant.is_file() else {}
    preset = recorded.get("preset") if isinstance(recorded, dict) else None
    settings = {}
    if config:
        try:
            settings = dataclasses.asdict(load_run_config(path))
        except AucganError:
            settings = {}
    return RunRecord(name=name or path.name, path=path, config=config, metrics=latest_results(path), stats=stats,
                     preset=None if preset is None else str(preset), settings=settings)


def run_names(paths: Sequence[str | Path]) -> list[str]:
    """Short distinct names for runs: the folder name, with parent folders added until names are unique."""
    parts = [Path(p).resolve().parts for p in paths]
    depth = 1
    while depth < max(len(p) for p in parts):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
        depth += 1
    return [str(Path(p)) for p in paths]


def ordered_metrics(records: Sequence[RunRecord]) -> list[str]:
    present = {m for r in records for m in r.metrics}
    known = [m for m in metric_names() if m in present]
    return known + sorted(present - set(known))


def headline_columns(records: Sequence[RunRecord]) -> list[Column]:
    """Columns of the headline figures that at least one run has, in registry order."""
    cols = []
    for metric in ordered_metrics(records):
        try:
            headline = get_metric(metric).headline
        except AucganError:
            headline = ()
        refs, truth = _references(metric)
        for key, direction in headline:
            if any(r.summary(metric).get(key) is not None for r in records):
                cols.append(Column(metric, key, direction, refs.get(key), truth.get(key)))
    return cols


#: The at-a-glance table: (metric, summary key, short label), in order. With the synthetic benchmark's paired
#: truth: the share of the true change an edit reproduces per edit set and map, and how well D tells a
#: face's own AUs from another's; without it, AU control read by the judge and locality instead.
GLANCE = (
    *(("paired_fidelity", f"explained/{m}/{s}", f"{s}: {'displ.' if m == 'displacement' else m}")
      for s in ("add", "remove", "transfer") for m in ("displacement", "albedo")),
    ("disc_awareness", "auc", "D AUC"),
)
#: In a world whose AU changes do not follow the atlas footprints (the strain world), the whole-map figures lead.
GLANCE_WHOLE = (
    *(("paired_fidelity", f"explained_whole/{m}/{s}", f"{s}: {'displ.' if m == 'displacement' else m}")
      for s in ("add", "remove", "transfer") for m in ("displacement", "albedo")),
    ("disc_awareness", "auc", "D AUC"),
)
GLANCE_WITHOUT_TRUTH = (
    ("au_control", "mae_changed", "AU error of edits"),
    ("au_control", "icc_changed", "AU agreement (ICC)"),
    ("locality", "leakage", "leakage"),
    ("disc_awareness", "auc", "D AUC"),
)
#: ``explained`` is 1 for the ground truth itself (it reproduces all of the true change).
_EXPLAINED_TRUTH = 1.0


def glance_columns(records: Sequence[RunRecord]) -> tuple[list[Column], dict[Column, str]]:
    """The few headline columns a person reads first (:data:`GLANCE`, or :data:`GLANCE_WITHOUT_TRUTH` when no run
    has paired-truth figures) that some run has, and their short labels."""
    heads = {(c.metric, c.key): c for c in headline_columns(records)}
    chosen = GLANCE if any((m, k) in heads for m, k, _ in GLANCE if m == "paired_fidelity") else GLANCE_WITHOUT_TRUTH
    if chosen is GLANCE and "strain" in benchmark_worlds(records):
        chosen = GLANCE_WHOLE
    cols, labels = [], {}
    for metric, key, label in chosen:
        c = heads.get((metric, key))
        if c is None and key.startswith("explained_whole/") and any(key in r.summary(metric) for r in records):
            c = Column(metric, key, "max", 0.0)
        if c is None:
            continue
        if key.startswith("explained") and c.truth is None:
            c = Column(c.metric, c.key, c.direction, c.no_edit, _EXPLAINED_TRUTH)
        cols.append(c)
        labels[c] = label
    return cols, labels


def benchmark_worlds(records: Sequence[RunRecord]) -> set[str]:
    """The synthetic benchmark worlds the runs' paired-truth figures were measured in (``default``, ``strain``)."""
    return {str(r.metrics["paired_fidelity"].get("results", {}).get("world", "default"))
            for r in records if "paired_fidelity" in r.metrics}


def _references(metric: str) -> tuple[dict, dict]:
    try:
        m = get_metric(metric)
    except AucganError:
        return {}, {}
    return dict(m.no_edit), dict(m.truth)


def reference_value(record: RunRecord, column: Column, which: str = "no_edit") -> float | None:
    """The do-nothing (``no_edit``), ground-truth (``truth``) or identity-blind (``identity_blind``: the median
    change of training people, for ``paired_fidelity``'s columns when the run was scored with it) score of
    ``column`` as ``record`` measured it."""
    if which == "identity_blind":
        v = record.summary("identity_blind").get(column.key) if column.metric == "paired_fidelity" else None
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
    ref = column.no_edit if which == "no_edit" else column.truth
    if ref is None:
        return None
    v = ref if isinstance(ref, (int, float)) else record.summary(column.metric).get(ref)
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def reference_row(records: Sequence[RunRecord], columns: Sequence[Column], which: str = "no_edit"
                  ) -> list[float | None] | None:
    """Per column, the reference score (from the first run that has it); None when no column has one."""
    row = []
    for c in columns:
        vals = [v for r in records if (v := reference_value(r, c, which)) is not None]
        row.append(vals[0] if vals else None)
    return row if any(v is not None for v in row) else None


def detail_columns(records: Sequence[RunRecord], metric: str) -> list[Column]:
    """Every summary key of ``metric`` any run has (direction known for headline keys)."""
    try:
        directions = dict(get_metric(metric).headline)
    except AucganError:
        directions = {}
    keys: dict[str, None] = {}
    for r in records:
        keys.update(dict.fromkeys(r.summary(metric)))
    refs, truth = _references(metric)
    return [Column(metric, k, directions.get(k), refs.get(k), truth.get(k)) for k in keys]


def table(records: Sequence[RunRecord], columns: Sequence[Column]
          ) -> tuple[list[list[float | None]], list[set[int]]]:
    """Values (rows = runs) and, per column, the indices of the best runs (ties all marked); a run worse than
    doing nothing (the column's ``no_edit`` score) is never the best."""
    values = []
    for r in records:
        row = []
        for c in columns:
            v = r.summary(c.metric).get(c.key)
            row.append(float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None)
        values.append(row)
    best = []
    for j, c in enumerate(columns):
        col = [(i, row[j]) for i, row in enumerate(values) if row[j] is not None
               and not _worse_than_no_edit(row[j], reference_value(records[i], c), c.direction)]
        if c.direction is None or not col or len(records) < 2:
            best.append(set())
            continue
        target = (min if c.direction == "min" else max)(v for _, v in col)
        best.append({i for i, v in col if math.isclose(v, target, rel_tol=1e-9, abs_tol=1e-12)})
    return values, best


def _worse_than_no_edit(value: float, ref: float | None, direction: str | None) -> bool:
    """Whether ``value`` is worse than the do-nothing score ``ref`` (such a run is never marked best)."""
    if ref is None or direction is None:
        return False
    return value < ref if direction == "max" else value > ref


def fmt(value: float | None) -> str:
    """Four significant digits; an em dash for missing values."""
    if value is None:
        return "—"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3e}"
    return f"{value:.4g}"
