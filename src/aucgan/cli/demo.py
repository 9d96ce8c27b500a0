"""The main job on the built-in synthetic benchmark, end to end, in about ten minutes on 2 CPU cores:

  1. synthesise a benchmark (identities x expressions, 64 px) and its preview sheet;
  2. train the AU estimator (AUNet) and report its held-out MAE / Pearson / ICC;
  3. train the `improved` generator briefly and write sample grids;
  4. edit a held-out face (AU12=4, AU06=3) and write AU sweep strips.

Everything goes under --out (refused if it exists, unless --force). `make demo` runs this.
"""

from __future__ import annotations

import argparse

HELP = "run the main job on the built-in synthetic benchmark (make demo)"

#: Slimmer networks than the presets' defaults so the whole demo fits in about ten minutes on 2 CPU cores.
DEMO_WIDTHS = ["generator.base_channels=16", "generator.cond_hidden=32", "discriminator.base_channels=16"]
DEMO_AUNET = ["aunet.base_channels=16"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo", help="output folder (default: demo)")
    p.add_argument("--identities", type=int, default=40)
    p.add_argument("--expressions", type=int, default=24, help="expressions per identity")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--aunet-steps", type=int, default=500)
    p.add_argument("--steps", type=int, default=400, help="generator training steps")
    p.add_argument("--preset", default="improved")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing --out folder")


def run(args: argparse.Namespace) -> int:
    import csv
    import json
    import shutil
    import time
    from pathlib import Path

    from aucgan.cli import main as cli_main
    from aucgan.data.synth import write_dataset
    from aucgan.fsutil import check_output
    from aucgan.training.aunet_loop import train_aunet
    from aucgan.training.config import AUNetTrainConfig, load_config
    from aucgan.training.loop import training_loop

    out = Path(args.out)
    if out.exists() and args.force:
        shutil.rmtree(out)
    check_output(out, what="demo folder")
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[demo {time.perf_counter() - t0:6.1f}s] {msg}", flush=True)

    data = out / "benchmark"
    say(f"1/4 synthesising {args.identities} identities x {args.expressions} expressions at {args.size} px")
    write_dataset(data, identities=args.identities, expressions=args.expressions, size=args.size, seed=args.seed)
    say(f"    benchmark in {data}, preview sheet {data / 'preview.png'}")

    say(f"2/4 training the AU estimator ({args.aunet_steps} steps)")
    size_set = [f"data.size={args.size}"]
    aunet_cfg = load_config("aunet", [f"steps={args.aunet_steps}", f"seed={args.seed}", *size_set, *DEMO_AUNET],
                            schema=AUNetTrainConfig)
    metrics = train_aunet(aunet_cfg, data, out / "aunet")
    say(f"    held-out AU estimator: MAE {metrics['mean']['mae']:.3f}, Pearson {metrics['mean']['pearson']:.3f}, "
        f"ICC {metrics['mean']['icc']:.3f} (over {metrics['held_out_samples']} samples)")

    say(f"3/4 training the {args.preset!r} generator ({args.steps} steps)")
    cfg = load_config(args.preset, [f"steps={args.steps}", f"seed={args.seed}", f"aunet.checkpoint={out / 'aunet'}",
                                    f"sample_every={max(args.steps // 4, 1)}", f"ckpt_every={args.steps}",
                                    f"log_every={max(args.steps // 20, 1)}", *size_set, *DEMO_WIDTHS])
    run_dir = out / "runs" / args.preset
    result = training_loop(cfg, data, run_dir)
    say(f"    run dir {run_dir}: samples in {run_dir / 'samples'}, stats in {run_dir / 'stats.jsonl'}")

    say("4/4 editing a held-out face: AU12=4, AU06=3 and AU sweeps")
    with (data / "manifest.csv").open(newline="") as fh:
        source = next(r["sample_id"] for r in csv.DictReader(fh) if r["split"] == "test")
    code = cli_main(["generate", "--checkpoint", str(run_dir), "--data", str(data), "--source", source,
                     "--au", "AU12=4,AU06=3", "--sweep", "AU12", "AU04", "AU01", "AU17", "--out", str(out / "edit")])
    if code != 0:
        return code
    summary = {"benchmark": str(data), "aunet": metrics["mean"], "generator_run": str(run_dir),
               "generator_step": result.step, "edit": str(out / "edit"), "seconds": round(time.perf_counter() - t0, 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    say(f"done: {out / 'summary.json'}")
    return 0
