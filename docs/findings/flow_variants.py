"""Where a ``residual_flow`` run's edits come from: its trained generator scored with the flow changed at inference.

Usage: python docs/findings/flow_variants.py RUN [SAMPLES]

Scores ``paired_fidelity``'s edit sets (``aucgan eval RUN --samples SAMPLES``'s, default 48) four ways: as trained;
the flow kept inside the footprints themselves (not grown by 1/16 of the map); the flow moving the displacement
only (the albedo left where it is); no flow at all. Per map: whole-map explained add / remove / transfer, the
error outside the changed footprints as a multiple of not editing's (unrounded), and the share of the edit's
change inside the truth's changed region.
"""

from __future__ import annotations

import sys

import torch

import aucgan.models.generator as generator_module
from aucgan.metrics.evaluate import EvalOptions, build_context
from aucgan.metrics.paired import score_edit_sets


def main(run: str, samples: int = 48) -> None:
    torch.set_num_threads(1)
    ctx = build_context(run, EvalOptions(num_samples=samples, device="cpu"), log=lambda m: None)
    disp = ctx.codec.maps.index("displacement") if "displacement" in ctx.codec.maps else None
    if disp != 0:
        raise SystemExit(f"{run}: expected the displacement as the first map, the codec writes {ctx.codec.maps}")
    resample, grow = generator_module.resample, generator_module.grow_mask

    def displacement_only(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        return torch.cat([resample(x[:, :1], flow), x[:, 1:]], 1)

    variants = {"as trained": (resample, grow),
                "flow inside the footprints themselves": (resample, lambda m: m),
                "flow moves the displacement only": (displacement_only, grow),
                "no flow": (lambda x, flow: x, grow)}
    try:
        for name, (rs, gm) in variants.items():
            generator_module.resample, generator_module.grow_mask = rs, gm
            sets = score_edit_sets(ctx)
            cells = []
            for m in ("displacement", "albedo"):
                s = {k: v["maps"][m] for k, v in sets.items()}
                cells.append(f"{m} whole " + " / ".join(f"{s[k]['explained_whole']:.2f}" for k in ("add", "remove",
                                                                                                   "transfer")))
                cells.append("outside " + " / ".join(f"{s[k]['outside'] / s[k]['source_outside']:.1f}x"
                                                     for k in ("add", "remove", "transfer")))
                cells.append("in the truth's region " + " / ".join(f"{s[k]['locality_truth']:.2f}"
                                                                   for k in ("add", "remove", "transfer")))
            print(f"{name} | " + " | ".join(cells), flush=True)
    finally:
        generator_module.resample, generator_module.grow_mask = resample, grow


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 48)
