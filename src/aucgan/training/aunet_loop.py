"""Training the AU estimator (AUNet): maps -> 17 AU intensities, scored on held-out identities.

The estimator is used frozen by the AU-consistency loss; a second one (another seed and architecture,
``configs/aunet-judge.yaml``) is the independent judge of the evaluation, never seen by a generator.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from aucgan.au import au_set, from_unit
from aucgan.config.loading import to_dict
from aucgan.config.schema import AUNetTrainConfig
from aucgan.data.datasets import open_dataset
from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write_text
from aucgan.metrics.agreement import summarize  # layer exception: held-out agreement as the evaluation scores it
from aucgan.models.build import build_aunet, make_codec
from aucgan.progress import Progress
from aucgan.rundir.checkpoints import save_aunet_weights
from aucgan.rundir.files import AUNET_METRICS, write_config
from aucgan.rundir.stats import StatsWriter
from aucgan.training.data import TrainData
from aucgan.training.engine import progress_mode


def split_identities(data: TrainData, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample indices of a seeded identity split: (train, held-out) with ``fraction`` of identities held out."""
    n_id = data.num_identities
    if n_id < 2:
        raise AucganError("holding out identities needs at least 2 identities in the data")
    perm = torch.randperm(n_id, generator=torch.Generator().manual_seed(seed))
    held = set(perm[: max(1, int(round(fraction * n_id)))].tolist())
    is_held = torch.tensor([int(i) in held for i in data.identity])
    return torch.nonzero(~is_held).flatten(), torch.nonzero(is_held).flatten()


@torch.no_grad()
def predict_intensities(net: torch.nn.Module, x: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """AU intensities 0..5 read by ``net`` from network-scaled maps ``x`` (N, C, H, W)."""
    net.eval()
    device = next(net.parameters()).device
    out = [net.predict(x[i:i + batch_size].to(device)).cpu() for i in range(0, x.shape[0], batch_size)]
    return torch.cat(out).numpy()


def train_aunet(config: AUNetTrainConfig, data: str | Path, run_dir: str | Path, progress: bool | str = True,
                holdout_fraction: float = 0.2) -> dict:
    """Train an AUNet on ``data``; write the AU-estimator run (:mod:`aucgan.rundir`); return its metrics.
    ``progress``: True ("auto"), False ("off") or a :data:`aucgan.progress.Mode`."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = pick_device(config.device)
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    au_names = au_set(config.data.au_set)
    codec, size = make_codec(config.data), config.data.size
    train_set = TrainData(open_dataset(data, split="train", size=(size, size), au_names=au_names, preload=True),
                          codec, au_names, size)
    try:
        test_ds = open_dataset(data, split="test", size=(size, size), au_names=au_names, preload=True)
        test_set = TrainData(test_ds, codec, au_names, size) if len(test_ds) >= 2 else None
    except AucganError:
        test_set = None
    if test_set is None:
        train_idx, test_idx = split_identities(train_set, holdout_fraction, config.seed)
        x_tr, y_tr = train_set.x[train_idx], train_set.au[train_idx]
        x_te, y_te = train_set.x[test_idx], train_set.au[test_idx]
    else:
        x_tr, y_tr, x_te, y_te = train_set.x, train_set.au, test_set.x, test_set.au

    torch.manual_seed(config.seed)
    net = build_aunet(config.aunet, config.data, config.render).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=max(config.steps, 1))
    gen = torch.Generator().manual_seed(config.seed)
    write_config(run_dir, to_dict(config), overwrite=True)
    stats = StatsWriter(run_dir, tensorboard=False)
    bar = Progress(config.steps, run_dir.name, images_per_unit=config.batch_size, mode=progress_mode(progress))
    t0 = time.perf_counter()
    net.train()
    try:
        for step in range(1, config.steps + 1):
            idx = torch.randint(x_tr.shape[0], (config.batch_size,), generator=gen)
            x, y = x_tr[idx].to(device), y_tr[idx].to(device)
            flip = torch.rand(x.shape[0], generator=gen) < 0.5  # left-right symmetric AUs: mirror half the batch
            x = torch.where(flip.to(device)[:, None, None, None], x.flip(-1), x)
            loss = torch.nn.functional.mse_loss(torch.sigmoid(net(x)), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if not torch.isfinite(loss):
                raise AucganError(f"AUNet loss became {float(loss)} at step {step}")
            bar.update(1, {"loss": loss.item()})
            if step % config.log_every == 0 or step == config.steps:
                stats.write(step, {"loss": loss.item()}, images=step * config.batch_size)
    finally:
        stats.close()
        bar.close()
    net.eval()
    pred = predict_intensities(net, x_te)
    metrics = summarize(from_unit(y_te.numpy()), pred, au_names)
    metrics.update({"held_out_samples": int(x_te.shape[0]), "train_samples": int(x_tr.shape[0]),
                    "steps": config.steps, "seconds": round(time.perf_counter() - t0, 2)})
    save_aunet_weights(run_dir, net)
    atomic_write_text(run_dir / AUNET_METRICS, json.dumps(metrics, indent=1))
    return metrics
