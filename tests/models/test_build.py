"""Every shipped preset builds its networks, and the same networks as before the config rework."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from aucgan.config.loading import load_config, preset_names
from aucgan.config.schema import AUNetTrainConfig
from aucgan.deca.config import PRESETS as DECA_PRESETS
from aucgan.models.build import build_aunet, build_disc, build_generator

BEFORE = json.loads((Path(__file__).parents[1] / "presets_before_i14.json").read_text())["networks"]
#: The deca presets build a DECA detail decoder (aucgan.deca.build.build_models; tests/deca/test_train.py).
MAP_PRESETS = [n for n in preset_names() if n not in DECA_PRESETS]


def _signature(module: torch.nn.Module) -> dict:
    """Parameter count and a hash of the sorted state-dict ``key:shape`` lines (what a checkpoint must fit)."""
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in module.state_dict().items())
    return {"params": sum(p.numel() for p in module.parameters()),
            "keys": hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]}


#: The previous improved is improved-v1; improved's networks changed by design (docs/findings.md: attribute
#: residuals in G, a deep aux_match D) and are checked to build below.
RENAMED = {"improved-v1": "improved"}
CHANGED = {"improved"}


@pytest.mark.parametrize("name", MAP_PRESETS)
def test_every_preset_builds_the_networks_it_built_before(name):
    """At the preset's own sizes, on the meta device (no memory, no compute): a typo or a setting that does not
    build fails here, and a preset whose networks changed (so its old checkpoints no longer load) too."""
    with torch.device("meta"):
        if name.startswith("aunet"):
            cfg = load_config(name, schema=AUNetTrainConfig)
            built = {"aunet": build_aunet(cfg.aunet, cfg.data, cfg.render)}
        else:
            cfg = load_config(name)
            built = {"G": build_generator(cfg), "D": build_disc(cfg)}
    if name in CHANGED:
        assert all(_signature(m)["params"] > 0 for m in built.values())
        return
    assert {k: _signature(m) for k, m in built.items()} == BEFORE[RENAMED.get(name, name)]


def test_every_preset_has_a_recorded_signature():
    assert sorted({RENAMED.get(n, n) for n in MAP_PRESETS}) == sorted(BEFORE)
