"""Fine-tuning an imported DECA detail decoder with AU conditioning: a plain function from a resolved
:class:`~aucgan.deca.config.DecaTrainConfig`, a prepared DECA data set and a run directory.

Per step, on a batch of (latent, AUs, uv_z) samples (decoder units: uv_z / out_scale for the map terms):

* reconstruction ``|D(latent, au) - uv_z|`` inside DECA's face mask (DECA discards uv_z outside it; the mask
  of the layout and ``decoder.mask``, :func:`aucgan.deca.build.face_mask`);
* DECA's detail consistency: the latent with the detail code of another image of the same identity
  (jaw pose and expression kept) and this image's AUs must still give this image's uv_z;
* optional cross-expression consistency (``loss.w_cross``): another image of the same identity, all its codes
  kept, decoded with *this* image's AUs (its own as the source AUs) must give this image's uv_z - the AU edit
  at fixed codes that users ask of the decoder, supervised by the identity's other images;
* optional paired edit consistency (``loss.w_edit``): the same edit as a *change* - the decoder's output for the
  other image's codes with this image's AUs minus its output with that image's own AUs must equal this image's
  uv_z minus that image's. The person's static detail and the decoder's error at reconstructing it cancel, so
  the AU path learns from the expression change alone;
* optional expression-code dropout and noise on every latent of the batch (``data.code_dropout``,
  ``data.code_noise``), so the expression code cannot stand in for the AUs;
* DECA/EMOCA's regularisers on the reconstruction: ``z_reg`` (inside the face mask), ``z_diff`` (``z_sym`` off by
  default);
* optional AU consistency on decoded maps with target AUs (another sample's, with noise): a frozen AU
  estimator on uv_z (``aunet``) and/or the discriminator's AU head;
* optional conditional discriminator on uv_z (aucgan's registry; AUs in unit scale, as every aucgan
  discriminator takes them), with a matching-aware option (real maps
  paired with another sample's AUs scored as fake), an AU head regressing the real maps' AUs, and R1.

The run directory holds ``config.json``, ``decoder.json`` (the decoder's architecture, so the run is
self-contained), ``data.json``, ``stats.jsonl``, ``samples/`` and ``checkpoints/`` (safetensors: ``G``,
``G_ema``, ``D``, optimisers, RNG). Every random choice flows from ``config.seed``; ``resume`` continues
exactly. Batches are :mod:`aucgan.deca.batches`', the loss phases :mod:`aucgan.deca.objective`'s, and the run
(resume, schedule, cadence, checkpoints, progress, NaN stop) :mod:`aucgan.training.engine`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from aucgan.au import au_set
from aucgan.config.loading import to_dict
from aucgan.deca.batches import DecaBatch, DecaTrainData
from aucgan.deca.build import build_deca_discriminator, build_decoder, face_mask
from aucgan.deca.config import DecaTrainConfig, check_config
from aucgan.deca.data import DecaData, open_deca_data
from aucgan.deca.decoder import DetailDecoder, deca_keys
from aucgan.deca.objective import DecaObjective
from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write, atomic_write_text
from aucgan.rundir.files import DECODER_FILE, record_data, write_config
from aucgan.rundir.stats import StatsWriter
from aucgan.runs import load_aunet
from aucgan.training.ema import EMA
from aucgan.training.engine import Cadence, TrainResult, TrainState, resume_state, run_steps
from aucgan.training.perf import make_adam


# ------------------------------------------------------------------------------------------------ helpers
def base_parameters(dec: DetailDecoder) -> list[str]:
    """Names of DECA's own parameters in the decoder (``l1.0.*``, ``conv_blocks.*``)."""
    keys = set(deca_keys(dec.num_blocks))
    return [n for n, _ in dec.named_parameters() if n in keys]


def parameter_groups(dec: DetailDecoder, lr: float, base_lr_scale: float) -> list[dict]:
    """The trainable parameters as optimiser groups: DECA's own at ``lr * base_lr_scale`` (their ``lr_scale``
    keeps the ratio through the schedule), the new conditioning at ``lr``; one group when the scale is 1."""
    base = set(base_parameters(dec))
    named = [(n, p) for n, p in dec.named_parameters() if p.requires_grad]
    if base_lr_scale == 1.0:
        return [{"params": [p for _, p in named]}]
    groups = [{"params": [p for n, p in named if n in base], "lr": lr * base_lr_scale, "lr_scale": base_lr_scale},
              {"params": [p for n, p in named if n not in base]}]
    return [g for g in groups if g["params"]]


