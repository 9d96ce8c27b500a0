"""Conditional discriminators over maps, one registry (:data:`DISCRIMINATORS`).

All share a PatchGAN trunk (``num_down`` 4x4 stride-2 convolutions with LeakyReLU, no normalisation, so
gradient penalties - WGAN-GP, R1 - can take double backward) giving features ``phi`` (B, F, h, w),
h = H / 2**num_down, and a 3x3 patch head ``psi``. They differ in how the condition ``c = [au, extra]``
enters:

==================  ============================================================================
``concat``          ``c`` tiled and concatenated to the maps (the existing ConditionalDiscriminator)
``projection``      per patch ``psi(phi) + <V c, phi>`` with a *linear* embedding ``V`` of continuous
                    intensities (Miyato & Koyama 2018)
``aux_regressor``   unconditional patch score + AU regression head (GANimation, StarGAN)
``projection_aux``  projection score + AU regression head
``cond_mlp``        per patch ``<W phi, MLP(c)> / sqrt(E)``: the condition through an MLP embedding and
                    no unconditional term (StyleGAN2-ADA's conditional D): every score depends on c
``cond_mlp_aux``    ``cond_mlp`` + AU regression head
``aux_match``       patch score ``psi(phi)`` minus ``g * mean_k (au_pred_k - c_k)^2``: the AUs are checked
                    against what the AU regression head reads (``g`` >= 0 learnt), so the score is as
                    AU-aware as the aux head is accurate; extra attributes by projection
==================  ============================================================================

The AU head is a linear layer over the flattened ``phi`` map (GANimation's full-size kernel); it returns
``au_logits`` and ``au_pred = sigmoid(au_logits)``, unit-scale intensities in 0..1 (x5 for 0..5).
``score`` is the mean of the patch scores; ``spectral_norm=True`` wraps every conv and linear layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from aucgan.nn.layers import (
    NetworkConfigError,
    act,
    channels,
    check_pyramid,
    check_shape,
    conv3x3,
    join_condition,
    sn,
    tile,
)
from aucgan.nn.registry import Registry

DISCRIMINATORS: Registry[type[nn.Module]] = Registry("discriminator")
#: Trunks: ``patchgan`` (num_down 4x4 stride-2 convs) | ``deep`` (a 3x3 stem at full resolution and a 3x3 conv
#: before every further downsampling, each followed by GroupNorm: fine detail such as 1-2 px wrinkles is read
#: before it is averaged away, and normalised features let the trunk read AU intensities at all - measured in
#: docs/findings.md; GroupNorm is per sample, so real and fake batches never mix and R1 / WGAN-GP stay valid).
TRUNKS = ("patchgan", "deep")
GROUPS = 4


def _group_norm(channels_: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(GROUPS, channels_), channels_)


@dataclass(frozen=True)
class DOutput:
    """A discriminator's verdict on a batch.

    ``score`` (B,): the adversarial score (mean over patches). ``patch`` (B, 1, h, w): per-patch scores.
    ``au_pred`` (B, K): unit-scale AU intensities from the aux head (sigmoid of ``au_logits``), or None.
    ``features`` (B, F): spatially averaged trunk features. ``au_logits`` (B, K): the aux head's raw output.
    ``unconditional`` (B,): the score's part that does not read the condition (``psi`` alone), or None where the
    condition enters the trunk (``concat``) or every score reads it (``cond_mlp``); R1 on it leaves the AU
    terms free (``loss.r1_on``).
    """

    score: Tensor
    patch: Tensor | None
    au_pred: Tensor | None
    features: Tensor
    au_logits: Tensor | None = None
    unconditional: Tensor | None = None


class PatchDiscriminator(nn.Module):
    """The shared trunk and heads; subclasses set ``condition`` (concat | projection | none) and ``aux``.

    ``has_local_patches``: part of every discriminator's interface (the loss phases read it). False here; a
    discriminator that also judges region crops sets it and offers ``local(x, au, footprints, extra)`` and
    ``local_au_index`` (:class:`aucgan.models.patch.GlobalLocalDiscriminator`).
    """

    condition: ClassVar[str] = "none"
    aux: ClassVar[bool] = False
    has_local_patches: ClassVar[bool] = False

    def __init__(self, in_channels: int, num_aus: int = 17, extra_dim: int = 0, base_channels: int = 32,
                 max_channels: int = 256, num_down: int = 4, spectral_norm: bool = False,
                 image_size: int = 64, trunk: str = "patchgan", ignore_extra: bool = False) -> None:
        super().__init__()
        if ignore_extra and extra_dim:
            raise NetworkConfigError(f"discriminator: ignore_extra drops the extra attributes, so extra_dim must be 0 "
                                     f"(got {extra_dim})")
        self.ignore_extra = ignore_extra
        if trunk not in TRUNKS:
            raise NetworkConfigError(f"unknown discriminator trunk {trunk!r}; valid: {', '.join(TRUNKS)}")
        self.bottom = check_pyramid(image_size, num_down, "discriminator")
        self.in_channels, self.num_aus, self.extra_dim = in_channels, num_aus, extra_dim
        self.cond_dim, self.image_size = num_aus + extra_dim, image_size
        cin = in_channels + (self.cond_dim if self.condition == "concat" else 0)
        layers: list[nn.Module] = []
        deep = trunk == "deep"
        if deep:                              # full-resolution stem: 1-2 px wrinkles seen before downsampling
            layers += [sn(conv3x3(cin, base_channels), spectral_norm), _group_norm(base_channels), act()]
            cin = base_channels
        for i in range(num_down):
            cout = channels(i, base_channels, max_channels)
            if deep and i > 0:
                layers += [sn(conv3x3(cin, cin), spectral_norm), _group_norm(cin), act()]
            layers += [sn(nn.Conv2d(cin, cout, 4, stride=2, padding=1), spectral_norm)]
            layers += [_group_norm(cout), act()] if deep else [act()]
            cin = cout
        self.trunk = nn.Sequential(*layers)
        self.feature_dim = cin
        self.psi = sn(conv3x3(cin, 1), spectral_norm) if self.condition != "mlp" else None
        self.embed = (sn(nn.Linear(self.cond_dim, cin, bias=False), spectral_norm)
                      if self.condition == "projection" else None)
        if self.condition == "aux_match":
            self.match_gain = nn.Parameter(torch.zeros(()))     # g = softplus(.) * 10, about 6.9 at the start
            self.embed = (sn(nn.Linear(extra_dim, cin, bias=False), spectral_norm) if extra_dim else None)
        if self.condition == "mlp":
            dim = max(cin, 64)
            self.cmap = nn.Sequential(sn(nn.Linear(self.cond_dim, dim), spectral_norm), act(),
                                      sn(nn.Linear(dim, dim), spectral_norm))
            self.to_cmap = sn(nn.Conv2d(cin, dim, 1), spectral_norm)
            self.cmap_scale = dim ** -0.5
        self.au_head = (sn(nn.Linear(cin * self.bottom ** 2, num_aus), spectral_norm) if self.aux else None)

    def forward(self, x: Tensor, au: Tensor, extra: Tensor | None = None) -> DOutput:
        name = f"discriminator {type(self).__name__}"
        if self.ignore_extra:             # built to check the AUs only: the data's extra attributes are not shown
            extra = None
        check_shape(x, (None, self.in_channels, self.image_size, self.image_size), f"{name}: maps x")
        c = join_condition(au, extra, self.num_aus, self.extra_dim, x.shape[0], name).to(x.dtype)
        if self.condition == "concat":
            x = torch.cat([x, tile(c, x.shape[-2:])], dim=1)
        phi = self.trunk(x)
        if self.condition == "mlp":
            patch = (self.to_cmap(phi) * self.cmap(c)[:, :, None, None]).sum(dim=1, keepdim=True) * self.cmap_scale
        else:
            patch = self.psi(phi)
        unconditional = patch.mean(dim=(1, 2, 3)) if self.condition not in ("mlp", "concat") else None
        if self.embed is not None:           # projection of the condition (aux_match: of the extra attributes)
            cond = c[:, self.num_aus:] if self.condition == "aux_match" else c
            patch = patch + (self.embed(cond)[:, :, None, None] * phi).sum(dim=1, keepdim=True)
        logits = self.au_head(phi.flatten(1)) if self.au_head is not None else None
        if self.condition == "aux_match":
            gain = 10.0 * nn.functional.softplus(self.match_gain)
            mismatch = (torch.sigmoid(logits) - c[:, : self.num_aus]).pow(2).mean(dim=1)
            patch = patch - (gain * mismatch)[:, None, None, None]
        return DOutput(score=patch.mean(dim=(1, 2, 3)), patch=patch,
                       au_pred=None if logits is None else torch.sigmoid(logits),
                       features=phi.mean(dim=(2, 3)), au_logits=logits, unconditional=unconditional)


@DISCRIMINATORS.register("concat")
class ConcatDiscriminator(PatchDiscriminator):
    """The condition tiled into constant channels concatenated to the maps (the existing design)."""

    condition = "concat"


@DISCRIMINATORS.register("projection")
class ProjectionDiscriminator(PatchDiscriminator):
    """Projection discriminator (Miyato & Koyama 2018) with a linear embedding of continuous intensities."""

    condition = "projection"


@DISCRIMINATORS.register("aux_regressor")
class AuxRegressorDiscriminator(PatchDiscriminator):
    """Unconditional PatchGAN score plus an AU regression head (GANimation, StarGAN)."""

    aux = True


@DISCRIMINATORS.register("projection_aux")
class ProjectionAuxDiscriminator(PatchDiscriminator):
    """Projection score plus an AU regression head."""

    condition = "projection"
    aux = True


@DISCRIMINATORS.register("cond_mlp")
class CondMLPDiscriminator(PatchDiscriminator):
    """Projection onto an MLP embedding of the condition with no unconditional term (StyleGAN2-ADA): the
    score cannot ignore the AUs, so real maps under mismatched AUs are separable from matched ones."""

    condition = "mlp"


@DISCRIMINATORS.register("cond_mlp_aux")
class CondMLPAuxDiscriminator(PatchDiscriminator):
    """``cond_mlp`` plus an AU regression head."""

    condition = "mlp"
    aux = True


@DISCRIMINATORS.register("aux_match")
class AuxMatchDiscriminator(PatchDiscriminator):
    """Unconditional patch score minus the (learnt-scale) squared distance between the condition and what the AU
    regression head reads: matched real pairs score above mismatched ones as far as the aux head reads AUs."""

    condition = "aux_match"
    aux = True


def build_discriminator(name: str, in_channels: int, num_aus: int = 17, extra_dim: int = 0,
                        base_channels: int = 32, max_channels: int = 256, num_down: int = 4,
                        spectral_norm: bool = False, image_size: int = 64, trunk: str = "patchgan",
                        ignore_extra: bool = False) -> PatchDiscriminator:
    """The discriminator registered as ``name`` (an unknown name raises an error listing the valid ones).
    ``ignore_extra``: called with the data's extra attributes, it does not read them (``extra_dim`` must be 0)."""
    cls = DISCRIMINATORS.get(name)
    return cls(in_channels, num_aus=num_aus, extra_dim=extra_dim, base_channels=base_channels,
               max_channels=max_channels, num_down=num_down, spectral_norm=spectral_norm,
               image_size=image_size, trunk=trunk, ignore_extra=ignore_extra)
