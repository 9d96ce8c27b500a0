"""Fine-tuning an imported DECA detail decoder with AU conditioning: a plain function from a resolved
:class:`~aucgan.deca.config.DecaTrainConfig`, a prepared DECA data set and a run directory.

Per step, on a batch of (latent, AUs, uv_z) samples (decoder units: uv_z / out_scale for the map terms):

* reconstruction ``|D(latent, au) - uv_z|``;
* DECA's detail consistency: the latent with the detail code of another image of the same identity
  (jaw pose and expression kept) and this image's AUs must still give this image's uv_z;
* DECA/EMOCA's regularisers on the reconstruction: ``z_reg``, ``z_diff`` (``z_sym`` off by default);
* optional AU consistency on decoded maps with target AUs (another sample's, with noise): a frozen AU
  estimator on uv_z (``aunet``) and/or the discriminator's AU head;
* optional conditional discriminator on uv_z (aucgan's registry; AUs in unit scale, as every aucgan
  discriminator takes them), with a matching-aware option (real maps
  paired with another sample's AUs scored as fake), an AU head regressing the real maps' AUs, and R1.

The run directory holds ``config.json``, ``decoder.json`` (the decoder's architecture, so the run is
self-contained), ``data.json``, ``stats.jsonl``, ``samples/`` and ``checkpoints/`` (safetensors: ``G``,
``G_ema``, ``D``, optimisers, RNG). Every random choice flows from ``config.seed``; ``resume`` continues
exactly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from aucgan.au import AU_MAX, au_set, to_unit
from aucgan.deca.build import DECODER_FILE, build_deca_discriminator, build_decoder
from aucgan.deca.config import DecaTrainConfig, check_config
from aucgan.deca.data import DecaData, open_deca_data
from aucgan.deca.decoder import DetailDecoder, deca_keys
from aucgan.deca.losses import z_diff, z_reg, z_sym
from aucgan.device import pick_device
from aucgan.errors import AucganError
from aucgan.fsutil import atomic_write, atomic_write_text
from aucgan.losses.adversarial import d_adv_loss, g_adv_loss, r1_penalty
from aucgan.losses.au_consistency import au_loss
from aucgan.losses.objective import fake_term
from aucgan.losses.reconstruction import detail_consistency_loss, reconstruction_loss
from aucgan.runs import load_aunet, record_data
from aucgan.training.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from aucgan.training.config import to_dict
from aucgan.training.ema import EMA
from aucgan.training.loop import lr_factor
from aucgan.training.perf import make_adam
from aucgan.training.rundir import write_config
from aucgan.training.stats import StatsWriter, check_finite


@dataclass
class DecaTrainResult:
    run_dir: Path
    step: int
    last_stats: dict[str, float]


@dataclass
class DecaBatch:
    """One batch: latents (B, D), AUs (B, K) 0..5, uv_z (B, 1, S, S) metres, the latents with a partner's
    detail code (B, D) and whether a partner exists (B,), target AUs (B, K) 0..5 and mismatched AUs (B, K)."""

    latent: Tensor
    au: Tensor
    uv: Tensor
    swapped: Tensor
    has_partner: Tensor
    target: Tensor
    mismatched: Tensor

    def to(self, device: torch.device) -> DecaBatch:
        return DecaBatch(**{k: v.to(device) for k, v in self.__dict__.items()})


class DecaTrainData:
    """Draws seeded batches from a :class:`DecaData` (latents and AUs in memory, uv_z read per batch)."""

    def __init__(self, data: DecaData) -> None:
        self.data = data
        self.latents = torch.from_numpy(np.array(data.latents, np.float32))
        self.au = torch.from_numpy(data.au.copy())
        ids = data.identity_index()
        self.groups = [np.flatnonzero(ids == i) for i in range(int(ids.max()) + 1)]
        self.group_of = ids
        self.detail = data.parts["detail"]

    def __len__(self) -> int:
        return len(self.data)

    @property
    def has_pairs(self) -> bool:
        """Whether any identity has two or more samples (detail consistency needs pairs)."""
        return any(len(g) > 1 for g in self.groups)

    def batch(self, idx: Tensor, gen: torch.Generator, target_mode: str = "shuffle", noise: float = 0.0
              ) -> DecaBatch:
        idx_np = idx.numpy()
        latent, au = self.latents[idx], self.au[idx]
        uv = torch.from_numpy(np.array(self.data.uv_z[idx_np], np.float32))
        partners, has = [], []
        for i in idx_np.tolist():
            group = self.groups[self.group_of[i]]
            others = group[group != i]
            if len(others):
                partners.append(int(others[int(torch.randint(len(others), (1,), generator=gen))]))
                has.append(True)
            else:
                partners.append(i)
                has.append(False)
        swapped = latent.clone()
        swapped[:, self.detail] = self.latents[partners][:, self.detail]
        perm = torch.roll(torch.arange(len(idx)), 1)
        mismatched = au[perm]
        target = au.clone() if target_mode == "own" else mismatched.clone()
        if noise > 0:
            target = target + noise * AU_MAX * torch.randn(target.shape, generator=gen)
        return DecaBatch(latent=latent, au=au, uv=uv, swapped=swapped, has_partner=torch.tensor(has),
                         target=target.clamp(0.0, AU_MAX), mismatched=mismatched)

    def random_batch(self, size: int, gen: torch.Generator, target_mode: str, noise: float) -> DecaBatch:
        return self.batch(torch.randint(len(self), (size,), generator=gen), gen, target_mode, noise)


# --------------------------------------------------------------------------------------------- objective
@dataclass
class DecaObjective:
    """The loss phases (no weights or optimisers of its own); ``D`` and ``aunet`` may be None."""

    dec: DetailDecoder
    D: nn.Module | None
    aunet: nn.Module | None
    aunet_scale: float
    cfg: DecaTrainConfig

    def _decode(self, latent: Tensor, au: Tensor, source: Tensor) -> Tensor:
        return self.dec(latent, au, source_au=source if self.dec.needs_source_au else None)

    def units(self, uv: Tensor) -> Tensor:
        """uv_z (metres) in decoder units (about -1..1)."""
        return uv / self.dec.out_scale

    def generator_phase(self, b: DecaBatch) -> tuple[Tensor, dict[str, float]]:
        lc = self.cfg.loss
        terms: list[Tensor] = []
        scalars: dict[str, float] = {}

        def add(weight: float, result: tuple[Tensor, dict[str, float]]) -> None:
            terms.append(weight * result[0])
            scalars.update(result[1])

        rec = self._decode(b.latent, b.au, b.au)
        if lc.w_rec > 0:
            add(lc.w_rec, reconstruction_loss(self.units(rec), self.units(b.uv)))
        if lc.w_detail > 0:
            keep = b.has_partner
            if bool(keep.any()):
                swapped = self._decode(b.swapped[keep], b.au[keep], b.au[keep])
                add(lc.w_detail, detail_consistency_loss(self.units(swapped), self.units(b.uv[keep])))
        if lc.w_z_reg > 0:
            add(lc.w_z_reg, z_reg(rec))
        if lc.w_z_diff > 0:
            add(lc.w_z_diff, z_diff(rec, lc.uv_extent_m))
        if lc.w_z_sym > 0:
            add(lc.w_z_sym, z_sym(rec))
        needs_target = (lc.w_au > 0 and self.aunet is not None) or (self.D is not None and
                                                                      (lc.w_adv > 0 or lc.w_au_disc > 0))
        if needs_target:
            fake = self._decode(b.latent, b.target, b.au)
            if lc.w_au > 0 and self.aunet is not None:
                loss, s = au_loss(lc.au_loss, self.aunet(fake / self.aunet_scale), to_unit(b.target),
                                  pred_is_logits=True)
                add(lc.w_au, (loss, {f"G/aunet_{k.split('/')[1]}": v for k, v in s.items()}))
            if self.D is not None:
                out = self.D(self.units(fake), to_unit(b.target))
                if lc.w_adv > 0:
                    add(lc.w_adv, g_adv_loss(lc.adversarial, out.score))
                if lc.w_au_disc > 0:
                    loss, s = au_loss(lc.au_loss, out.au_logits, to_unit(b.target), pred_is_logits=True)
                    add(lc.w_au_disc, (loss, {f"G/dau_{k.split('/')[1]}": v for k, v in s.items()}))
        if not terms:
            raise AucganError("every generator loss weight is 0: nothing to train")
        total = torch.stack(terms).sum()
        scalars["G/total"] = float(total.detach())
        return total, scalars

    def discriminator_phase(self, b: DecaBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        lc = self.cfg.loss
        with torch.no_grad():
            fake = self._decode(b.latent, b.target, b.au)
        real = self.units(b.uv)
        use_r1 = lc.r1_gamma > 0 and step % max(1, lc.r1_every) == 0
        if use_r1:
            real = real.detach().requires_grad_(True)
        out_real = self.D(real, to_unit(b.au))
        out_fake = self.D(self.units(fake), to_unit(b.target))
        total, scalars = d_adv_loss(lc.adversarial, out_real.score, out_fake.score)
        total = lc.w_adv * total if lc.w_adv > 0 else 0.0 * total
        if lc.w_d_mismatch > 0:
            mismatch = fake_term(lc.adversarial, self.D(self.units(b.uv), to_unit(b.mismatched)).score)
            total = total + lc.w_d_mismatch * mismatch
            scalars["D/mismatch"] = float(mismatch.detach())
        if out_real.au_logits is not None and lc.w_d_au > 0:
            loss, s = au_loss(lc.au_loss, out_real.au_logits, to_unit(b.au), pred_is_logits=True)
            total = total + lc.w_d_au * loss
            scalars.update({f"D/au_{k.split('/')[1]}": v for k, v in s.items()})
        if use_r1:
            loss, s = r1_penalty(out_real.score, real, lc.r1_gamma)
            total = total + loss * max(1, lc.r1_every)
            scalars.update(s)
        scalars["D/total"] = float(total.detach())
        return total, scalars


# ------------------------------------------------------------------------------------------------ helpers
def base_parameters(dec: DetailDecoder) -> list[str]:
    """Names of DECA's own parameters in the decoder (``l1.0.*``, ``conv_blocks.*``)."""
    keys = set(deca_keys(dec.num_blocks))
    return [n for n, _ in dec.named_parameters() if n in keys]


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
               progress: bool = True, stop_at: int | None = None) -> DecaTrainResult:
    """Fine-tune for ``config.steps`` steps on the prepared data set ``data``, writing into ``run_dir``.

    ``stop_at`` ends this session after that step (with a checkpoint), so ``resume=True`` continues the run.
    """
    cfg = check_config(config)
    device = pick_device(cfg.device)
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(run_dir)
    au_names = au_set(cfg.data.au_set)
    deca_data = open_deca_data(data, au_names=au_names)
    train_data = DecaTrainData(deca_data)
    lc = cfg.loss
    if lc.w_detail > 0 and not train_data.has_pairs:
        raise AucganError(f"{data}: no identity has two or more images, so detail codes cannot be swapped; give "
                          "identities to prepare-deca (--identities CSV or <identity>/<name>/ folders) or set "
                          "loss.w_detail=0")

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
    opt_g = make_adam([p for p in dec.parameters() if p.requires_grad], cfg.optim.lr_g, betas, cfg.optim.adam_impl)
    opt_d = make_adam(D.parameters(), cfg.optim.lr_d, betas, cfg.optim.adam_impl) if D is not None else None
    objective = DecaObjective(dec, D, aunet, aunet_scale, cfg)
    modules = {"G": dec, "G_ema": ema.module, **({"D": D} if D is not None else {})}
    optimizers = {"opt_g": opt_g, **({"opt_d": opt_d} if opt_d is not None else {})}

    gen = torch.Generator().manual_seed(cfg.seed * 1000)
    step = 0
    if resume:
        ckpt = latest_checkpoint(run_dir)
        if ckpt is None:
            raise AucganError(f"{run_dir}: --resume asked for but the run has no checkpoint")
        meta = load_checkpoint(ckpt, modules=modules, optimizers=optimizers, restore_rng=True)
        step = int(meta["step"])
        gen.set_state(torch.tensor(meta["data_rng"], dtype=torch.uint8))
        ema.num_updates = int(meta.get("ema_updates", step))
    write_config(run_dir, to_dict(cfg), resume=resume)
    arch = json.dumps(dec.config(), indent=1) + "\n"
    if resume and (run_dir / DECODER_FILE).is_file() and (run_dir / DECODER_FILE).read_text() != arch:
        raise AucganError(f"{run_dir / DECODER_FILE}: the resumed run's decoder was built differently")
    atomic_write_text(run_dir / DECODER_FILE, arch)
    record_data(run_dir, data)
    stats = StatsWriter(run_dir, tensorboard=cfg.tensorboard)
    sample_batch = train_data.batch(torch.arange(min(4, len(train_data))), torch.Generator().manual_seed(7),
                                    "shuffle", 0.0).to(device)

    def checkpoint() -> None:
        save_checkpoint(run_dir / "checkpoints", modules=modules, optimizers=optimizers,
                        meta={"step": step, "config": to_dict(cfg), "ema_updates": ema.num_updates,
                              "data_rng": gen.get_state().tolist()}, step=step, keep=cfg.keep_ckpts)

    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.steps, initial=step, desc=cfg.name, dynamic_ncols=True)
    bs = cfg.data.batch_size
    t_last, images_since, last = time.perf_counter(), 0, {}
    kw = dict(target_mode=cfg.data.target_mode, noise=cfg.data.target_noise)
    try:
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        while step < end:
            f = lr_factor(step, cfg.steps, cfg.optim.decay_start)
            for group in opt_g.param_groups:
                group["lr"] = cfg.optim.lr_g * f
            scalars: dict[str, float] = {}
            if D is not None:
                for group in opt_d.param_groups:
                    group["lr"] = cfg.optim.lr_d * f
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
            ema.update(dec)
            step += 1
            images_since += bs * (2 if D is not None else 1)
            check_finite(scalars, step)
            last = scalars
            if bar is not None:
                bar.update(1)
                bar.set_postfix({"G": f"{scalars['G/total']:.4f}"})
            if step % cfg.log_every == 0 or step == cfg.steps:
                now = time.perf_counter()
                scalars["perf/images_per_s"] = images_since / max(now - t_last, 1e-9)
                scalars["lr_factor"] = f
                t_last, images_since = now, 0
                stats.write(step, scalars, images=step * bs)
            if step % cfg.sample_every == 0 or step == cfg.steps:
                save_samples(run_dir / "samples" / f"step-{step:06d}.png", ema.module, sample_batch)
            if step % cfg.ckpt_every == 0 or step == end:
                checkpoint()
    finally:
        if bar is not None:
            bar.close()
        stats.close()
    if not all(math.isfinite(v) for v in last.values()):
        raise AucganError(f"a loss became NaN/Inf at step {step}")
    return DecaTrainResult(run_dir=run_dir, step=step, last_stats=last)