def freeze_base(dec: DetailDecoder) -> None:
    """Train only the new conditioning: DECA's parameters frozen (with ``concat_latent`` only the AU columns of
    ``l1.0.weight`` learn) and DECA's BatchNorm statistics kept (see :func:`set_train_mode`)."""
    params = dict(dec.named_parameters())
    for name in base_parameters(dec):
        params[name].requires_grad_(False)
    if dec.concat_aus:
        weight = dec.l1[0].weight
        weight.requires_grad_(True)
        mask = torch.zeros_like(weight)
        mask[:, dec.latent_dim:] = 1.0
        weight.register_hook(lambda g: g * mask.to(g))


def set_train_mode(dec: DetailDecoder, train_base: bool) -> None:
    """Training mode, with DECA's BatchNorm layers in eval mode when the base is frozen."""
    dec.train()
    if not train_base:
        for m in dec.conv_blocks.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()


def _grey(uv: Tensor, scale: float) -> Tensor:
    return (0.5 + 0.5 * uv / scale).clamp(0.0, 1.0)


@torch.no_grad()
def save_samples(path: Path, dec: DetailDecoder, b: DecaBatch) -> Path:
    """A PNG grid, one row per sample: real uv_z | reconstruction | with the target AUs | change x 4 (grey
    0.5 = 0, full range +-out_scale)."""
    from PIL import Image

    dec.eval()
    src = b.au if dec.needs_source_au else None
    rec = dec(b.latent, b.au, source_au=src)
    edit = dec(b.latent, b.target, source_au=src)
    s = dec.out_scale
    rows = [torch.cat([_grey(b.uv[i, 0], s), _grey(rec[i, 0], s), _grey(edit[i, 0], s),
                       _grey(4 * (edit[i, 0] - rec[i, 0]), s)], dim=1) for i in range(b.latent.shape[0])]
    grid = (torch.cat(rows, dim=0).cpu().numpy() * 255 + 0.5).astype(np.uint8)
    return atomic_write(path, lambda p: Image.fromarray(grid).save(p))


def check_data(dec: DetailDecoder, data: DecaData, where: str) -> None:
    if data.latent_dim != dec.latent_dim:
        raise AucganError(f"{where}: the data set's latents have {data.latent_dim} values, the decoder takes "
                          f"{dec.latent_dim}")
    if data.size != dec.output_size:
        raise AucganError(f"{where}: the data set's uv_z maps are {data.size} px, the decoder makes "
                          f"{dec.output_size} px")


def _aunet(cfg: DecaTrainConfig, au_names: tuple[str, ...], device: torch.device) -> tuple[nn.Module, float]:
    net, acfg = load_aunet(cfg.aunet, device)
    if tuple(acfg.data.maps) != ("displacement",) or acfg.aunet.input != "maps":
        raise AucganError(f"{cfg.aunet}: the AU estimator reads {list(acfg.data.maps)} ({acfg.aunet.input}); the "
                          "deca preset needs one trained on uv_z maps alone: --set data.maps=[displacement]")
    if au_set(acfg.data.au_set) != au_names:
        raise AucganError(f"{cfg.aunet}: the AU estimator predicts {acfg.data.au_set}, the decoder takes "
                          f"{', '.join(au_names)}")
    return net, float(acfg.data.disp_scale)


