"""The AU-conditioned GAN objective, split into phases (as stylegan3's ``accumulate_gradients``).

:class:`GANObjective` owns no networks' weights and no optimiser: it receives G, D and the frozen AU
estimator, computes each phase's total loss from the loss functions of this package, and returns
``(loss, scalars)`` so the training loop stays a plain function.

It asks the networks what they can do through capabilities their interfaces declare, not through their
classes: a discriminator with ``has_local_patches`` also judges region crops (``D.local``, ``D.local_au_index``;
:class:`~aucgan.models.patch.GlobalLocalDiscriminator`), and an AU estimator with ``reads_renders`` reads SH-lit
renders and takes the lighting (``aunet(maps, sh)``; :class:`~aucgan.models.shaded.ShadedAUNet`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from aucgan.au import ACTIVE_UNIT
from aucgan.data.batch import Batch
from aucgan.data.codec import MapCodec
from aucgan.losses.adversarial import LossError, d_adv_loss, fake_term, g_adv_loss, gradient_penalty, r1_penalty
from aucgan.losses.au_consistency import au_loss
from aucgan.losses.reconstruction import cycle_loss, detail_consistency_loss, reconstruction_loss
from aucgan.losses.regularizers import attention_loss, displacement_regularizer, locality_loss
from aucgan.render.sh import random_lighting
from aucgan.render.shaded import Renderer

if TYPE_CHECKING:  # the loss weights' schema; only its fields are read here
    from aucgan.config.schema import LossConfig

AU_SOURCES = ("aunet", "disc", "both")
#: What R1 differentiates: D's whole score, or its part that does not read the condition (DOutput.unconditional).
R1_TARGETS = ("score", "unconditional")


def edited_footprint_union(fp: torch.Tensor, au: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Union (max) of the footprints of the AUs whose intensity changes between ``au`` and ``target``."""
    active = ((target - au).abs() > ACTIVE_UNIT).float()[:, :, None, None]
    return (fp * active).amax(dim=1, keepdim=True)


def vicinal_weight(au: torch.Tensor, other: torch.Tensor, sigma: float) -> torch.Tensor | None:
    """CcGAN-style weights ``1 - exp(-(d / sigma)^2)`` of mismatched AU vectors by their unit-scale L1 distance
    ``d`` from the sample's own (near-identical AUs are hardly negatives); None when ``sigma`` is 0."""
    if sigma <= 0:
        return None
    d = (other - au).abs().sum(dim=1)
    return 1.0 - torch.exp(-(d / sigma) ** 2)


