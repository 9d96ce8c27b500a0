"""Run directories: the one place that names their files and loads them back.

A training run (``aucgan train``)::

    RUN/config.json            the resolved TrainConfig, written before the first step
    RUN/data.json              {"path": ...}: the data set it trained on (evaluation and the editor default to it)
    RUN/log.txt                a copy of everything printed
    RUN/stats.jsonl            one JSON object per logged step
    RUN/checkpoints/step-NNNNNN/   G, G_ema, D, optimizers, RNG (:mod:`aucgan.training.checkpoint`)
    RUN/samples/, RUN/metric-<name>.jsonl, ...

An AU-estimator run (``aucgan train-au``)::

    RUN/config.json            the resolved AUNetTrainConfig
    RUN/aunet.safetensors      the estimator's weights (the whole run is this one snapshot)
    RUN/metrics.json           its held-out agreement
    RUN/stats.jsonl

Writers use the names and writer functions here; readers (inference, metrics, reports, the editor) load runs
only through this module, so they need not know the training package. Weights are safetensors, everything
else JSON: nothing is unpickled.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write, atomic_write_text
from aucgan.layout.landmarks import Layout, load_layout
from aucgan.training.build import build_aunet, build_disc, build_generator, make_codec
from aucgan.training.checkpoint import (
    CKPT_DIR,
    is_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    load_weights,
    read_checkpoint_meta,
)
from aucgan.training.config import AUNetTrainConfig, TrainConfig, from_dict, upgrade_run_config

__all__ = [
    "AUNET_METRICS", "AUNET_WEIGHTS", "CKPT_DIR", "CONFIG_FILE", "DATA_FILE", "LOG_FILE", "STATS_FILE", "RunError",
    "checkpoint_step", "checkpoint_steps", "find_checkpoint", "load_aunet", "load_discriminator", "load_generator",
    "load_run_config", "make_codec", "pick_device", "read_json", "read_stats", "record_data", "recorded_data_path",
    "save_aunet",
]

CONFIG_FILE = "config.json"
DATA_FILE = "data.json"
LOG_FILE = "log.txt"
STATS_FILE = "stats.jsonl"
AUNET_WEIGHTS = "aunet.safetensors"
AUNET_METRICS = "metrics.json"
#: The map space a run was trained in, when its data set names one (FLAME UV, ...): edits of the run's
#: generator compute footprints in it. Absent for the built-in layout.
LAYOUT_FILE = "layout.json"


class RunError(AucganError, ValueError):
    """A folder that is not the run asked for, or a run file that cannot be read."""


def read_json(path: str | Path, what: str) -> Any:
    """Parse one JSON file of a run; a missing or unreadable file is a :class:`RunError` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RunError(f"{path.parent}: not an aucgan {what} (no {path.name})") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunError(f"{path}: unreadable ({exc})") from None


# --------------------------------------------------------------------------------------------- data record
def record_data(run_dir: str | Path, data: str | Path) -> Path:
    """Write ``RUN/data.json`` naming the data set (absolute path) unless the run records one already."""
    record = Path(run_dir) / DATA_FILE
    if not record.is_file():
        atomic_write_text(record, json.dumps({"path": str(Path(data).resolve())}))
    return record


def recorded_data_path(run_dir: str | Path) -> Path | None:
    """The data set a run recorded in ``RUN/data.json``; None when it records none, a :class:`RunError` when the
    record is malformed."""
    record = Path(run_dir) / DATA_FILE
    if not record.is_file():
        return None
    data = read_json(record, "data record")
    path = data.get("path") if isinstance(data, dict) else None
    if not isinstance(path, str) or not path:
        raise RunError(f"{record}: expected {{\"path\": \"DATASET\"}}, got {json.dumps(data)[:80]}")
    return Path(path)


# ------------------------------------------------------------------------------------------------ stats
def read_run_layout(run_dir: str | Path) -> Layout | None:
    """The layout ``RUN/layout.json`` records, or None (a run in the built-in layout)."""
    path = Path(run_dir) / LAYOUT_FILE
    return load_layout(path) if path.is_file() else None


