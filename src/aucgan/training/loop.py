"""The GAN training loop: a plain function from a resolved config, a data set and a run directory.

Everything random flows from ``config.seed`` (and the rank): batches, targets, identity pairs and the
gradient-penalty mixing use one explicit ``torch.Generator`` whose state is checkpointed, so ``--resume``
continues exactly as an uninterrupted run would (on CPU).
"""

from __future__ import annotations

from pathlib import Path

import torch

from aucgan.au import au_set
from aucgan.config.loading import to_dict
from aucgan.config.schema import TrainConfig
from aucgan.config.upgrade import complete_run_config
from aucgan.data.batch import Batch
from aucgan.data.datasets import open_dataset
from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.losses.objective import GANObjective
from aucgan.models.build import build_disc, build_generator, make_codec, make_renderer
from aucgan.rundir.files import record_data, write_config, write_run_layout
from aucgan.rundir.stats import StatsWriter
from aucgan.runs import load_aunet
from aucgan.training import distributed as dist_utils
from aucgan.training.data import TrainData
from aucgan.training.ema import EMA
from aucgan.training.engine import Cadence, TrainResult, TrainState, resume_state, run_steps
from aucgan.training.perf import make_adam, maybe_compile, to_channels_last
from aucgan.training.samples import save_sample_grid
from aucgan.training.schedule import lr_factor


def training_loop(config: TrainConfig, data: str | Path, run_dir: str | Path, resume: bool = False,
                  progress: bool | str = True, dataset=None, stop_at: int | None = None) -> TrainResult:
    """Train G/D on ``data`` for ``config.steps`` steps, writing stats, samples and checkpoints to ``run_dir``.

    ``stop_at`` ends this session after that step (with a checkpoint) without changing the schedule, so a
    later ``resume=True`` call continues the same run; ``dataset`` bypasses ``open_dataset`` (tests).
    ``progress``: True ("auto"), False ("off") or a :data:`aucgan.progress.Mode`.
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

    state = TrainState(modules={"G": G, "G_ema": ema.module, "D": D},
                       optimizers={"opt_g": (opt_g, config.optim.lr_g), "opt_d": (opt_d, config.optim.lr_d)},
                       ema=ema, gen=torch.Generator().manual_seed(config.seed * 1000 + rank))
    if resume:
        resume_state(state, run_dir, rank)
    grown = {}
    if rank == 0:
        write_run_layout(run_dir, train_data.layout)   # first: a resumed run refuses another layout
        grown = write_config(run_dir, to_dict(config), resume=resume, growable=("steps",),
                             upgrade=complete_run_config)
        if data is not None:
            record_data(run_dir, data)
    stats = StatsWriter(run_dir, tensorboard=config.tensorboard) if rank == 0 else None
    if "steps" in grown:
        record_extension(stats, state.step, *grown["steps"], config.optim.decay_start)
    sample_batch = train_data.batch(torch.arange(min(4, len(train_data))), torch.Generator().manual_seed(7),
                                    mode="prototype", noise=0.0).to(device)

    kw = dict(mode=config.data.target_mode, prototype_prob=config.data.prototype_prob,
              noise=config.data.target_noise, pair_identity=config.data.pair_identity,
              mismatch_distance=(train_data.distance_quantile(config.loss.mismatch_quantile)
                                 if config.loss.w_d_mismatch > 0 and config.loss.mismatch_quantile > 0 else 0.0))
    if config.data.repeat_threshold > 0:
        kw["weights"] = train_data.repeat_factors(config.data.repeat_threshold)
    bs = config.data.batch_size
    d_batches = max(1, config.loss.n_critic) if objective.uses_discriminator else 0
    gen = state.gen

    def batch() -> Batch:
        b = train_data.random_batch(bs, gen, **kw).to(device)
        return to_channels_last(b) if config.optim.channels_last else b

    def step_fn(step: int) -> dict[str, float]:
        scalars: dict[str, float] = {}
        for _ in range(d_batches):
            b = batch()
            G.requires_grad_(False)
            D.requires_grad_(True)
            opt_d.zero_grad(set_to_none=True)
            loss_d, s = objective.discriminator_phase(b, step, gen)
            loss_d.backward()
            dist_utils.sync_gradients(D, world)
            opt_d.step()
            scalars.update(s)
        b = batch()
        G.requires_grad_(True)
        D.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        loss_g, s = objective.generator_phase(b)
        loss_g.backward()
        dist_utils.sync_gradients(G, world)
        opt_g.step()
        scalars.update(s)
        return scalars

    def sample(path: Path, step: int) -> None:
        save_sample_grid(path, ema.module, sample_batch, codec, au_names, stats_writer=stats, step=step)

    cadence = Cadence(steps=config.steps, log_every=config.log_every, sample_every=config.sample_every,
                      ckpt_every=config.ckpt_every, keep_ckpts=config.keep_ckpts,
                      decay_start=config.optim.decay_start, ckpt_at=config.ckpt_at)
    return run_steps(state, step_fn, run_dir=run_dir, cadence=cadence, config=to_dict(config), stats=stats,
                     sample=sample, batch_images=bs * world, images_per_step=bs * world * (1 + d_batches),
                     progress=progress, stop_at=stop_at, rank=rank, world=world)


def record_extension(stats: StatsWriter | None, step: int, old_steps: int, new_steps: int,
                     decay_start: float) -> None:
    """Say (and record in ``stats.jsonl``) that a resumed run now trains for ``new_steps`` instead of ``old_steps``.

    The learning-rate schedule is a function of the total (:func:`~aucgan.training.schedule.lr_factor`), so from
    ``step`` on it is the schedule of a ``new_steps`` run: the decay starts at ``decay_start * new_steps``, and a
    run that had already decayed continues at the higher rate the longer schedule has at ``step``.
    """
    print(f"extending the run from {old_steps} to {new_steps} steps at step {step}; learning rates follow the "
          f"{new_steps}-step schedule (factor {lr_factor(step, new_steps, decay_start):.3f} now, linear decay from "
          f"step {int(decay_start * new_steps)})", flush=True)
    if stats is not None:
        stats.event(step, steps_extended={"from": old_steps, "to": new_steps})
