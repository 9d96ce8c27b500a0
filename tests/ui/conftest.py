"""Tiny untrained generator runs for the editor's tests (32 px, 8-channel networks; weights as written)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.tiny import TINY

TINY_G = [o for o in TINY if o.startswith(("data.size", "generator."))]


def write_untrained_run(run: Path, overrides: list[str], data: Path | None = None, seed: int = 0,
                        preset: str = "improved-v1", perturb: bool = False) -> Path:
    """A run directory holding an untrained generator (``improved-v1``: AUs only) as its EMA checkpoint (step 0);
    ``perturb`` fills zero-initialised layers with small random weights, so that every input path shows."""
    from aucgan.config.loading import load_config, to_dict
    from aucgan.models.build import build_generator
    from aucgan.rundir.checkpoints import save_checkpoint
    from aucgan.rundir.files import write_config

    torch.manual_seed(seed)
    cfg = load_config(preset, overrides)
    run.mkdir(parents=True, exist_ok=True)
    write_config(run, to_dict(cfg))
    G = build_generator(cfg)
    if perturb:
        with torch.no_grad():
            for p in G.parameters():
                if not p.any():
                    p.normal_(0.0, 0.05)
    save_checkpoint(run / "checkpoints", {"G_ema": G}, {}, {"step": 0}, rng=False)
    if data is not None:
        (run / "data.json").write_text(json.dumps({"path": str(data)}))
    return run


@pytest.fixture(scope="session")
def ui_run(tiny_bench, tmp_path_factory):
    """An untrained 32 px improved-v1 run whose data.json points at the tiny benchmark."""
    return write_untrained_run(tmp_path_factory.mktemp("ui") / "run", TINY_G, tiny_bench)


@pytest.fixture(scope="session")
def ui_session(ui_run):
    from aucgan.ui.core import EditorSession

    return EditorSession.open(ui_run)