def read_stats(path: str | Path) -> list[dict[str, Any]]:
    """The records of a ``stats.jsonl`` (or of ``RUN/stats.jsonl``), in order.

    A malformed line is an error naming file and line, except a truncated *last* line (a run killed
    mid-write, or one still writing), which is skipped with a warning.
    """
    path = Path(path)
    if path.is_dir():
        path = path / STATS_FILE
    if not path.is_file():
        raise RunError(f"{path}: no such stats file")
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
        except ValueError as exc:
            if i == len(lines):
                warnings.warn(f"{path}:{i}: skipping a truncated last line", RuntimeWarning, stacklevel=2)
                break
            raise RunError(f"{path}:{i}: not a JSON object per line ({exc})") from None
        out.append(record)
    return out


# ------------------------------------------------------------------------------------------ checkpoints
def checkpoint_step(checkpoint: str | Path) -> int:
    """The step a checkpoint folder was saved at (from its ``meta.json``)."""
    return int(read_checkpoint_meta(checkpoint).get("step", 0))


def checkpoint_steps(run_dir: str | Path) -> list[int]:
    """The steps of the run's complete checkpoints, oldest first (empty before the first save)."""
    return [checkpoint_step(c) for c in list_checkpoints(run_dir)]


def find_checkpoint(run_dir: str | Path, checkpoint: int | str | Path | None = None) -> Path:
    """The checkpoint folder of a run: the latest (``None``), the one saved at step ``checkpoint`` (an int, or a
    string of digits), or ``checkpoint`` itself when it is a checkpoint folder. A step the run does not have is
    an error listing the steps it has."""
    run_dir = Path(run_dir)
    if checkpoint is None:
        found = latest_checkpoint(run_dir)
        if found is None:
            raise RunError(f"{run_dir}: the run has no checkpoint yet")
        return found
    if isinstance(checkpoint, str) and checkpoint.strip().isdigit():
        checkpoint = int(checkpoint)
    if isinstance(checkpoint, int) and not isinstance(checkpoint, bool):
        by_step = {checkpoint_step(c): c for c in list_checkpoints(run_dir)}
        if checkpoint not in by_step:
            have = ", ".join(str(s) for s in sorted(by_step)) or "none yet"
            raise RunError(f"{run_dir}: no checkpoint at step {checkpoint} (the run has steps: {have})")
        return by_step[checkpoint]
    folder = Path(checkpoint)
    if not is_checkpoint(folder):
        raise RunError(f"{folder}: not a checkpoint folder (pass a step number or a {CKPT_DIR}/step-NNNNNN folder)")
    return folder


# -------------------------------------------------------------------------------------------- GAN runs
def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config a training run wrote before it started (one written by an older version is
    upgraded to today's layout first, :func:`~aucgan.training.config.upgrade_run_config`)."""
    run_dir = Path(run_dir)
    return from_dict(TrainConfig, upgrade_run_config(read_json(run_dir / CONFIG_FILE, "training run")), str(run_dir))


def _load_network(run_dir: str | Path, which: str, build, device: torch.device | str,
                  checkpoint: int | str | Path | None) -> tuple[torch.nn.Module, TrainConfig, int]:
    cfg = load_run_config(run_dir)
    net = build(cfg)
    meta = load_checkpoint(find_checkpoint(run_dir, checkpoint), {which: net}, restore_rng=False)
    return net.to(pick_device(device)).eval().requires_grad_(False), cfg, int(meta["step"])


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
def save_aunet(run_dir: str | Path, net: torch.nn.Module) -> Path:
    """Write the AU estimator's weights as ``RUN/aunet.safetensors`` (atomically)."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    return atomic_write(Path(run_dir) / AUNET_WEIGHTS, lambda p: save_file(state, str(p)))


def load_aunet(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[torch.nn.Module, AUNetTrainConfig]:
    """A frozen AU estimator written by ``aucgan train-au`` and its config."""
    run_dir = Path(run_dir)
    cfg = from_dict(AUNetTrainConfig, read_json(run_dir / CONFIG_FILE, "AU estimator run"), str(run_dir))
    net = build_aunet(cfg.aunet, cfg.data, cfg.render)
    weights = run_dir / AUNET_WEIGHTS
    if not weights.is_file():
        raise RunError(f"{run_dir}: no {AUNET_WEIGHTS} (did `aucgan train-au` finish?)")
    load_weights(net, weights)
    return net.to(pick_device(device)).eval().requires_grad_(False), cfg
