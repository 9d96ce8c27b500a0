"""Run directories: the layout's names, loading generators/discriminators (latest or a chosen checkpoint), AU
estimator weights, the data record and the stats file."""

from __future__ import annotations

import json

import pytest
import torch

from aucgan import runs
from aucgan.config.loading import load_config, to_dict
from aucgan.config.schema import AUNetTrainConfig
from aucgan.errors import AucganError
from aucgan.models.build import build_aunet, build_disc, build_generator
from aucgan.photo.edit import training_domain
from aucgan.rundir.checkpoints import CKPT_DIR, checkpoint_steps, find_checkpoint, save_aunet_weights, save_checkpoint
from aucgan.rundir.files import (
    AUNET_WEIGHTS,
    CONFIG_FILE,
    DATA_FILE,
    RunError,
    record_data,
    recorded_data_path,
    write_config,
)

from tests.tiny import TINY, TINY_AUNET


def _first_param(module: torch.nn.Module) -> torch.Tensor:
    return next(iter(module.state_dict().values())).float()


@pytest.fixture(scope="module")
def run_with_steps(tmp_path_factory):
    """A tiny improved run with checkpoints at steps 2, 4 and 6, each with its own (seeded) weights."""
    run = tmp_path_factory.mktemp("runs") / "run"
    cfg = load_config("improved", TINY)
    write_config(run, to_dict(cfg))
    saved = {}
    for step in (2, 4, 6):
        torch.manual_seed(step)
        G, D = build_generator(cfg), build_disc(cfg)
        save_checkpoint(run / CKPT_DIR, {"G": G, "G_ema": G, "D": D}, {}, {"step": step}, keep=None,
                        rng=False)
        saved[step] = (_first_param(G), _first_param(D))
    return run, saved


def test_loads_the_latest_or_a_chosen_checkpoint(run_with_steps):
    run, saved = run_with_steps
    assert checkpoint_steps(run) == [2, 4, 6]
    G, cfg, step = runs.load_generator(run)
    assert step == 6 and torch.equal(_first_param(G), saved[6][0])
    assert cfg.data.size == 32 and not G.training and not any(p.requires_grad for p in G.parameters())
    for chosen in (2, "4", run / CKPT_DIR / "step-000004"):
        G, _, step = runs.load_generator(run, checkpoint=chosen, which="G")
        expected = int(str(chosen)[-1])
        assert step == expected and torch.equal(_first_param(G), saved[expected][0])
    D, _, step = runs.load_discriminator(run, checkpoint=2)
    assert step == 2 and torch.equal(_first_param(D), saved[2][1])
    assert not torch.equal(saved[2][0], saved[6][0])  # the steps really hold different weights


def test_a_missing_step_names_the_steps_the_run_has(run_with_steps):
    run, _ = run_with_steps
    with pytest.raises(RunError, match=r"no checkpoint at step 3 \(the run has steps: 2, 4, 6\)"):
        runs.load_generator(run, checkpoint=3)
    with pytest.raises(RunError, match="not a checkpoint folder"):
        find_checkpoint(run, run / "elsewhere")
    with pytest.raises(AucganError, match="no module G_old"):
        runs.load_generator(run, which="G_old")


def test_runs_that_cannot_be_loaded_say_why(tmp_path, run_with_steps):
    with pytest.raises(RunError, match="not an aucgan training run \\(no config.json\\)"):
        runs.load_generator(tmp_path)
    fresh = tmp_path / "fresh"
    write_config(fresh, to_dict(load_config("improved", TINY)))
    with pytest.raises(RunError, match="no checkpoint yet"):
        runs.load_generator(fresh)
    assert checkpoint_steps(fresh) == []
    (fresh / CONFIG_FILE).write_text("{")
    with pytest.raises(RunError, match="config.json: unreadable"):
        runs.load_run_config(fresh)
    # weights of another architecture: the checkpoint is refused, naming the file
    other = tmp_path / "other"
    run, _ = run_with_steps
    write_config(other, to_dict(load_config("improved", [*TINY, "generator.base_channels=16"])))
    (other / CKPT_DIR).symlink_to(run / CKPT_DIR)
    with pytest.raises(AucganError, match="G_ema.safetensors: shape mismatch"):
        runs.load_generator(other)


def test_aunet_weights_round_trip(tmp_path):
    cfg = load_config("aunet", TINY_AUNET, schema=AUNetTrainConfig)
    torch.manual_seed(3)
    net = build_aunet(cfg.aunet, cfg.data, cfg.render).eval()
    run = tmp_path / "aunet"
    run.mkdir()
    (run / CONFIG_FILE).write_text(json.dumps(to_dict(cfg)))
    with pytest.raises(RunError, match="no aunet.safetensors"):
        runs.load_aunet(run)
    assert save_aunet_weights(run, net) == run / AUNET_WEIGHTS
    loaded, loaded_cfg = runs.load_aunet(run)
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    assert loaded_cfg == cfg and torch.equal(loaded(x), net(x))
    bigger = load_config("aunet", [*TINY_AUNET, "aunet.base_channels=16"], schema=AUNetTrainConfig)
    (run / CONFIG_FILE).write_text(json.dumps(to_dict(bigger)))
    with pytest.raises(AucganError, match="aunet.safetensors: shape mismatch"):
        runs.load_aunet(run)


def test_data_record(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    assert recorded_data_path(run) is None and training_domain(run) == "unknown"
    monkeypatch.chdir(tmp_path)
    record_data(run, "bench")
    assert json.loads((run / DATA_FILE).read_text()) == {"path": str(tmp_path / "bench")}
    record_data(run, "elsewhere")  # a run records the data it was started with; resuming keeps it
    assert recorded_data_path(run) == tmp_path / "bench"
    for bad in ('{"path": 3}', "[]", "{"):
        (run / DATA_FILE).write_text(bad)
        with pytest.raises(RunError, match="data.json"):
            recorded_data_path(run)
        assert training_domain(run) == "unknown"


def test_training_domain_reads_the_record(tmp_path, tiny_bench):
    run = tmp_path / "run"
    run.mkdir()
    record_data(run, tiny_bench)
    assert training_domain(run) == "synthetic"
