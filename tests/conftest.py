"""Shared tiny fixtures: a synthetic benchmark folder and an AU estimator trained for a few steps."""

from __future__ import annotations

import pytest

from tests.tiny import TINY_AUNET


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    """A 6-identity x 4-expression synthetic benchmark at 32 px (test split: 2 identities)."""
    from aucgan.data.synth import write_dataset

    out = tmp_path_factory.mktemp("bench") / "bench"
    write_dataset(out, identities=6, expressions=4, size=32, seed=0, test_fraction=0.34)
    return out


@pytest.fixture(scope="session")
def tiny_aunet(tiny_bench, tmp_path_factory):
    """An AU estimator run dir trained for 6 steps on the tiny benchmark."""
    from aucgan.config.loading import load_config
    from aucgan.config.schema import AUNetTrainConfig
    from aucgan.training.aunet_loop import train_aunet

    run = tmp_path_factory.mktemp("aunet") / "aunet"
    cfg = load_config("aunet", ["steps=6", *TINY_AUNET], schema=AUNetTrainConfig)
    train_aunet(cfg, tiny_bench, run, progress=False)
    return run
