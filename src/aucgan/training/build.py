"""Turn configs into objects: networks, codecs, data, and trained models loaded back from run dirs."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from aucgan.au import au_set
from aucgan.data.codec import MapCodec
from aucgan.errors import AucganError
from aucgan.models.aunet import AUNet
from aucgan.models.discriminator import build_discriminator
from aucgan.models.generator import MapGenerator
from aucgan.models.patch import GlobalLocalDiscriminator, LocalDiscriminators
from aucgan.models.regional import RegionalGenerator
from aucgan.models.sean import RegionStyleGenerator
from aucgan.training.config import (
    AUNetConfig,
    AUNetTrainConfig,
    ConfigError,
    DataConfig,
    RenderConfig,
    TrainConfig,
    from_dict,
)
from aucgan.training.decomposed import aunet_channels, build_decomposed, wrap_aunet
from aucgan.training.extras import extra_dim


def pick_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AucganError(f"device {name!r} asked for but CUDA is not available")
    return torch.device(name)


def make_codec(data: DataConfig) -> MapCodec:
    return MapCodec(maps=tuple(data.maps), disp_scale=data.disp_scale)


def build_generator(cfg: TrainConfig) -> torch.nn.Module:
    """The configured generator: a :class:`MapGenerator`, wrapped with local branches
    (``generator.local_regions``, :class:`~aucgan.models.regional.RegionalGenerator`) or per-region style
    codes (``generator.region_styles``, :class:`~aucgan.models.sean.RegionStyleGenerator`)."""
    codec, g = make_codec(cfg.data), cfg.generator
    au_names = au_set(cfg.data.au_set)
    try:
        dim = extra_dim(g.extra_attrs)
    except AucganError as exc:
        raise ConfigError(str(exc)) from None
    if g.local_regions and g.region_styles:
        raise ConfigError("generator: local_regions (local branches) and region_styles (SEAN) are separate "
                          "designs; choose one")
    if g.cascade_steps != 1 and not g.local_regions:
        raise ConfigError("generator.cascade_steps applies to the local-branch generator: set "
                          "generator.local_regions too")
    if g.decomposed:
        if g.local_regions or g.region_styles:
            raise ConfigError("generator.decomposed does not combine with local_regions or region_styles")
        return build_decomposed(cfg, codec, dim)
    G = MapGenerator(
        in_channels=codec.channels, out_channels=codec.channels, num_aus=len(au_names),
        extra_dim=dim, conditioning=list(g.conditioning), base_channels=g.base_channels,
        max_channels=g.max_channels, num_down=g.num_down, architecture=g.architecture, latent_dim=g.latent_dim,
        cond_levels=None if g.cond_levels is None else list(g.cond_levels), head=g.head, image_size=cfg.data.size,
        cond_hidden=g.cond_hidden, au_mode=g.au_mode, landmark_heatmaps="landmarks" in g.extra_attrs,
    )
    if g.local_regions:
        return RegionalGenerator(G, au_names, regions=g.local_regions, local_channels=g.local_channels,
                                 local_num_down=g.local_num_down, local_conditioning=list(g.local_conditioning),
                                 cascade_steps=g.cascade_steps)
    if g.region_styles:
        return RegionStyleGenerator(G, au_names, style_dim=g.style_dim,
                                    style_levels=None if g.style_levels is None else list(g.style_levels))
    return G


def build_disc(cfg: TrainConfig) -> torch.nn.Module:
    """The configured discriminator; with ``discriminator.patch_regions`` a
    :class:`~aucgan.models.patch.GlobalLocalDiscriminator` (global + local patch discriminators)."""
    codec, d = make_codec(cfg.data), cfg.discriminator
    au_names = au_set(cfg.data.au_set)
    dim = extra_dim(cfg.generator.extra_attrs)
    D = build_discriminator(
        d.kind, in_channels=codec.channels, num_aus=len(au_names),
        extra_dim=dim, base_channels=d.base_channels, max_channels=d.max_channels,
        num_down=d.num_down, spectral_norm=d.spectral_norm, image_size=cfg.data.size,
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


# ----------------------------------------------------------------------------------- loading back

def _read_json(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise AucganError(f"{path.parent}: not an aucgan {what} (no {path.name})") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise AucganError(f"{path}: unreadable ({exc})") from None


def load_aunet(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[AUNet, AUNetTrainConfig]:
    """Load a frozen AU estimator written by ``aucgan train-au`` (safetensors + JSON, no pickle)."""
    run_dir = Path(run_dir)
    cfg = from_dict(AUNetTrainConfig, _read_json(run_dir / "config.json", "AU estimator run"), str(run_dir))
    net = build_aunet(cfg.aunet, cfg.data, cfg.render)
    weights = run_dir / "aunet.safetensors"
    if not weights.is_file():
        raise AucganError(f"{run_dir}: no aunet.safetensors (did `aucgan train-au` finish?)")
    _load_state(net, load_file(str(weights)), weights)
    net.to(device).eval().requires_grad_(False)
    return net, cfg


def _load_from_checkpoint(run_dir: Path, which: str, module: torch.nn.Module) -> int:
    """Load ``<which>.safetensors`` of the run's latest checkpoint into ``module``; return the step."""
    from aucgan.training.checkpoint import latest_checkpoint

    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        raise AucganError(f"{run_dir}: the run has no checkpoint yet")
    weights = Path(ckpt) / f"{which}.safetensors"
    if not weights.is_file():
        raise AucganError(f"{ckpt}: no {weights.name}")
    _load_state(module, load_file(str(weights)), weights)
    return int(_read_json(Path(ckpt) / "meta.json", "checkpoint").get("step", 0))


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The resolved config a training run wrote before it started."""
    run_dir = Path(run_dir)
    return from_dict(TrainConfig, _read_json(run_dir / "config.json", "training run"), str(run_dir))


def load_generator(run_dir: str | Path, device: torch.device | str = "cpu", which: str = "G_ema"
                   ) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The generator (EMA by default) of the latest checkpoint of a training run, its config and step."""
    cfg = load_run_config(run_dir)
    G = build_generator(cfg)
    step = _load_from_checkpoint(Path(run_dir), which, G)
    return G.to(device).eval().requires_grad_(False), cfg, step


def load_discriminator(run_dir: str | Path, device: torch.device | str = "cpu"
                       ) -> tuple[torch.nn.Module, TrainConfig, int]:
    """The discriminator of the latest checkpoint of a training run, frozen, with its config and step."""
    cfg = load_run_config(run_dir)
    D = build_disc(cfg)
    step = _load_from_checkpoint(Path(run_dir), "D", D)
    return D.to(device).eval().requires_grad_(False), cfg, step


def _load_state(module: torch.nn.Module, state: dict, where: Path) -> None:
    try:
        missing, unexpected = module.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise AucganError(f"{where}: weights do not fit the configured network ({str(exc).splitlines()[0]})") from None
    if missing or unexpected:
        raise AucganError(f"{where}: weights do not fit the configured network "
                          f"(missing: {list(missing)[:5]}, unexpected: {list(unexpected)[:5]})")