# ----------------------------------------------------------------------------------------------- the loop
def train_deca(config: DecaTrainConfig, data: str | Path, run_dir: str | Path, resume: bool = False,
               progress: bool | str = True, stop_at: int | None = None) -> TrainResult:
    """Fine-tune for ``config.steps`` steps on the prepared data set ``data``, writing into ``run_dir``.

    ``stop_at`` ends this session after that step (with a checkpoint), so ``resume=True`` continues the run.
    ``progress``: True ("auto"), False ("off") or a :data:`aucgan.progress.Mode`.
    """
    cfg = check_config(config)
    device = pick_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir)
    au_names = au_set(cfg.data.au_set)
    deca_data = open_deca_data(data, au_names=au_names)
    train_data = DecaTrainData(deca_data, au_gate=cfg.data.au_gate)
    lc = cfg.loss
    paired = [name for name, w in (("loss.w_detail", lc.w_detail), ("loss.w_cross", lc.w_cross),
                                   ("loss.w_edit", lc.w_edit)) if w > 0]
    if paired and not train_data.has_pairs:
        raise AucganError(f"{data}: no identity has two or more images, so {' and '.join(paired)} (pairs of images "
                          "of one person) cannot be formed; give identities to prepare-deca (--identities CSV or "
                          f"<identity>/<name>/ folders) or set {'=0 and '.join(paired)}=0")

    torch.manual_seed(cfg.seed)
    dec = build_decoder(cfg).to(device)
    check_data(dec, deca_data, str(data))
    if not cfg.decoder.train_base:
        freeze_base(dec)
    uses_d = lc.w_adv > 0 or lc.w_au_disc > 0
    D = build_deca_discriminator(cfg, dec.output_size).to(device) if uses_d else None
    if lc.w_au_disc > 0 and D.au_head is None:
        raise AucganError(f"loss.w_au_disc reads the discriminator's AU head; discriminator.kind "
                          f"{cfg.discriminator.kind!r} has none (use aux_regressor or projection_aux)")
    aunet, aunet_scale = _aunet(cfg, au_names, device) if lc.w_au > 0 else (None, 1.0)
    ema = EMA(dec, decay=cfg.optim.ema_decay, rampup=cfg.optim.ema_rampup)
    betas = (cfg.optim.beta1, cfg.optim.beta2)
    opt_g = make_adam(parameter_groups(dec, cfg.optim.lr_g, cfg.decoder.base_lr_scale), cfg.optim.lr_g, betas,
                      cfg.optim.adam_impl)
    opt_d = make_adam(D.parameters(), cfg.optim.lr_d, betas, cfg.optim.adam_impl) if D is not None else None
    mask = face_mask(cfg.decoder.layout, cfg.decoder.mask, dec.output_size)
    objective = DecaObjective(dec, D, aunet, aunet_scale, cfg, None if mask is None else mask.to(device))
    state = TrainState(modules={"G": dec, "G_ema": ema.module, **({"D": D} if D is not None else {})},
                       optimizers={"opt_g": (opt_g, cfg.optim.lr_g),
                                   **({"opt_d": (opt_d, cfg.optim.lr_d)} if opt_d is not None else {})},
                       ema=ema, gen=torch.Generator().manual_seed(cfg.seed * 1000))
    if resume:
        resume_state(state, run_dir)
    write_config(run_dir, to_dict(cfg), resume=resume)
    arch = json.dumps(dec.config(), indent=1) + "\n"
    if resume and (run_dir / DECODER_FILE).is_file() and (run_dir / DECODER_FILE).read_text() != arch:
        raise AucganError(f"{run_dir / DECODER_FILE}: the resumed run's decoder was built differently")
    atomic_write_text(run_dir / DECODER_FILE, arch)
    record_data(run_dir, data)
    stats = StatsWriter(run_dir, tensorboard=cfg.tensorboard)
    sample_batch = train_data.batch(torch.arange(min(4, len(train_data))), torch.Generator().manual_seed(7),
                                    "shuffle", 0.0).to(device)
    bs = cfg.data.batch_size
    kw = dict(target_mode=cfg.data.target_mode, noise=cfg.data.target_noise, code_dropout=cfg.data.code_dropout,
              code_noise=cfg.data.code_noise)
    gen = state.gen

    def step_fn(step: int) -> dict[str, float]:
        scalars: dict[str, float] = {}
        if D is not None:
            b = train_data.random_batch(bs, gen, **kw).to(device)
            dec.eval()
            D.requires_grad_(True)
            opt_d.zero_grad(set_to_none=True)
            loss_d, s = objective.discriminator_phase(b, step)
            loss_d.backward()
            opt_d.step()
            scalars.update(s)
            D.requires_grad_(False)
        b = train_data.random_batch(bs, gen, **kw).to(device)
        set_train_mode(dec, cfg.decoder.train_base)
        opt_g.zero_grad(set_to_none=True)
        loss_g, s = objective.generator_phase(b)
        loss_g.backward()
        opt_g.step()
        scalars.update(s)
        return scalars

    cadence = Cadence(steps=cfg.steps, log_every=cfg.log_every, sample_every=cfg.sample_every,
                      ckpt_every=cfg.ckpt_every, keep_ckpts=cfg.keep_ckpts, decay_start=cfg.optim.decay_start)
    return run_steps(state, step_fn, run_dir=run_dir, cadence=cadence, config=to_dict(cfg), stats=stats,
                     sample=lambda path, step: save_samples(path, ema.module, sample_batch), batch_images=bs,
                     images_per_step=bs * (2 if D is not None else 1), progress=progress, stop_at=stop_at)
