"""The GAN training loop: a plain function from a resolved config, a data set and a run directory.

Everything random flows from ``config.seed`` (and the rank): batches, targets, identity pairs and the
gradient-penalty mixing use one explicit ``torch.Generator`` whose state is checkpointed, so ``--resume``
continues exactly as an uninterrupted run would (on CPU).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from aucgan.au import au_set
from aucgan.data.batch import Batch
from aucgan.data.datasets import open_dataset
from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.losses.objective import GANObjective
from aucgan.runs import CKPT_DIR, STATS_FILE, load_aunet, record_data
from aucgan.training import distributed as dist_utils
from aucgan.training.build import build_disc, build_generator, make_codec
from aucgan.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from aucgan.training.config import TrainConfig, complete_run_config, to_dict
from aucgan.training.data import TrainData
from aucgan.training.decomposed import make_renderer
from aucgan.training.ema import EMA
from aucgan.training.perf import make_adam, maybe_compile, to_channels_last
from aucgan.training.rundir import write_config, write_run_layout
from aucgan.training.samples import save_sample_grid
from aucgan.training.stats import StatsWriter, check_finite


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    last_stats: dict[str, float]


def lr_factor(step: int, total: int, decay_start: float) -> float:
    """Constant, then linear decay to 0 from ``decay_start * total`` (GANimation / CycleGAN schedule)."""
    start = int(decay_start * total)
    if step < start or total <= start:
        return 1.0
    return max(0.0, 1.0 - (step - start) / max(1, total - start))


def training_loop(config: TrainConfig, data: str | Path, run_dir: str | Path, resume: bool = False,
                  progress: bool = True, dataset=None, stop_at: int | None = None) -> TrainResult:
    """Train G/D on ``data`` for ``config.steps`` steps, writing stats, samples and checkpoints to ``run_dir``.

    ``stop_at`` ends this session after that step (with a checkpoint) without changing the schedule, so a
    later ``resume=True`` call continues the same run; ``dataset`` bypasses ``open_dataset`` (tests).
    """
    info = dist_utils.init_distributed()
    rank, world = info.rank, info.world_size
    device = pick_device(config.device) if world == 1 else info.device
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    run_dir = Path(run_dir)
    au_names = au_set(config.data.au_set)
    codec = make_codec(config.data)

    if dataset is None:
        dataset = open_dataset(data, split="train", size=(config.data.size, config.data.size), au_names=au_names,
                               preload=config.data.preload)
    train_data = TrainData(dataset, codec, au_names, config.data.size, extra_attrs=config.generator.extra_attrs)

    torch.manual_seed(config.seed)
    G = build_generator(config).to(device)
    D = build_disc(config).to(device)
    dist_utils.broadcast_module(G)
    dist_utils.broadcast_module(D)
    ema = EMA(G, decay=config.optim.ema_decay, rampup=config.optim.ema_rampup)
    aunet = None
    if config.loss.w_au > 0 and config.loss.au_source in ("aunet", "both"):
        if not config.aunet.checkpoint:
            raise AucganError("this preset's AU-consistency loss reads a frozen AU estimator: train one with "
                              "`aucgan train-au --data DATA` and pass --aunet RUN_DIR (or --set aunet.checkpoint=DIR)")
        aunet, _ = load_aunet(config.aunet.checkpoint, device)
    betas = (config.optim.beta1, config.optim.beta2)
    opt_g = make_adam(G.parameters(), config.optim.lr_g, betas, config.optim.adam_impl)
    opt_d = make_adam(D.parameters(), config.optim.lr_d, betas, config.optim.adam_impl)
    objective = GANObjective(maybe_compile(G, config.optim.compile), D, aunet, config.loss,
                             disp_channels=codec.slices().get("displacement"),
                             renderer=make_renderer(config.render), codec=codec,
                             cond_noise=config.discriminator.cond_noise)

    gen = torch.Generator().manual_seed(config.seed * 1000 + rank)
    step = 0
    if resume:
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise AucganError(f"{run_dir}: --resume asked for but the run has no checkpoint")
        meta = load_checkpoint(ckpt, modules={"G": G, "G_ema": ema.module, "D": D},
                               optimizers={"opt_g": opt_g, "opt_d": opt_d}, restore_rng=True)
        step = int(meta["step"])
        gen.set_state(torch.tensor(meta["data_rng"][rank % len(meta["data_rng"])], dtype=torch.uint8))
        ema.num_updates = int(meta.get("ema_updates", step))
    if rank == 0:
        write_run_layout(run_dir, train_data.layout)   # first: a resumed run refuses another layout
        grown = write_config(run_dir, to_dict(config), resume=resume, growable=("steps",),
                             upgrade=complete_run_config)
        if "steps" in grown:
            record_extension(run_dir, step, *grown["steps"], config.optim.decay_start)
        if data is not None:
            record_data(run_dir, data)
    stats_writer = StatsWriter(run_dir, tensorboard=config.tensorboard) if rank == 0 else None
    sample_batch = train_data.batch(torch.arange(min(4, len(train_data))), torch.Generator().manual_seed(7),
                                    mode="prototype", noise=0.0).to(device)

    def checkpoint() -> None:
        states = [gen.get_state()]
        if world > 1:
            states = dist_utils.all_gather_object(gen.get_state())
        if rank == 0:
            save_checkpoint(run_dir / CKPT_DIR, modules={"G": G, "G_ema": ema.module, "D": D},
                            optimizers={"opt_g": opt_g, "opt_d": opt_d},
                            meta={"step": step, "config": to_dict(config), "ema_updates": ema.num_updates,
                                  "data_rng": [s.tolist() for s in states]},
                            step=step, keep=config.keep_ckpts)

    bar = None
    if progress and rank == 0:
        from tqdm import tqdm
        bar = tqdm(total=config.steps, initial=step, desc=config.name, dynamic_ncols=True)
    t_last, images_since, last = time.perf_counter(), 0, {}
    kw = dict(mode=config.data.target_mode, prototype_prob=config.data.prototype_prob,
              noise=config.data.target_noise, pair_identity=config.data.pair_identity,
              mismatch_distance=(train_data.distance_quantile(config.loss.mismatch_quantile)
                                 if config.loss.w_d_mismatch > 0 and config.loss.mismatch_quantile > 0 else 0.0))
    bs = config.data.batch_size
    d_batches = max(1, config.loss.n_critic) if objective.uses_discriminator else 0
    try:
        end = config.steps if stop_at is None else min(stop_at, config.steps)
        while step < end:
            f = lr_factor(step, config.steps, config.optim.decay_start)
            for group in opt_g.param_groups:
                group["lr"] = config.optim.lr_g * f
            for group in opt_d.param_groups:
                group["lr"] = config.optim.lr_d * f
            scalars: dict[str, float] = {}
            for _ in range(d_batches):
                b: Batch = train_data.random_batch(bs, gen, **kw).to(device)
                if config.optim.channels_last:
                    b = to_channels_last(b)
                G.requires_grad_(False)
                D.requires_grad_(True)
                opt_d.zero_grad(set_to_none=True)
                loss_d, s = objective.discriminator_phase(b, step, gen)
                loss_d.backward()
                dist_utils.sync_gradients(D, world)
                opt_d.step()
                scalars.update(s)
            b = train_data.random_batch(bs, gen, **kw).to(device)
            if config.optim.channels_last:
                b = to_channels_last(b)
            G.requires_grad_(True)
            D.requires_grad_(False)
            opt_g.zero_grad(set_to_none=True)
            loss_g, s = objective.generator_phase(b)
            loss_g.backward()
            dist_utils.sync_gradients(G, world)
            opt_g.step()
            scalars.update(s)
            ema.update(G)
            step += 1
            images_since += bs * world * (1 + d_batches)
            check_finite(scalars, step)
            if world > 1:
                scalars = dist_utils.reduce_dict(scalars)
            last = scalars
            if bar is not None:
                bar.update(1)
                rate = bar.format_dict.get("rate") or 0.0
                bar.set_postfix({"G": f"{scalars.get('G/total', float('nan')):.3f}",
                                 "D": f"{scalars.get('D/total', float('nan')):.3f}",
                                 "img/s": f"{rate * bs * world * (1 + d_batches):.1f}"})
            if step % config.log_every == 0 or step == config.steps:
                now = time.perf_counter()
                scalars["perf/images_per_s"] = images_since / max(now - t_last, 1e-9)
                scalars["lr_factor"] = f
                t_last, images_since = now, 0
                if stats_writer is not None:
                    stats_writer.write(step, scalars, images=step * bs * world)
            if rank == 0 and (step % config.sample_every == 0 or step == config.steps):
                save_sample_grid(run_dir / "samples" / f"step-{step:06d}.png", ema.module, sample_batch, codec,
                                 au_names, stats_writer=stats_writer, step=step)
            if step % config.ckpt_every == 0 or step == end or step in config.ckpt_at:
                checkpoint()
    finally:
        if bar is not None:
            bar.close()
        if stats_writer is not None:
            stats_writer.close()
    if world > 1:
        last["dist/replica_max_diff"] = max(dist_utils.replica_divergence(G), dist_utils.replica_divergence(D))
        if rank == 0:
            with (run_dir / STATS_FILE).open("a") as fh:
                fh.write(json.dumps({"step": step, "dist/world_size": world,
                                     "dist/replica_max_diff": last["dist/replica_max_diff"]}) + "\n")
    if not all(math.isfinite(v) for v in last.values()):
        raise AucganError(f"a loss became NaN/Inf at step {step}")
    return TrainResult(run_dir=run_dir, step=step, last_stats=last)


def record_extension(run_dir: Path, step: int, old_steps: int, new_steps: int, decay_start: float) -> None:
    """Say (and append to ``stats.jsonl``) that a resumed run now trains for ``new_steps`` instead of ``old_steps``.

    The learning-rate schedule is a function of the total (:func:`lr_factor`), so from ``step`` on it is the
    schedule of a ``new_steps`` run: the decay starts at ``decay_start * new_steps``, and a run that had already
    decayed continues at the higher rate the longer schedule has at ``step``.
    """
    print(f"extending the run from {old_steps} to {new_steps} steps at step {step}; learning rates follow the "
          f"{new_steps}-step schedule (factor {lr_factor(step, new_steps, decay_start):.3f} now, linear decay from "
          f"step {int(decay_start * new_steps)})", flush=True)
    with (run_dir / STATS_FILE).open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"step": step, "time": round(time.time(), 3),
                             "steps_extended": {"from": old_steps, "to": new_steps}}) + "\n")
