"""The comparison report: a static HTML page (images beside it in ``img/``), a Markdown table and a JSON
summary, built from run directories' metric lines, maps and training stats."""

from __future__ import annotations

import datetime
import html
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from aucgan.fsutil import atomic_write
from aucgan.report.collect import (
    Column,
    RunRecord,
    detail_columns,
    fmt,
    glance_columns,
    headline_columns,
    ordered_metrics,
    reference_row,
    table,
)
from aucgan.report.plots import learning_curves, per_au_bars, sensitivity_heatmaps, training_curves

ARROW = {"min": "▼", "max": "▲", None: ""}

#: Loss terms named in the runs table: (config key, name); those with weight 0 are left out.
G_TERMS = (("w_adv", "adversarial"), ("w_rec", "reconstruction"), ("w_cycle", "cycle"),
           ("w_detail", "detail consistency"), ("w_locality", "locality"), ("w_shaded_rec", "shaded reconstruction"),
           ("w_attention_mean", "attention mean"), ("w_attention_tv", "attention TV"),
           ("w_disp_reg", "displacement reg."))
D_TERMS = (("r1_gamma", "R1"), ("gp_weight", "gradient penalty"), ("w_d_au", "AU head"),
           ("w_d_mismatch", "mismatched AUs"))

#: Reference rows under the runs: (which, label).
REFERENCE_ROWS = (("no_edit", "doing nothing (the unedited source)"),
                  ("identity_blind", "the median change of training people (knows the edit, not the person)"),
                  ("truth", "the ground truth (the true maps; for AU control, the judge reading them)"))

CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.4em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
td.best { font-weight: bold; background: #e3f5e1; }
img { max-width: 100%; border: 1px solid #ddd; margin: 4px 0; }
.note { color: #666; font-size: 0.85em; }
figure { margin: 0.6em 0 1.2em; } figcaption { font-size: 0.85em; color: #444; }
"""

#: Per-AU bar charts: (metric, results section, key, title, y-limits).
BAR_CHARTS = (
    ("au_control", "per_au", "icc", "AU control: ICC(3,1) of judge-read vs target intensity", (-1.0, 1.0)),
    ("au_control", "per_au", "mae", "AU control: MAE of judge-read vs target intensity (0..5)", None),
    ("au_control", "sweep", "spearman", "Single-AU sweeps 0..5: Spearman of read vs target", (-1.0, 1.0)),
    ("locality", "per_au", "leakage", "Locality: leakage of single-AU edits", (0.0, 1.0)),
    ("sensitivity", "per_au", "focus", "Sensitivity focus: inside / (inside + outside)", (0.0, 1.0)),
)


def slug(text: str) -> str:
    """A file-name-safe version of a run or metric name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "run"


def _run_facts(r: RunRecord) -> dict[str, str]:
    """What a run really uses, from its resolved config (defaults filled in): a term with weight 0 is named as
    off or left out."""
    cfg = r.settings or r.config
    g, d, loss = cfg.get("generator", {}), cfg.get("discriminator", {}), cfg.get("loss", {})
    kind = str(d.get("kind", "?"))
    trunk = d.get("trunk")
    w_au = loss.get("w_au")
    au = f"{loss.get('au_loss', '?')} via {loss.get('au_source', '?')}"
    return {"preset": r.preset or str(cfg.get("name", "?")), "step": "—" if r.step is None else str(r.step),
            "conditioning": "+".join(g.get("conditioning", [])) or "?",
            "discriminator": kind + (f" ({trunk} trunk)" if trunk and trunk != "patchgan" else ""),
            "AU loss": au if w_au is None else (f"{au}, weight {w_au:g}" if w_au > 0 else "off (loss.w_au 0)"),
            "other G losses": ", ".join(_terms(loss, G_TERMS)) or "none",
            "D losses": ", ".join(_terms(loss, D_TERMS, aux_head="aux" in kind)) or "none",
            "size": str(cfg.get("data", {}).get("size", "?"))}


def _terms(loss: dict, terms: Sequence[tuple[str, str]], aux_head: bool = True) -> list[str]:
    out = []
    for key, name in terms:
        w = loss.get(key, 0)
        if key == "w_adv" and w:
            out.append(f"{loss.get('adversarial', '?')} {name} {w:g}")
        elif key == "w_d_au" and not aux_head:
            continue                                # a discriminator without an AU head has no such term
        elif isinstance(w, (int, float)) and w:
            out.append(f"{name} {w:g}")
    return out


def _html_table(records: Sequence[RunRecord], columns: Sequence[Column], label=lambda c: c.label) -> str:
    values, best = table(records, columns)
    head = "".join(f"<th>{html.escape(label(c))} {ARROW[c.direction]}</th>" for c in columns)
    rows = []
    for i, r in enumerate(records):
        cells = "".join(f'<td class="best">{fmt(v)}</td>' if i in best[j] else f"<td>{fmt(v)}</td>"
                        for j, v in enumerate(values[i]))
        rows.append(f"<tr><td>{html.escape(r.name)}</td>{cells}</tr>")
    for which, name in REFERENCE_ROWS:
        ref = reference_row(records, columns, which)
        if ref is not None:
            cells = "".join(f"<td><i>{fmt(v) if v is not None else ''}</i></td>" for v in ref)
            rows.append(f'<tr class="ref"><td><i>{html.escape(name)}</i></td>{cells}</tr>')
    return f"<table><tr><th>run</th>{head}</tr>{''.join(rows)}</table>"


def markdown_table(records: Sequence[RunRecord], columns: Sequence[Column], label=lambda c: c.label) -> str:
    """A Markdown table of ``columns`` per run, the best value per column in bold."""
    values, best = table(records, columns)
    head = "| run | " + " | ".join(f"{label(c)} {ARROW[c.direction]}".strip() for c in columns) + " |"
    sep = "|---|" + "---:|" * len(columns)
    rows = [f"| {r.name} | " + " | ".join(f"**{fmt(v)}**" if i in best[j] else fmt(v)
                                         for j, v in enumerate(values[i])) + " |"
            for i, r in enumerate(records)]
    for which, name in REFERENCE_ROWS:
        ref = reference_row(records, columns, which)
        if ref is not None:
            rows.append(f"| _{name}_ | " + " | ".join(f"_{fmt(v)}_" if v is not None else "" for v in ref) + " |")
    return "\n".join([head, sep, *rows])


def _img(path: Path, out_dir: Path, caption: str) -> str:
    rel = path.relative_to(out_dir).as_posix()
    return (f'<figure><img src="{html.escape(rel)}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _notes(records: Sequence[RunRecord]) -> list[str]:
    notes = []
    for r in records:
        if not r.metrics:
            notes.append(f"{r.name}: not evaluated yet (run `aucgan eval {r.path}`)")
        for name, line in r.metrics.items():
            for val in line.get("results", {}).values():
                if isinstance(val, str):
                    notes.append(f"{r.name} / {name}: {val}")
    return notes


def _write_utf8(path: Path, text: str) -> None:
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def _runs_table(records: Sequence[RunRecord]) -> tuple[str, str]:
    """The runs and what each uses, as HTML and as Markdown."""
    facts = [_run_facts(r) for r in records]
    keys = list(facts[0]) if facts else []
    cells = ["".join(f"<td>{html.escape(f[k])}</td>" for k in keys) for f in facts]
    rows = "".join(f"<tr><td>{html.escape(r.name)}</td>{c}<td>{html.escape(str(r.path))}</td></tr>"
                   for r, c in zip(records, cells))
    page = ("<table><tr><th>run</th>" + "".join(f"<th>{html.escape(k)}</th>" for k in keys)
            + f"<th>directory</th></tr>{rows}</table>")
    md = "\n".join(["| run | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys),
                    *[f"| {r.name} | " + " | ".join(f[k] for k in keys) + " |" for r, f in zip(records, facts)]])
    return page, md


GLANCE_NOTE = ("explained: the share of the true change an edit reproduces inside the footprints of the AUs it "
               "changes (0 = no edit, 1 = the exact truth, below 0 = worse than not editing), for adding one AU, "
               "removing one and transferring a whole expression, on the displacement and the albedo; D AUC: how "
               "often the discriminator scores a face with its own AUs above the same face with another's (0.5 = "
               "it does not check the AUs).")
GLANCE_NOTE_WHOLE = ("explained (whole map): the share of the true change an edit reproduces over the whole map - "
                     "in this world an AU's change does not keep to its atlas footprint - (0 = no edit, 1 = the "
                     "exact truth, below 0 = worse than not editing), for adding one AU, removing one and "
                     "transferring a whole expression, on the displacement and the albedo; D AUC: how often the "
                     "discriminator scores a face with its own AUs above the same face with another's (0.5 = it does "
                     "not check the AUs).")
GLANCE_NOTE_WITHOUT_TRUTH = ("AU error / agreement: the independent judge's reading of edited maps against the "
                             "target intensities; leakage: the share of a single-AU edit outside its footprint; "
                             "D AUC: how often the discriminator scores a face with its own AUs above the same face "
                             "with another's (0.5 = it does not check the AUs).")


def write_report(records: Sequence[RunRecord], out_dir: str | Path, title: str = "aucgan comparison",
                 sweep_images: Mapping[str, Sequence[tuple[str, Path]]] | None = None,
                 truth_edits: Path | None = None) -> Path:
    """Write ``index.html``, ``summary.md`` and ``summary.json`` (plus ``img/``) for ``records``; returns the
    HTML path. ``sweep_images``: run name -> [(caption, PNG path inside out_dir)] already rendered.

    Both pages lead with the at-a-glance table (:func:`~aucgan.report.collect.glance_columns`) and, on the
    synthetic benchmark, the add/remove picture against the truth; the runs, every other headline figure
    (one table per metric) and every figure follow."""
    out_dir = Path(out_dir)
    img = out_dir / "img"
    img.mkdir(parents=True, exist_ok=True)
    heads = headline_columns(records)
    glance, glance_labels = glance_columns(records)
    short = lambda c: f"{c.metric}: {c.key}"  # noqa: E731
    legend = ("▼ lower is better, ▲ higher is better; the best run per column is {mark}, and a run worse than "
              "doing nothing (the unedited source, in italics below the runs) is never marked best.")
    parts = [f"<h1>{html.escape(title)}</h1>",
             f'<p class="note">generated {datetime.datetime.now().isoformat(timespec="seconds")}; '
             f"{legend.format(mark='highlighted')} Metric definitions: docs/metrics.md.</p>"]
    md = [f"# {title}", "", legend.format(mark="bold"), ""]
    note = (GLANCE_NOTE_WHOLE if any(c.key.startswith("explained_whole/") for c in glance)
            else GLANCE_NOTE if any(c.metric == "paired_fidelity" for c in glance) else GLANCE_NOTE_WITHOUT_TRUTH)
    if glance:
        parts += ["<h2>At a glance</h2>", _html_table(records, glance, glance_labels.get),
                  f'<p class="note">{html.escape(note)}</p>']
        md += ["## At a glance", "", markdown_table(records, glance, glance_labels.get), "", note, ""]
    else:
        parts.append('<p class="note">no metric results yet</p>')
        md += ["_no metric results yet_", ""]
    if truth_edits is not None:
        caption = ("per AU, a row adding it and a row removing it on held-out faces: source | ground truth | each "
                   "run (shaded displacement | albedo, cropped around the AU's footprint)")
        parts.append("<h2>Edits against the truth</h2>" + _img(truth_edits, out_dir, caption))
        md += ["## Edits against the truth", "", f"![adding and removing each AU]({truth_edits.relative_to(out_dir)})",
               "", caption, ""]

    runs_html, runs_md = _runs_table(records)
    parts.append("<h2>Runs</h2>" + runs_html)
    md += ["## Runs", "", runs_md, ""]

    shown = {(c.metric, c.key) for c in glance}
    rest = [c for c in heads if (c.metric, c.key) not in shown]
    if rest:
        parts.append("<h2>Other headline figures</h2>")
        md += ["## Other headline figures", ""]
        for metric in dict.fromkeys(c.metric for c in rest):
            cols = [c for c in rest if c.metric == metric]
            parts.append(f"<h3>{html.escape(metric)}</h3>" + _html_table(records, cols, lambda c: c.key))
            md += [f"### {metric}", "", markdown_table(records, cols, lambda c: c.key), ""]
    parts.append("<h2>All figures per metric</h2>")
    md += ["## All figures per metric", ""]
    for metric in ordered_metrics(records):
        cols = detail_columns(records, metric)
        if cols:
            parts.append(f"<h3>{html.escape(metric)}</h3>" + _html_table(records, cols, lambda c: c.key))
            md += [f"### {metric}", "", markdown_table(records, cols, lambda c: c.key), ""]

    figures = []
    for metric, section, key, caption, ylim in BAR_CHARTS:
        p = per_au_bars(records, metric, section, key, caption, img / f"bars-{metric}-{section}-{key}.png",
                        ylim)
        if p is not None:
            figures.append(_img(p, out_dir, caption))
    if figures:
        parts.append("<h2>Per-AU controllability and locality</h2>" + "".join(figures))

    sens_figs = []
    for r in records:
        arrays = r.arrays_path("sensitivity")
        if arrays is None:
            continue
        from safetensors.torch import load_file

        t = load_file(str(arrays))
        res = r.metrics["sensitivity"]["results"]
        names = res.get("au_names") or list(res.get("per_au", {}).get("inside", {}))
        step = r.metrics["sensitivity"]["step"]
        caption = f"{r.name}: mean |dG/dAU_k| with AU k's footprint outlined (step {step})"
        p = sensitivity_heatmaps(t["sensitivity"], t["footprints"], names, caption,
                                 img / f"sensitivity-{slug(r.name)}.png", res.get("threshold", 0.05))
        sens_figs.append(_img(p, out_dir, caption))
    if sens_figs:
        parts.append("<h2>Sensitivity maps</h2>" + "".join(sens_figs))

    if sweep_images:
        parts.append("<h2>AU sweeps</h2><p class=\"note\">rows: AUs; columns: target intensity 0..5 "
                     "(the other AUs as in the source).</p>")
        for name, items in sweep_images.items():
            parts.append(f"<h3>{html.escape(name)}</h3>" + "".join(_img(p, out_dir, c) for c, p in items))

    learning = learning_curves(records, img / "learning-curves.png")
    if learning is not None:
        parts.append("<h2>Learning curves</h2>" + _img(
            learning, out_dir, "explained (paired_fidelity) against the images each generator had seen; 0 (dashed) "
            "is doing nothing, 1 the exact true change"))
    curves = training_curves(records, img / "training-curves.png")
    if curves is not None:
        parts.append("<h2>Training curves</h2>" + _img(curves, out_dir, "losses from stats.jsonl"))
    notes = _notes(records)
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
        md += ["## Notes", "", *[f"- {n}" for n in notes], ""]

    page = (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")
    _write_utf8(out_dir / "index.html", page)
    _write_utf8(out_dir / "summary.md", "\n".join(md))
    values, best = table(records, heads)
    summary = {"title": title, "glance": [short(c) for c in glance],
               "runs": [{"name": r.name, "path": str(r.path), "step": r.step, **_run_facts(r),
                         "headline": {short(c): values[i][j] for j, c in enumerate(heads)}}
                        for i, r in enumerate(records)],
               "best": {short(c): [records[i].name for i in sorted(best[j])] for j, c in enumerate(heads)}}
    _write_utf8(out_dir / "summary.json", json.dumps(summary, indent=1))
    return out_dir / "index.html"
