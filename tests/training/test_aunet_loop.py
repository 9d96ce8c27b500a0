"""The AU estimator's trainer: its run files (config, weights, metrics, stats through the one stats writer) and
progress labelled with the run directory."""

from __future__ import annotations

import io

from aucgan.config.loading import load_config
from aucgan.config.schema import AUNetTrainConfig
from aucgan.rundir.files import AUNET_METRICS, AUNET_WEIGHTS, read_config
from aucgan.rundir.stats import read_stats
from aucgan.training.aunet_loop import train_aunet

from tests.tiny import TINY_AUNET


def test_train_aunet_writes_its_run_and_reports_progress(tiny_bench, tmp_path, monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    cfg = load_config("aunet", ["steps=3", *TINY_AUNET], schema=AUNetTrainConfig)
    run = tmp_path / "00001-aunet"
    metrics = train_aunet(cfg, tiny_bench, run, progress="lines")
    assert metrics["steps"] == 3 and (run / AUNET_WEIGHTS).is_file() and (run / AUNET_METRICS).is_file()
    assert read_config(run)["steps"] == 3
    rows = read_stats(run)
    assert [r["step"] for r in rows] == [1, 2, 3] and [r["images"] for r in rows] == [8, 16, 24]
    assert all(r["loss"] > 0 for r in rows)
    last = err.getvalue().strip().splitlines()[-1]
    assert last.startswith("00001-aunet: step 3/3 (100%)") and "img/s" in last and "loss" in last