@dataclass
class GANObjective:
    """Loss phases for one generator/discriminator pair; ``aunet`` is frozen (may be None)."""

    G: nn.Module
    D: nn.Module
    aunet: nn.Module | None
    cfg: LossConfig
    disp_channels: slice | None = None
    renderer: Renderer | None = None    # shaded renders (w_shaded_rec), with the codec of the maps
    codec: MapCodec | None = None
    cond_noise: float = 0.0             # std of Gaussian noise on the unit-scale AUs D is shown (EG3D)

    def d_cond(self, au: torch.Tensor) -> torch.Tensor:
        """The AUs shown to D in training: with ``cond_noise``, perturbed by Gaussian noise (global torch RNG,
        seeded and checkpointed by the loop), so D learns a smooth AU -> realism map rather than exact values."""
        if self.cond_noise <= 0:
            return au
        return au + self.cond_noise * torch.randn_like(au)

    def __post_init__(self) -> None:
        if self.cfg.au_source not in AU_SOURCES:
            raise ValueError(f"unknown au_source {self.cfg.au_source!r}; valid: {', '.join(AU_SOURCES)}")
        if self.cfg.w_au > 0 and self.cfg.au_source in ("aunet", "both") and self.aunet is None:
            raise ValueError("the AU-consistency loss reads the AU estimator but none was given")
        if self.cfg.w_shaded_rec > 0 and (self.renderer is None or self.codec is None):
            raise ValueError("loss.w_shaded_rec renders the maps: give the objective a renderer and the codec")

    @property
    def uses_discriminator(self) -> bool:
        """Whether any generator term reads D (adversarial, aux-head AU or patch terms). When none does, the
        discriminator phase is skipped: the run is the supervised objective alone (the paired-truth bound)."""
        cfg = self.cfg
        return (cfg.w_adv > 0 or (cfg.w_au > 0 and cfg.au_source in ("disc", "both"))
                or (self.D.has_local_patches and (cfg.w_patch_adv > 0 or cfg.w_patch_au > 0)))

    def read_aus(self, maps: torch.Tensor) -> torch.Tensor:
        """AU logits of the frozen estimator; one that reads renders sees random lighting every call."""
        if self.aunet.reads_renders:
            return self.aunet(maps, random_lighting(maps.shape[0]).to(maps.device))
        return self.aunet(maps)

    def shaded_reconstruction(self, rec: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """L1 between renders of ``rec`` and ``x`` under one random lighting per sample (shading shows
        displacement errors as a camera would)."""
        sh = random_lighting(x.shape[0]).to(x.device)
        diff = self.renderer.render_network(rec, self.codec, sh) - self.renderer.render_network(x, self.codec, sh)
        loss = diff.abs().mean()
        return loss, {"G/shaded_rec": float(loss.detach())}

    # ----------------------------------------------------------------------------------- generator
    def generator_phase(self, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, stats = self.cfg, {}
        out = self.G(b.x, b.target, b.fp, source_au=b.au, extra=b.target_extra, source_extra=b.extra)
        fake = out["out"]
        loss = fake.new_zeros(())
        d_fake = None
        if self.uses_discriminator:
            d_fake = self.D(fake, self.d_cond(b.target), b.target_extra)
            l_adv, s = g_adv_loss(cfg.adversarial, d_fake.score)
            loss = loss + cfg.w_adv * l_adv
            stats.update(s)
        if cfg.w_au > 0:
            if cfg.au_source in ("aunet", "both"):
                l_au, s = au_loss(cfg.au_loss, self.read_aus(fake), b.target, pred_is_logits=True)
                loss = loss + cfg.w_au * l_au
                stats.update({f"G/aunet_{k.split('/')[-1]}": v for k, v in s.items()})
            if cfg.au_source in ("disc", "both") and d_fake is not None and d_fake.au_pred is not None:
                l_au, s = au_loss(cfg.au_loss, d_fake.au_logits, b.target, pred_is_logits=True)
                loss = loss + cfg.w_au * l_au
                stats.update({f"G/dau_{k.split('/')[-1]}": v for k, v in s.items()})
        if self.D.has_local_patches and (cfg.w_patch_adv > 0 or cfg.w_patch_au > 0):
            l_patch, s = self._patch_generator_loss(fake, b)
            loss, _ = loss + l_patch, stats.update(s)
        rec = None
        if cfg.w_rec > 0:
            rec = self.G(b.x, b.au, b.fp, source_au=b.au, extra=b.extra)["out"]
            l_rec, s = reconstruction_loss(rec, b.x, b.mask)
            loss, _ = loss + cfg.w_rec * l_rec, stats.update(s)
        if cfg.w_shaded_rec > 0:
            if rec is None:
                rec = self.G(b.x, b.au, b.fp, source_au=b.au, extra=b.extra)["out"]
            l_sh, s = self.shaded_reconstruction(rec, b.x)
            loss, _ = loss + cfg.w_shaded_rec * l_sh, stats.update(s)
        if cfg.w_cycle > 0:
            back = self.G(fake, b.au, b.fp, source_au=b.target, extra=b.extra, source_extra=b.target_extra)["out"]
            l_cyc, s = cycle_loss(back, b.x, b.mask)
            loss, _ = loss + cfg.w_cycle * l_cyc, stats.update(s)
        if cfg.w_detail > 0:
            swapped = self.G.decode(self.G.encode(b.x_pair), b.au, b.fp, source=b.x_pair,
                                    source_au=b.au_pair, extra=b.extra, source_extra=b.extra_pair)["out"]
            l_det, s = detail_consistency_loss(swapped, b.x, b.mask)
            loss, _ = loss + cfg.w_detail * l_det, stats.update(s)
        if "attention" in out and (cfg.w_attention_mean > 0 or cfg.w_attention_tv > 0):
            l_att, s = attention_loss(out["attention"], cfg.w_attention_mean, cfg.w_attention_tv)
            loss, _ = loss + l_att, stats.update(s)
        if cfg.w_disp_reg > 0 and self.disp_channels is not None:
            l_reg, s = displacement_regularizer(fake[:, self.disp_channels] - b.x[:, self.disp_channels],
                                                cfg.w_disp_reg)
            loss, _ = loss + l_reg, stats.update(s)
        if cfg.w_locality > 0:
            union = edited_footprint_union(b.fp, b.au, b.target)
            l_loc, s = locality_loss(fake, b.x, union, cfg.w_locality)
            loss, _ = loss + l_loc, stats.update(s)
        stats["G/total"] = float(loss.detach())
        return loss, stats

    # ------------------------------------------------------------------------------- discriminator
    def discriminator_phase(self, b: Batch, step: int, gen: torch.Generator | None = None
                            ) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, stats = self.cfg, {}
        with torch.no_grad():
            fake = self.G(b.x, b.target, b.fp, source_au=b.au, extra=b.target_extra, source_extra=b.extra)["out"]
        lazy_r1 = cfg.r1_gamma > 0 and step % max(cfg.r1_every, 1) == 0
        real_in = b.x.detach().requires_grad_(lazy_r1)
        d_real = self.D(real_in, self.d_cond(b.au), b.extra)
        d_fake = self.D(fake, self.d_cond(b.target), b.target_extra)
        loss, s = d_adv_loss(cfg.adversarial, d_real.score, d_fake.score)
        loss = cfg.w_adv * loss
        stats.update(s)
        if cfg.w_d_mismatch > 0 and step >= cfg.mismatch_warmup:
            l_mis = fake_term(cfg.adversarial, self.D(b.x, self.d_cond(b.mismatch), b.extra).score,
                              vicinal_weight(b.au, b.mismatch, cfg.mismatch_sigma))
            loss = loss + cfg.w_d_mismatch * l_mis
            stats["D/mismatch"] = float(l_mis.detach())
        if cfg.w_d_au > 0 and d_real.au_pred is not None:
            l_au, s = au_loss(cfg.au_loss, d_real.au_logits, b.au, pred_is_logits=True)
            loss = loss + cfg.w_d_au * l_au
            stats.update({f"D/au_{k.split('/')[-1]}": v for k, v in s.items()})
        if cfg.gp_weight > 0:
            l_gp, s = gradient_penalty(lambda inp: self.D(inp, b.au, b.extra).score, b.x, fake, weight=cfg.gp_weight,
                                       generator=gen)
            loss, _ = loss + l_gp, stats.update(s)
        if lazy_r1:
            target = d_real.score if cfg.r1_on == "score" else d_real.unconditional
            if target is None:
                raise LossError(f"loss.r1_on=unconditional: discriminator {type(self.D).__name__} has no score "
                                "part that leaves the condition out; use loss.r1_on=score")
            l_r1, s = r1_penalty(target, real_in, cfg.r1_gamma)
            loss, _ = loss + l_r1 * cfg.r1_every, stats.update(s)
        if self.D.has_local_patches and (cfg.w_patch_adv > 0 or cfg.w_patch_au > 0):
            l_patch, s = self._patch_discriminator_loss(b, fake)
            loss, _ = loss + l_patch, stats.update(s)
        stats["D/total"] = float(loss.detach())
        return loss, stats

    # ----------------------------------------------------------------------- local patch discriminators
    def _patch_generator_loss(self, fake: torch.Tensor, b: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean over regions of the local discriminators' adversarial terms (x ``w_patch_adv``) and, with
        ``au_source`` disc/both, of their aux heads' AU terms on the region's AUs (x ``w_patch_au``)."""
        cfg, stats = self.cfg, {}
        local = self.D.local(fake, b.target, b.fp, b.target_extra)
        index = self.D.local_au_index
        loss = fake.new_zeros(())
        for region, d in local.items():
            if cfg.w_patch_adv > 0:
                l_adv, _ = g_adv_loss(cfg.adversarial, d.score)
                loss = loss + cfg.w_patch_adv * l_adv / len(local)
                stats[f"G/patch_{region}"] = float(l_adv.detach())
            if cfg.w_patch_au > 0 and cfg.au_source in ("disc", "both") and d.au_logits is not None:
                l_au, _ = au_loss(cfg.au_loss, d.au_logits, b.target[:, index[region]], pred_is_logits=True)
                loss = loss + cfg.w_patch_au * l_au / len(local)
                stats[f"G/patch_{region}_au"] = float(l_au.detach())
        return loss, stats

    def _patch_discriminator_loss(self, b: Batch, fake: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """Mean over regions of the local discriminators' real/fake terms (x ``w_patch_adv``) and of their aux
        heads' AU regression on real crops (x ``w_patch_au``)."""
        cfg, stats = self.cfg, {}
        real = self.D.local(b.x, b.au, b.fp, b.extra)
        fakes = self.D.local(fake, b.target, b.fp, b.target_extra) if cfg.w_patch_adv > 0 else {}
        index = self.D.local_au_index
        loss = b.x.new_zeros(())
        for region, d_real in real.items():
            if cfg.w_patch_adv > 0:
                l_adv, _ = d_adv_loss(cfg.adversarial, d_real.score, fakes[region].score)
                loss = loss + cfg.w_patch_adv * l_adv / len(real)
                stats[f"D/patch_{region}"] = float(l_adv.detach())
            if cfg.w_patch_au > 0 and d_real.au_logits is not None:
                l_au, _ = au_loss(cfg.au_loss, d_real.au_logits, b.au[:, index[region]], pred_is_logits=True)
                loss = loss + cfg.w_patch_au * l_au / len(real)
                stats[f"D/patch_{region}_au"] = float(l_au.detach())
        return loss, stats
