"""Configs -> the decomposed generator, renderers and shaded AU estimators (see :mod:`aucgan.models.decomposed`
and :mod:`aucgan.models.shaded`)."""

from __future__ import annotations

from aucgan.au import au_set
from aucgan.data.codec import MapCodec
from aucgan.models.aunet import AUNet
from aucgan.models.decomposed import DecomposedGenerator
from aucgan.models.generator import MapGenerator
from aucgan.models.shaded import ShadedAUNet
from aucgan.render.sh import LIGHTING_PRESETS
from aucgan.render.shaded import Renderer
from aucgan.training.config import AUNetConfig, ConfigError, RenderConfig, TrainConfig

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
