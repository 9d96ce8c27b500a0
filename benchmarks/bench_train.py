"""Training images/s and generator inference ms/map for the presets at 64 and 128 px on this machine.

Run: .venv/bin/python benchmarks/bench_train.py [--sizes 64 128] [--presets baseline improved cascade sean ...]
Synthetic random maps and a randomly initialised frozen AUNet stand in for data (speed does not depend
on the values). Medians over repeated steps after warm-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402

from aucgan.au import NUM_AUS  # noqa: E402
from aucgan.config.loading import load_config
from aucgan.data.batch import Batch  # noqa: E402
from aucgan.layout.atlas import au_footprints  # noqa: E402
from aucgan.layout.landmarks import canonical_layout  # noqa: E402
from aucgan.losses.objective import GANObjective  # noqa: E402
from aucgan.models.build import build_aunet, build_disc, build_generator, make_codec
from aucgan.models.generator import count_parameters  # noqa: E402


def make_batch(bs: int, channels: int, size: int, gen: torch.Generator) -> Batch:
    lm = torch.as_tensor(canonical_layout().landmarks)[None]
    fp = au_footprints(lm, (size, size)).expand(bs, -1, -1, -1).contiguous()
    x = torch.rand(bs, channels, size, size, generator=gen) * 2 - 1
    au = torch.rand(bs, NUM_AUS, generator=gen)
    return Batch(x=x, au=au, fp=fp, target=torch.rand(bs, NUM_AUS, generator=gen), x_pair=x.flip(0), au_pair=au.flip(0),
                 mismatch=au.roll(1, 0), index=torch.arange(bs))


def bench_preset(preset: str, size: int, bs: int, steps: int, warmup: int) -> dict:
    cfg = load_config(preset, [f"data.size={size}", f"data.batch_size={bs}", "aunet.checkpoint=unused"])
    codec = make_codec(cfg.data)
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_disc(cfg)
    aunet = build_aunet(cfg.aunet, cfg.data).requires_grad_(False).eval()
    obj = GANObjective(G, D, aunet, cfg.loss, disp_channels=codec.slices().get("displacement"))
    opt_g = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(0)
    b = make_batch(bs, codec.channels, size, gen)
    n_critic = max(1, cfg.loss.n_critic)
    times = []
    for i in range(warmup + steps):
        t = time.perf_counter()
        for _ in range(n_critic):
            G.requires_grad_(False)
            D.requires_grad_(True)
            opt_d.zero_grad(set_to_none=True)
            loss, _ = obj.discriminator_phase(b, i, gen)
            loss.backward()
            opt_d.step()
        G.requires_grad_(True)
        D.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        loss, _ = obj.generator_phase(b)
        loss.backward()
        opt_g.step()
        if i >= warmup:
            times.append(time.perf_counter() - t)
    step_s = statistics.median(times)
    G.eval()
    infer = {}
    for ib in (1, 16):
        x, au, fp = b.x[:1].expand(ib, -1, -1, -1), b.au[:1].expand(ib, -1), b.fp[:1].expand(ib, -1, -1, -1)
        ts = []
        with torch.inference_mode():
            for i in range(3 + 10):
                t = time.perf_counter()
                G(x, au, fp, source_au=au)
                if i >= 3:
                    ts.append(time.perf_counter() - t)
        infer[f"infer_ms_per_map_b{ib}"] = round(1000 * statistics.median(ts) / ib, 2)
    return {"preset": preset, "size": size, "batch": bs, "n_critic": n_critic,
            "train_images_per_s": round(bs * (1 + n_critic) / step_s, 2),
            "train_step_ms": round(1000 * step_s, 1),
            "G_params_M": round(count_parameters(G) / 1e6, 3), "D_params_M": round(count_parameters(D) / 1e6, 3),
            **infer}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--presets", nargs="+",
                   default=["baseline", "ganimation", "improved", "cascade", "sean", "relative"])
    p.add_argument("--sizes", nargs="+", type=int, default=[64, 128])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", help="also write the rows to this JSON file")
    args = p.parse_args()
    print(machine_line())
    rows = []
    header = f"{'preset':<12}{'px':>5}{'batch':>6}{'train img/s':>13}{'step ms':>10}{'G M':>7}{'D M':>7}" \
             f"{'inf ms b1':>11}{'inf ms b16':>12}"
    print(header)
    for size in args.sizes:
        for preset in args.presets:
            r = bench_preset(preset, size, args.batch, args.steps, args.warmup)
            rows.append(r)
            print(f"{preset:<12}{size:>5}{r['batch']:>6}{r['train_images_per_s']:>13}{r['train_step_ms']:>10}"
                  f"{r['G_params_M']:>7}{r['D_params_M']:>7}{r['infer_ms_per_map_b1']:>11}"
                  f"{r['infer_ms_per_map_b16']:>12}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine_line(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
