"""Turn configs into objects: networks, codecs and renderers (the decomposed generator and shaded AU estimators
of :mod:`aucgan.models.decomposed` and :mod:`aucgan.models.shaded` included); loading trained ones back is
:mod:`aucgan.runs`."""

from __future__ import annotations

import torch

from aucgan.au import au_set
from aucgan.config.schema import AUNetConfig, ConfigError, DataConfig, RenderConfig, TrainConfig
from aucgan.data.codec import MapCodec
from aucgan.data.conditions import EXPRESSION_ATTRS, extra_dim, extra_slices
from aucgan.errors import AucganError
from aucgan.models.aunet import AUNet
from aucgan.models.decomposed import DecomposedGenerator
from aucgan.models.discriminator import build_discriminator
from aucgan.models.generator import MapGenerator
from aucgan.models.patch import GlobalLocalDiscriminator, LocalDiscriminators
from aucgan.models.regional import RegionalGenerator
from aucgan.models.sean import RegionStyleGenerator
from aucgan.models.shaded import ShadedAUNet
from aucgan.render.sh import LIGHTING_PRESETS
from aucgan.render.shaded import Renderer

AUNET_INPUTS = ("maps", "shaded")


def make_renderer(cfg: RenderConfig) -> Renderer:
    """The :class:`Renderer` of a render config (lighting checked: ``random`` or a preset name)."""
    if cfg.lighting != "random" and cfg.lighting not in LIGHTING_PRESETS:
        raise ConfigError(f"render.lighting {cfg.lighting!r} unknown; valid: random, {', '.join(LIGHTING_PRESETS)}")
    if cfg.normal_strength <= 0 or cfg.cavity_strength < 0 or cfg.cavity_radius <= 0:
        raise ConfigError("render: normal_strength and cavity_radius must be > 0, cavity_strength >= 0")
    return Renderer(normal_strength=cfg.normal_strength, cavity_strength=cfg.cavity_strength,
                    cavity_radius=cfg.cavity_radius)


def check_shaded_codec(codec: MapCodec, what: str) -> None:
    """Shaded renders need albedo and displacement in the maps."""
    if "albedo" not in codec.maps or "displacement" not in codec.maps:
        raise ConfigError(f"{what} renders albedo x shading(displacement): data.maps must hold both, got "
                          f"{list(codec.maps)}")


def aunet_channels(a: AUNetConfig, codec: MapCodec) -> int:
    """Input channels of the AUNet itself: 3 for renders, the codec's channels for maps."""
    if a.input not in AUNET_INPUTS:
        raise ConfigError(f"aunet.input {a.input!r} unknown; valid: {', '.join(AUNET_INPUTS)}")
    return 3 if a.input == "shaded" else codec.channels


def wrap_aunet(net: AUNet, a: AUNetConfig, codec: MapCodec, render: RenderConfig | None) -> AUNet | ShadedAUNet:
    """``net`` as configured: unchanged for ``aunet.input: maps``, inside a :class:`ShadedAUNet` for ``shaded``."""
    aunet_channels(a, codec)
    if a.input != "shaded":
        return net
    check_shaded_codec(codec, "aunet.input=shaded")
    render = render or RenderConfig()
    return ShadedAUNet(net, codec, make_renderer(render), lighting=render.lighting)


