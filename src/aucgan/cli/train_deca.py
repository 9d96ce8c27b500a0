"""Fine-tune a DECA/EMOCA detail decoder with AU conditioning (the deca preset) on a data set from
`aucgan prepare-deca`: reconstruction, DECA's detail consistency, DECA/EMOCA's z regularisers, and optionally
the AU-consistency loss through an AU estimator on uv_z (--aunet) and a conditional discriminator. Writes a run
directory (config.json, decoder.json, stats.jsonl, samples/, checkpoints in safetensors).

Examples:
  aucgan train-deca --decoder DECA/data/deca_model.tar --data deca_set --layout flame_layout.json
  aucgan train-deca --decoder deca_model.tar --data deca_set --aunet runs/aunet_uvz --set loss.w_au=1
  aucgan train-deca --run-dir runs/00002-deca --decoder deca_model.tar --data deca_set --resume
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aucgan.deca.config import DecaTrainConfig

HELP = "fine-tune an imported DECA detail decoder with AU conditioning (deca preset)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="a data set from `aucgan prepare-deca`")
    p.add_argument("--decoder", help="DECA/EMOCA checkpoint to import (sets decoder.checkpoint)")
    p.add_argument("--config", default="deca", help="preset name or YAML path of the deca schema (default deca)")
    p.add_argument("--layout", help="layout JSON of the UV space for the AU footprints (sets decoder.layout)")
    p.add_argument("--aunet", help="AU estimator run trained on uv_z maps (sets aunet)")
    p.add_argument("--steps", type=int)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--run-dir", help="output folder (default: a new auto-numbered folder under --runs-root)")
    p.add_argument("--runs-root", default="runs")
    p.add_argument("--resume", action="store_true", help="continue the run in --run-dir")
    p.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from aucgan.config.loading import to_dict
    from aucgan.deca.config import load_deca_config
    from aucgan.rundir.folder import Logger, make_run_dir

    def path(value: str) -> str:
        return str(Path(value).resolve())

    overrides = list(args.overrides)
    for flag, key in ((args.decoder, "decoder.checkpoint"), (args.layout, "decoder.layout"), (args.aunet, "aunet")):
        if flag:
            overrides.append(f"{key}={path(flag)}")
    if args.steps is not None:
        overrides.append(f"steps={args.steps}")
    config = load_deca_config(args.config, overrides)
    if args.dry_run:
        print(json.dumps(to_dict(config), indent=1))
        return 0
    from aucgan.deca.train import train_deca

    _check_before_run_dir(config, args.data)
    run_dir = make_run_dir(args.runs_root, name=config.name, explicit=args.run_dir, resume=args.resume)
    print(f"run directory: {run_dir}", flush=True)
    with Logger(run_dir / "log.txt"):
        result = train_deca(config, args.data, run_dir, resume=args.resume, progress=not args.no_progress)
    shown = {k: round(v, 6) for k, v in result.last_stats.items() if k.startswith(("G/", "D/"))}
    print(f"step {result.step}: {json.dumps(shown)}")
    return 0


def _check_before_run_dir(config: DecaTrainConfig, data_path: str) -> None:
    """The data checks training would fail on, made before a run folder exists (a refused start leaves none);
    a warning on stderr when the identities look wrong."""
    import sys

    import numpy as np

    from aucgan.au import au_set
    from aucgan.deca.build import build_decoder
    from aucgan.deca.config import check_config
    from aucgan.deca.data import identity_warning, open_deca_data
    from aucgan.deca.train import check_data
    from aucgan.errors import AucganError

    cfg = check_config(config)
    data = open_deca_data(data_path, au_names=au_set(cfg.data.au_set))
    check_data(build_decoder(cfg), data, data_path)
    ids = data.identity_index()
    if cfg.loss.w_detail > 0 and not (ids.size and np.bincount(ids).max() > 1):
        raise AucganError(f"{data_path}: no identity has two or more images, so detail codes cannot be swapped "
                          "(loss.w_detail, DECA's detail consistency, needs identities); give identities to "
                          "prepare-deca (--identities CSV or <identity>/<name>/ folders) or set loss.w_detail=0")
    warning = identity_warning(data.identities, f"{data_path}/manifest.csv")
    if warning and cfg.loss.w_detail > 0:
        print(f"aucgan train-deca: warning: {warning}", file=sys.stderr)
