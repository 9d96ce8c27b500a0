"""Loading the networks of trained runs: the generator and discriminator of a training run (at its latest or any
checkpoint) and a frozen AU estimator. The run directory's files are :mod:`aucgan.rundir`'s; readers
(inference, metrics, reports, the editor) load networks only through this module, so they need not know the
training package.
"""

from __future__ import annotations

from pathlib import Path

import torch

from aucgan.config.loading import from_dict
from aucgan.config.schema import AUNetTrainConfig, TrainConfig
from aucgan.config.upgrade import upgrade_run_config
from aucgan.device import pick_device
from aucgan.models.build import build_aunet, build_disc, build_generator
from aucgan.rundir.checkpoints import find_checkpoint, load_aunet_weights, load_checkpoint
from aucgan.rundir.files import read_config


# -------------------------------------------------------------------------------------------- GAN runs
def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config a training run wrote before it started (one written by an older version is
    upgraded to today's layout first, :func:`~aucgan.config.upgrade.upgrade_run_config`)."""
    run_dir = Path(run_dir)
    return from_dict(TrainConfig, upgrade_run_config(read_config(run_dir, "training run")), str(run_dir))


def load_network(run_dir: str | Path, which: str, net: torch.nn.Module, device: torch.device | str = "cpu",
                 checkpoint: int | str | Path | None = None) -> tuple[torch.nn.Module, int]:
    """``net`` (built for the run) with the weights of module ``which`` at a checkpoint of the run (None: the
    latest, a step, or a checkpoint folder), frozen on ``device``, and the checkpoint's step: how every trained
    network (the GAN's, the DECA decoder) is loaded back."""
    meta = load_checkpoint(find_checkpoint(run_dir, checkpoint), {which: net}, restore_rng=False)
    return net.to(pick_device(device)).eval().requires_grad_(False), int(meta["step"])


def _load_network(run_dir: str | Path, which: str, build, device: torch.device | str,
                  checkpoint: int | str | Path | None) -> tuple[torch.nn.Module, TrainConfig, int]:
    cfg = load_run_config(run_dir)
    net, step = load_network(run_dir, which, build(cfg), device, checkpoint)
    return net, cfg, step


def load_generator(run_dir: str | Path, device: torch.device | str = "cpu", which: str = "G_ema",
                   checkpoint: int | str | Path | None = None) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The generator (EMA by default, ``which="G"`` the trained one) of a training run, frozen, with the run's
    config and the checkpoint's step. ``checkpoint``: None for the latest, a step, or a checkpoint folder."""
    return _load_network(run_dir, which, build_generator, device, checkpoint)


def load_discriminator(run_dir: str | Path, device: torch.device | str = "cpu",
                       checkpoint: int | str | Path | None = None) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The discriminator of a training run (latest checkpoint, or ``checkpoint``), frozen, with config and step."""
    return _load_network(run_dir, "D", build_disc, device, checkpoint)


# --------------------------------------------------------------------------------- AU-estimator runs
def load_aunet(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, AUNetTrainConfig]:
    """A frozen AU estimator written by ``aucgan train-au`` and its config."""
    run_dir = Path(run_dir)
    cfg = from_dict(AUNetTrainConfig, read_config(run_dir, "AU estimator run"), str(run_dir))
    net = build_aunet(cfg.aunet, cfg.data, cfg.render)
    load_aunet_weights(net, run_dir)
    return net.to(pick_device(device)).eval().requires_grad_(False), cfg
