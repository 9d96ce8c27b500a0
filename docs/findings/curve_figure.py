"""Draw docs/findings/curves.png: paired-truth `explained` against images seen, one line per run.

Usage: python docs/findings/curve_figure.py OUT.png NAME=CURVE.jsonl [NAME=CURVE.jsonl ...]
A curve file holds one JSON line per checkpoint with ``images`` and the paired_fidelity summary, either as
``aucgan eval RUN --checkpoint all --metrics paired_fidelity`` writes it (RUN/metric-paired_fidelity.jsonl:
``results.summary``) or under a ``paired_fidelity`` key. 0 is not editing at all; the dashed lines are the
targets of docs/findings.md (0.7 in displacement, 0.5 in albedo).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (("displacement", "add"), ("displacement", "remove"), ("albedo", "add"), ("albedo", "remove"))
TARGET = {"displacement": 0.7, "albedo": 0.5}


def read_curve(path: Path) -> list[tuple[int, dict]]:
    """(images, paired_fidelity summary) per checkpoint, sorted by images; the last line per step wins."""
    points: dict[int, dict] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        summary = rec.get("paired_fidelity") or rec.get("results", {}).get("summary")
        if summary is not None and rec.get("images") is not None:
            points[int(rec["images"])] = summary
    return sorted(points.items())


def main(out: str, specs: list[str]) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(9, 7), sharex=True)
    for spec in specs:
        name, _, path = spec.partition("=")
        curve = read_curve(Path(path))
        for ax, (m, s) in zip(axes.flat, PANELS):
            pts = [(n, summ[f"explained/{m}/{s}"]) for n, summ in curve if f"explained/{m}/{s}" in summ]
            if pts:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=name)
    for ax, (m, s) in zip(axes.flat, PANELS):
        ax.axhline(0.0, color="black", lw=0.8)
        ax.axhline(TARGET[m], color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_ylim(-1.0, 1.0)
        ax.set_title(f"{m}: {'adding' if s == 'add' else 'removing'} an AU", fontsize=10)
        ax.set_ylabel("explained (0 = no edit)")
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("images seen")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    fig.suptitle("Share of the true change reproduced (held-out identities, 64 px; below -1 not shown)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out, dpi=80)
    print(out)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2:])