def build_decomposed(cfg: TrainConfig, codec: MapCodec, extra_dim: int) -> DecomposedGenerator:
    """The decomposed generator of ``cfg`` (``generator.variant: decomposed``)."""
    g, d = cfg.generator, cfg.generator.decomposed
    if d is None:
        raise ConfigError(f"build_decomposed: generator.variant is {g.variant!r}, not 'decomposed'")
    au_names = au_set(cfg.data.au_set)
    check_shaded_codec(codec, "generator.variant=decomposed")
    if set(codec.maps) != {"albedo", "displacement"}:
        raise ConfigError(f"generator.variant=decomposed splits albedo and displacement; data.maps must be exactly "
                          f"those, got {list(codec.maps)}")
    sl = codec.slices()
    geometry = MapGenerator(
        in_channels=codec.channels, out_channels=1, num_aus=len(au_names), extra_dim=0,
        conditioning=list(g.conditioning), base_channels=g.base_channels, max_channels=g.max_channels,
        num_down=g.num_down, architecture=g.architecture, latent_dim=g.latent_dim,
        cond_levels=None if g.cond_levels is None else list(g.cond_levels), head=g.head, image_size=cfg.data.size,
        cond_hidden=g.cond_hidden, au_mode=g.au_mode)
    appearance = MapGenerator(
        in_channels=codec.channels, out_channels=3, num_aus=max(1, len(d.albedo_aus)), extra_dim=extra_dim,
        conditioning=list(d.albedo_conditioning), base_channels=d.albedo_channels,
        max_channels=max(d.albedo_channels, g.max_channels // 2), num_down=g.num_down, architecture="skip",
        head="direct", image_size=cfg.data.size, cond_hidden=g.cond_hidden)
    return DecomposedGenerator(geometry, appearance, au_names, sl["displacement"], sl["albedo"],
                               albedo_aus=d.albedo_aus)


def make_codec(data: DataConfig) -> MapCodec:
    return MapCodec(maps=tuple(data.maps), disp_scale=data.disp_scale)


def residual_indices(extra_attrs, names=EXPRESSION_ATTRS) -> list[int]:
    """Positions in the ``extra`` vector of the attributes ``names`` among ``extra_attrs`` (by default the
    expression attributes: those whose change adds residual maps with ``generator.expression_residuals``)."""
    slices = extra_slices(extra_attrs)
    return [i for name in names if name in slices for i in range(slices[name].start, slices[name].stop)]


#: The maps attribute residuals (``generator.expression_residuals``) may change: colour, not geometry (flush follows the
#: emotion, wrinkles the AUs; DESIGN.md section 2).
COLOUR_MAPS = ("albedo", "image")


def colour_channels(codec: MapCodec) -> list[int]:
    """The network channels of the codec's colour maps; an error when it has none."""
    slices = codec.slices()
    chs = [i for name in COLOUR_MAPS if name in slices for i in range(slices[name].start, slices[name].stop)]
    if not chs:
        raise ConfigError(f"generator.expression_residuals change colour maps ({', '.join(COLOUR_MAPS)}); data.maps "
                          f"{list(codec.maps)} has none")
    return chs


def build_generator(cfg: TrainConfig) -> torch.nn.Module:
    """The configured generator (``generator.variant``): a :class:`MapGenerator` (``map``), wrapped with local
    branches (``regional``, :class:`~aucgan.models.regional.RegionalGenerator`) or per-region style codes
    (``sean``, :class:`~aucgan.models.sean.RegionStyleGenerator`), or geometry + appearance heads
    (``decomposed``, :func:`build_decomposed`)."""
    codec, g = make_codec(cfg.data), cfg.generator
    au_names = au_set(cfg.data.au_set)
    try:
        dim = extra_dim(g.extra_attrs)
    except AucganError as exc:
        raise ConfigError(str(exc)) from None
    if g.decomposed is not None:
        return build_decomposed(cfg, codec, dim)
    G = MapGenerator(
        in_channels=codec.channels, out_channels=codec.channels, num_aus=len(au_names),
        extra_dim=dim, conditioning=list(g.conditioning), base_channels=g.base_channels,
        max_channels=g.max_channels, num_down=g.num_down, architecture=g.architecture, latent_dim=g.latent_dim,
        cond_levels=None if g.cond_levels is None else list(g.cond_levels), head=g.head, image_size=cfg.data.size,
        cond_hidden=g.cond_hidden, au_mode=g.au_mode, landmark_heatmaps="landmarks" in g.extra_attrs,
        residual_extra=residual_indices(g.extra_attrs) if g.expression_residuals else (),
        residual_extra_channels=colour_channels(codec) if g.expression_residuals else None,
        residual_mask=g.residual_mask, residual_flow=g.residual_flow, flow_grow=g.flow_grow,
    )
    if g.regional is not None:
        r = g.regional
        return RegionalGenerator(G, au_names, regions=r.regions, local_channels=r.channels,
                                 local_num_down=r.num_down, local_conditioning=list(r.conditioning),
                                 cascade_steps=r.cascade_steps)
    if g.sean is not None:
        return RegionStyleGenerator(G, au_names, style_dim=g.sean.style_dim,
                                    style_levels=None if g.sean.style_levels is None else list(g.sean.style_levels))
    return G


def build_disc(cfg: TrainConfig) -> torch.nn.Module:
    """The configured discriminator; with ``discriminator.patch_regions`` a
    :class:`~aucgan.models.patch.GlobalLocalDiscriminator` (global + local patch discriminators)."""
    codec, d = make_codec(cfg.data), cfg.discriminator
    au_names = au_set(cfg.data.au_set)
    dim = extra_dim(cfg.generator.extra_attrs)
    D = build_discriminator(
        d.kind, in_channels=codec.channels, num_aus=len(au_names),
        extra_dim=dim if d.extras else 0, base_channels=d.base_channels, max_channels=d.max_channels,
        num_down=d.num_down, spectral_norm=d.spectral_norm, image_size=cfg.data.size, trunk=d.trunk,
        ignore_extra=not d.extras and dim > 0,
    )
    if not d.patch_regions:
        return D
    patches = LocalDiscriminators(d.patch_kind or d.kind, codec.channels, au_names, d.patch_regions, extra_dim=dim,
                                  patch_size=d.patch_size, base_channels=d.base_channels,
                                  max_channels=d.max_channels, num_down=d.patch_num_down,
                                  spectral_norm=d.spectral_norm)
    return GlobalLocalDiscriminator(D, patches)


def build_aunet(a: AUNetConfig, data: DataConfig, render: RenderConfig | None = None) -> torch.nn.Module:
    """The AU estimator; with ``aunet.input: shaded`` wrapped to read SH-lit renders of the maps."""
    codec = make_codec(data)
    net = AUNet(in_channels=aunet_channels(a, codec), num_aus=len(au_set(data.au_set)),
                base_channels=a.base_channels, depth=a.depth, arch=a.arch)
    return wrap_aunet(net, a, codec, render)
