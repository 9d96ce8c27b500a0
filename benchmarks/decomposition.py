"""Decomposition study: ``improved`` (one conditioning for both maps) vs ``decomposed`` (AUs -> displacement,
attributes -> albedo), at equal budget on the synthetic benchmark.

``python -m benchmarks.decomposition --out /tmp/decomp`` writes a benchmark, trains two AU estimators on
shaded renders (the one the AU loss reads, and an independent judge with another seed and architecture),
trains both presets with the same data, seed, widths and steps, and scores them on the test identities:

* **AU control on shaded renders**: the judge reads SH-lit renders (a fixed seeded lighting sequence) of
  edits towards other test samples' AUs; MAE (0..5) and Pearson r between target and read intensities;
  the judge's own MAE on real test renders is the floor.
* **Flush error**: edits towards another expression of the same identity (its AUs, emotion and valence),
  albedo L1 against that expression's ground truth inside the identity's blood-flow regions (forehead,
  cheeks, nose, chin; soft masks of the benchmark); "copy" is the error of returning the source albedo;
  "edit_change" compares the change the edit makes (output minus the model's own reconstruction) with the
  true change, which leaves reconstruction error out.
* **Albedo change under AU edits**: one AU set to 5 (others and the attributes kept), mean |albedo change|
  over the face, for wrinkle AUs and for the aperture AUs (lids, lips) separately; the benchmark's own
  change (crease darkening, eye/mouth openings) is given beside it.

Results: ``results-<presets>.json`` and a Markdown table on stdout. Budget: ``--steps`` generator steps per preset.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from aucgan.au import AU_NAMES
from aucgan.config.loading import load_config
from aucgan.config.schema import AUNetTrainConfig
from aucgan.data.datasets import open_dataset
from aucgan.data.synth import make_identities, write_dataset
from aucgan.data.synth.config import SynthConfig
from aucgan.data.synth.render import render
from aucgan.layout.atlas import face_mask
from aucgan.models.build import make_codec
from aucgan.models.decomposed import APERTURE_AUS
from aucgan.runs import load_aunet, load_generator
from aucgan.training.aunet_loop import train_aunet
from aucgan.training.data import TrainData
from aucgan.training.loop import training_loop

ATTRS = ["emotion", "valence", "age", "gender"]


def slim(size: int, batch: int, steps: int, aunet: Path) -> list[str]:
    """Overrides shared by both presets: slim networks for a CPU budget."""
    return [f"data.size={size}", f"data.batch_size={batch}", "generator.base_channels=16",
            "generator.max_channels=64", "generator.latent_dim=64", "discriminator.base_channels=16",
            "discriminator.max_channels=64", f"steps={steps}", "log_every=25", f"sample_every={steps}",
            f"ckpt_every={steps}", "tensorboard=false", "threads=1", f"aunet.checkpoint={aunet}"]


@torch.no_grad()
def _run_g(G, x, au, fp, extra, source_au, batch: int = 32) -> torch.Tensor:
    outs = []
    for s in range(0, x.shape[0], batch):
        sl = slice(s, s + batch)
        outs.append(G(x[sl], au[sl], fp[sl], extra=None if extra is None else extra[sl],
                      source_au=source_au[sl])["out"])
    return torch.cat(outs)


def _identity_index(identity_name: str) -> int:
    return int(identity_name.replace("id", ""))


@torch.no_grad()
def evaluate(run_dir: Path, data_dir: Path, judge_dir: Path, seed: int = 0) -> dict:
    """The three figures of the module docstring for one run."""
    G, cfg, step = load_generator(run_dir)
    codec, size = make_codec(cfg.data), cfg.data.size
    ds = open_dataset(data_dir, split="test", size=(size, size), au_names=AU_NAMES, preload=True)
    attrs = tuple(cfg.generator.extra_attrs)
    td = TrainData(ds, codec, AU_NAMES, size, extra_attrs=attrs) if attrs else TrainData(ds, codec, AU_NAMES, size)
    extra = getattr(td, "extra", None)
    judge, _ = load_aunet(judge_dir)
    n = len(td)
    x, au, fp = td.x, td.au, td.footprints[td.layout_index]
    g = torch.Generator().manual_seed(seed)
    sl = codec.slices()
    items = [ds[i] for i in range(n)]
    card = json.loads((data_dir / "dataset.json").read_text())
    idx = [_identity_index(it["identity"]) for it in items]
    uniq = sorted(set(idx))
    ids = make_identities(uniq, card["seed"], SynthConfig(**{**card["params"], "size": size}))
    row = torch.tensor([uniq.index(i) for i in idx])

    def with_expression(src: torch.Tensor, other: torch.Tensor) -> torch.Tensor | None:
        if extra is None:
            return None
        from aucgan.data.conditions import EXPRESSION_ATTRS, extra_slices

        out = extra[src].clone()
        for name, s in extra_slices(attrs).items():
            if name in EXPRESSION_ATTRS:
                out[:, s] = extra[other][:, s]
        return out

    # AU control on shaded renders: targets are other test samples' AUs (and expression attributes)
    perm = torch.randperm(n, generator=g)
    src = torch.arange(n)
    out = _run_g(G, x, au[perm], fp, with_expression(src, perm), au)
    read = torch.cat([judge.predict(out[s:s + 64]) for s in range(0, n, 64)]).numpy()
    target = au[perm].numpy() * 5.0
    real = torch.cat([judge.predict(x[s:s + 64]) for s in range(0, n, 64)]).numpy()
    mae = float(np.abs(read - target).mean())
    pearson = float(np.corrcoef(read.reshape(-1), target.reshape(-1))[0, 1])
    floor = float(np.abs(real - au.numpy() * 5.0).mean())

    # flush: another expression of the same identity
    partner = []
    for i in range(n):
        same = [j for j in range(n) if idx[j] == idx[i] and j != i]
        partner.append(same[int(torch.randint(len(same), (1,), generator=g))] if same else i)
    partner = torch.tensor(partner)
    out_p = _run_g(G, x, au[partner], fp, with_expression(src, partner), au)
    alb_out = codec.decode(out_p)["albedo"]
    alb_true = codec.decode(x[partner])["albedo"]
    alb_src = codec.decode(x)["albedo"]
    flush = ids.flush[row].amax(dim=1, keepdim=True)
    w = flush.expand_as(alb_out)
    flush_l1 = float(((alb_out - alb_true).abs() * w).sum() / w.sum())
    copy_l1 = float(((alb_src - alb_true).abs() * w).sum() / w.sum())
    own = codec.decode(_run_g(G, x, au, fp, extra, au))["albedo"]          # the model's reconstruction
    edit_l1 = float((((alb_out - own) - (alb_true - alb_src)).abs() * w).sum() / w.sum())

    # albedo change under single-AU edits (attributes kept), against the benchmark's own change
    face = face_mask(ids.landmarks, (size, size))[row]
    base = own
    emotion = torch.tensor([int(it["attrs"]["emotion"]) for it in items])
    valence = torch.tensor([float(it["attrs"]["valence"]) for it in items])
    true_base = render(ids, au * 5.0, emotion, valence, index=row)["albedo"]
    change: dict[str, list[float]] = {"wrinkle": [], "aperture": []}
    true_change: dict[str, list[float]] = {"wrinkle": [], "aperture": []}
    for k, code in enumerate(AU_NAMES):
        t = au.clone()
        t[:, k] = 1.0
        edited = codec.decode(_run_g(G, x, t, fp, extra, au))["albedo"]
        kind = "aperture" if code in APERTURE_AUS else "wrinkle"
        wf = face.expand_as(edited)
        change[kind].append(float(((edited - base).abs() * wf).sum() / wf.sum()))
        true_alb = render(ids, t * 5.0, emotion, valence, index=row)["albedo"]
        true_change[kind].append(float(((true_alb - true_base).abs() * wf).sum() / wf.sum()))
    del sl
    return {
        "run": str(run_dir), "step": step, "preset": cfg.name, "generator_parameters":
            sum(p.numel() for p in G.parameters()),
        "au_control_shaded": {"mae": mae, "pearson": pearson, "judge_floor_mae": floor},
        "flush_albedo_l1": {"model": flush_l1, "copy_source": copy_l1, "edit_change": edit_l1},
        "albedo_change_per_au_edit": {k: float(np.mean(v)) for k, v in change.items()},
        "benchmark_albedo_change_per_au_edit": {k: float(np.mean(v)) for k, v in true_change.items()},
    }


@torch.no_grad()
def figure(runs: list[Path], data_dir: Path, out_png: Path, sample: int = 0) -> Path:
    """One test face per run: rows albedo / SH-lit render, columns source reconstruction, AU04=5, AU12=5,
    anger (emotion and valence only); runs stacked top to bottom, labelled."""
    from PIL import Image, ImageDraw

    from aucgan.data.conditions import EXPRESSION_ATTRS, extra_slices
    from aucgan.render.sh import lighting_preset
    from aucgan.render.shaded import Renderer

    renderer, sh = Renderer(normal_strength=3.0, cavity_strength=40.0), lighting_preset("studio")
    blocks, labels = [], []
    for run in runs:
        G, cfg, _ = load_generator(run)
        codec, size, attrs = make_codec(cfg.data), cfg.data.size, tuple(cfg.generator.extra_attrs)
        ds = open_dataset(data_dir, split="test", size=(size, size), au_names=AU_NAMES, preload=True)
        td = TrainData(ds, codec, AU_NAMES, size, extra_attrs=attrs)
        x, au, fp = td.x[sample:sample + 1], td.au[sample:sample + 1], td.footprints[td.layout_index[sample:sample + 1]]
        extra = None if td.extra is None else td.extra[sample:sample + 1]
        targets, extras = [au.clone(), au.clone(), au.clone(), au.clone()], [extra] * 4
        targets[1][0, AU_NAMES.index("AU04")] = 1.0
        targets[2][0, AU_NAMES.index("AU12")] = 1.0
        if extra is not None:
            angry = extra.clone()
            sl = extra_slices(attrs)
            if "emotion" in sl and "emotion" in EXPRESSION_ATTRS:
                angry[:, sl["emotion"]] = 0.0
                angry[0, sl["emotion"].start + 5] = 1.0
            if "valence" in sl:
                angry[:, sl["valence"]] = -0.7
            extras[3] = angry
        cols_a, cols_r = [], []
        for t, e in zip(targets, extras):
            maps = codec.decode(G(x, t, fp, extra=e, source_au=au)["out"])
            cols_a.append(maps["albedo"][0].clamp(0, 1))
            cols_r.append(renderer.render(maps["albedo"], maps["displacement"], sh)[0].clamp(0, 1))
        blocks.append(torch.cat([torch.cat(cols_a, 2), torch.cat(cols_r, 2)], 1))
        labels.append(cfg.name)
    grid = torch.cat(blocks, 1)
    scale = 3
    arr = (grid.permute(1, 2, 0).numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
    img = Image.fromarray(arr).resize((arr.shape[1] * scale, arr.shape[0] * scale), Image.NEAREST)
    left, top = 110, 20
    sheet = Image.new("RGB", (img.width + left, img.height + top), (255, 255, 255))
    sheet.paste(img, (left, top))
    draw = ImageDraw.Draw(sheet)
    cell = size * scale
    for c, text in enumerate(("source (rec.)", "AU04=5", "AU12=5", "anger, valence -0.7")):
        draw.text((left + c * cell + 4, 4), text, fill=(0, 0, 0))
    for r, name in enumerate(labels):
        draw.text((4, top + 2 * r * cell + 4), f"{name}\nalbedo", fill=(0, 0, 0))
        draw.text((4, top + (2 * r + 1) * cell + 4), f"{name}\nSH-lit render", fill=(0, 0, 0))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_png)
    return out_png


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.decomposition", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="work folder (data, runs, results.json)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--expressions", type=int, default=12)
    p.add_argument("--steps", type=int, default=300, help="generator steps per preset")
    p.add_argument("--aunet-steps", type=int, default=200)
    p.add_argument("--aunet-channels", type=int, default=16)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--presets", nargs="*", default=["improved", "decomposed"])
    p.add_argument("--figure", type=Path, help="also write the comparison figure (PNG) of the trained presets")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    data = out / "data"
    if not (data / "dataset.json").is_file():
        write_dataset(data, args.identities, args.expressions, size=args.size, seed=0, test_fraction=0.25,
                      force=True)
    nets = {}
    for name, preset, seed in (("aunet", "aunet", 0), ("judge", "aunet-judge", 1)):
        run = out / name
        if not (run / "aunet.safetensors").is_file():
            cfg = load_config(preset, [f"steps={args.aunet_steps}", f"data.size={args.size}", "aunet.input=shaded",
                                       f"seed={seed}", "threads=1", "batch_size=16",
                                       f"aunet.base_channels={args.aunet_channels}"], schema=AUNetTrainConfig)
            t0 = time.perf_counter()
            m = train_aunet(cfg, data, run, progress=False)
            print(f"{name}: held-out MAE {m.get('mae', m.get('mean', {}))} in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        nets[name] = run
    results = []
    for preset in args.presets:
        run = out / f"run-{preset}"
        extra = [f"generator.extra_attrs=[{','.join(ATTRS)}]"] if preset != "decomposed" else []
        cfg = load_config(preset, [*slim(args.size, args.batch, args.steps, nets["aunet"]), *extra])
        t0 = time.perf_counter()
        if not (run / "checkpoints").is_dir():
            training_loop(cfg, data, run, progress=False)
        seconds = time.perf_counter() - t0
        r = evaluate(run, data, nets["judge"])
        r["train_seconds"] = round(seconds, 1)
        results.append(r)
        print(json.dumps(r, indent=1), flush=True)
    if results:
        (out / f"results-{'-'.join(args.presets)}.json").write_text(json.dumps(results, indent=1) + "\n")
    print("| preset | G params | AU MAE (shaded, judge) | Pearson r | flush albedo L1 | AU-edit albedo change "
          "(wrinkle / aperture AUs) | train s |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        a, f, c = r["au_control_shaded"], r["flush_albedo_l1"], r["albedo_change_per_au_edit"]
        print(f"| {r['preset']} | {r['generator_parameters'] / 1e6:.2f}M | {a['mae']:.3f} | {a['pearson']:.3f} | "
              f"{f['model']:.4f} | {c['wrinkle']:.4f} / {c['aperture']:.4f} | {r['train_seconds']:.0f} |")
    if args.figure:
        print(f"wrote {figure([out / f'run-{p}' for p in args.presets], data, args.figure)}")
    if results:
        r = results[0]
        print(f"judge floor MAE {r['au_control_shaded']['judge_floor_mae']:.3f}; copy-source flush L1 "
              f"{r['flush_albedo_l1']['copy_source']:.4f}; benchmark albedo change (wrinkle / aperture) "
              f"{r['benchmark_albedo_change_per_au_edit']['wrinkle']:.4f} / "
              f"{r['benchmark_albedo_change_per_au_edit']['aperture']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
