"""DECA's detail decoder inside aucgan: size, FLOPs, inference ms per 256 px map and fine-tuning images/s.

Run: .venv/bin/python benchmarks/bench_deca.py [--threads N] [--repeats 10] [--steps 5] [--device cpu|cuda]

Decoders (random weights: speed does not depend on them):
* ``deca``: DECA's ``D_detail`` as DECA builds it (``concat_latent`` with zero AU columns adds 17 x 8192
  weights to ``l1`` and nothing else; the AU-concat variant's size);
* ``deca preset``: the ``deca`` preset's decoder (AdaIN + spade_au on the four coarser blocks, au_residual head).
Inference: ``torch.inference_mode``, eval mode, batch 1 and 16, median wall-clock ms per map after warm-up, and
the median CPU time per map (what it costs when the cores are free; on a shared machine the wall clock also
counts waiting for them). FLOPs per map by ``torch.utils.flop_counter`` (a multiply-add counts 2). Fine-tuning:
the preset's generator step (reconstruction, detail consistency, z_reg, z_diff; batch 6, DECA's) and, with
``--with-d``, its discriminator step too; images/s = batch / median step time. Prints the machine line and the
load average first: on a shared machine, read the figures with the load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from aucgan.deca.batches import DecaBatch
from aucgan.deca.build import build_deca_discriminator, build_decoder  # noqa: E402
from aucgan.deca.config import load_deca_config  # noqa: E402
from aucgan.deca.decoder import DetailDecoder  # noqa: E402
from aucgan.deca.objective import DecaObjective
from aucgan.nn.layers import count_parameters  # noqa: E402
from benchmarks.machine import machine_line  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, repeats: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """Median wall-clock and CPU seconds of ``fn()``."""
    for _ in range(warmup):
        fn()
    _sync(device)
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        _sync(device)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(wall), statistics.median(cpu)


def flops_per_map(dec: DetailDecoder) -> int:
    latent, au = torch.zeros(1, dec.latent_dim), torch.zeros(1, dec.num_aus)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        dec(latent, au)
    return int(counter.get_total_flops())


def bench_inference(dec: DetailDecoder, device: torch.device, repeats: int) -> dict:
    dec = dec.to(device).eval()
    out = {"params": count_parameters(dec), "gflops_per_map": round(flops_per_map(dec.cpu()) / 1e9, 3)}
    dec.to(device)
    for bs in (1, 16):
        latent = torch.randn(bs, dec.latent_dim, device=device)
        au = torch.rand(bs, dec.num_aus, device=device) * 5

        def run(latent: torch.Tensor = latent, au: torch.Tensor = au) -> None:
            with torch.inference_mode():
                dec(latent, au)

        wall, cpu = timed(run, repeats, 2, device)
        out[f"ms_per_map_b{bs}"] = round(1000 * wall / bs, 2)
        out[f"cpu_ms_per_map_b{bs}"] = round(1000 * cpu / bs, 2)
    return out


def bench_finetune(device: torch.device, steps: int, with_d: bool, batch: int = 6) -> dict:
    overrides = [f"data.batch_size={batch}"] + (["loss.w_adv=1", "loss.w_d_mismatch=1"] if with_d else [])
    cfg = load_deca_config("deca", overrides)
    torch.manual_seed(0)
    dec = build_decoder(cfg).to(device)
    D = build_deca_discriminator(cfg, dec.output_size).to(device) if with_d else None
    obj = DecaObjective(dec, D, None, 1.0, cfg)
    opt_g = torch.optim.Adam(dec.parameters(), lr=1e-4)
    opt_d = torch.optim.Adam(D.parameters(), lr=1e-4) if D is not None else None
    gen = torch.Generator().manual_seed(0)
    latent = torch.randn(batch, dec.latent_dim, generator=gen)
    au = torch.rand(batch, dec.num_aus, generator=gen) * 5
    uv = torch.tanh(torch.randn(batch, 1, dec.output_size, dec.output_size, generator=gen)) * 0.004
    b = DecaBatch(latent=latent, au=au, uv=uv, swapped=latent.flip(0), has_partner=torch.ones(batch, dtype=torch.bool),
                  target=au.roll(1, 0), mismatched=au.roll(1, 0)).to(device)
    state = {"i": 0}

    def step() -> None:
        if D is not None:
            dec.eval()
            D.requires_grad_(True)
            opt_d.zero_grad(set_to_none=True)
            obj.discriminator_phase(b, state["i"])[0].backward()
            opt_d.step()
            D.requires_grad_(False)
        dec.train()
        opt_g.zero_grad(set_to_none=True)
        obj.generator_phase(b)[0].backward()
        opt_g.step()
        state["i"] += 1

    wall, cpu = timed(step, steps, 1, device)
    return {"batch": batch, "with_discriminator": with_d, "step_s": round(wall, 3), "cpu_step_s": round(cpu, 3),
            "images_per_s": round(batch / wall, 2)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--steps", type=int, default=5, help="timed fine-tuning steps")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--with-d", action="store_true", help="also time the fine-tuning step with the discriminator")
    p.add_argument("--json", help="also write the figures to this JSON file")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(machine_line())
    print("load average (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    results: dict = {"machine": machine_line(), "load_average": list(os.getloadavg()), "device": str(device)}
    deca = DetailDecoder(conditioning="concat_latent")
    plain_params = count_parameters(deca) - deca.num_aus * deca.l1[0].out_features
    results["deca"] = {"params_without_au_columns": plain_params, **bench_inference(deca, device, args.repeats)}
    results["deca_preset"] = bench_inference(build_decoder(load_deca_config("deca")), device, args.repeats)
    print(f"{'decoder':<12} {'params':>10} {'GFLOP/map':>10} {'ms/map b1':>10} {'ms/map b16':>11} "
          f"{'cpu ms b1':>10} {'cpu ms b16':>11}")
    for name, r in (("deca", results["deca"]), ("deca preset", results["deca_preset"])):
        print(f"{name:<12} {r['params']:>10,} {r['gflops_per_map']:>10.3f} {r['ms_per_map_b1']:>10.2f} "
              f"{r['ms_per_map_b16']:>11.2f} {r['cpu_ms_per_map_b1']:>10.2f} {r['cpu_ms_per_map_b16']:>11.2f}")
    print(f"(DECA's own D_detail: {plain_params:,} parameters; the row above adds the 17 zero AU columns of l1)")
    results["finetune"] = [bench_finetune(device, args.steps, False)]
    if args.with_d:
        results["finetune"].append(bench_finetune(device, args.steps, True))
    for r in results["finetune"]:
        print(f"fine-tuning (deca preset{', with discriminator' if r['with_discriminator'] else ''}, batch "
              f"{r['batch']}, 256 px): {r['images_per_s']:.2f} images/s ({r['step_s']:.2f} s per step, CPU "
              f"{r['cpu_step_s']:.2f} s)")
    print("load average after (1, 5, 15 min): " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
