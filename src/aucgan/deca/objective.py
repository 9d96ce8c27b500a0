"""The DECA trainer's objective: the generator and discriminator phases on a :class:`~aucgan.deca.batches.DecaBatch`
(the terms are listed in :mod:`aucgan.deca.train`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from aucgan.au import to_unit
from aucgan.deca.batches import DecaBatch
from aucgan.deca.config import DecaTrainConfig
from aucgan.deca.decoder import DetailDecoder
from aucgan.deca.losses import blendshape_sparsity, z_diff, z_reg, z_sym
from aucgan.errors import AucganError
from aucgan.losses.adversarial import d_adv_loss, fake_term, g_adv_loss, r1_penalty
from aucgan.losses.au_consistency import au_loss
from aucgan.losses.reconstruction import detail_consistency_loss, masked_distance, reconstruction_loss


@dataclass
class DecaObjective:
    """The loss phases (no weights or optimisers of its own); ``D`` and ``aunet`` may be None. ``mask`` (1, 1, S, S)
    is DECA's face mask at the decoder's size: DECA discards uv_z outside it, so the reconstruction and ``z_reg``
    count only inside it (None: everywhere)."""

    dec: DetailDecoder
    D: nn.Module | None
    aunet: nn.Module | None
    aunet_scale: float
    cfg: DecaTrainConfig
    mask: Tensor | None = None

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
            add(lc.w_rec, reconstruction_loss(self.units(rec), self.units(b.uv), self.mask))
        if lc.w_detail > 0:
            keep = b.has_partner
            if bool(keep.any()):
                swapped = self._decode(b.swapped[keep], b.au[keep], b.au[keep])
                add(lc.w_detail, detail_consistency_loss(self.units(swapped), self.units(b.uv[keep])))
        keep = b.has_partner
        if (lc.w_cross > 0 or lc.w_edit > 0) and bool(keep.any()):
            crossed = self._decode(b.partner[keep], b.au[keep], b.partner_au[keep])
            if lc.w_cross > 0:
                loss = masked_distance(self.units(crossed), self.units(b.uv[keep]), self.mask, "l1",
                                       "cross-expression consistency")
                add(lc.w_cross, (loss, {"G/cross": float(loss.detach())}))
            if lc.w_edit > 0:
                own = self._decode(b.partner[keep], b.partner_au[keep], b.partner_au[keep])
                loss = masked_distance(self.units(crossed - own), self.units(b.uv[keep] - b.partner_uv[keep]),
                                       self.mask, "l1", "paired edit consistency")
                add(lc.w_edit, (loss, {"G/edit": float(loss.detach())}))
        if lc.w_z_reg > 0:
            add(lc.w_z_reg, z_reg(rec, self.mask))
        if lc.w_z_diff > 0:
            add(lc.w_z_diff, z_diff(rec, lc.uv_extent_m))
        if lc.w_z_sym > 0:
            add(lc.w_z_sym, z_sym(rec))
        blendshapes = getattr(self.dec, "blendshapes", None)
        if lc.w_blendshape_l1 > 0 and blendshapes is not None:
            add(lc.w_blendshape_l1, blendshape_sparsity(blendshapes))
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
