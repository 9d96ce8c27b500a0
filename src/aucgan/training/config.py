"""Training configuration: frozen dataclasses, YAML presets and ``key=value`` overrides.

A preset is a YAML file holding a partial tree of :class:`TrainConfig` fields; anything it does not
name keeps the dataclass default. Presets live in ``aucgan/configs/`` (installed with the package) and
are chosen by name (``baseline``) or by path. Unknown presets or keys are errors listing valid names.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aucgan.errors import AucganError


class ConfigError(AucganError, ValueError):
    """A preset, key or value that does not fit the configuration schema."""


@dataclass(frozen=True)
class DataConfig:
    """What the model reads and how edit targets are drawn."""

    maps: tuple[str, ...] = ("displacement", "albedo")
    size: int = 64
    au_set: str = "openface17"
    disp_scale: float = 0.02          # displacement divided by this enters the networks (about [-1, 1])
    target_mode: str = "mixed"        # shuffle (AUs of another sample) | prototype | mixed
    prototype_prob: float = 0.3       # with "mixed": share of targets drawn from emotion prototypes
    target_noise: float = 0.1         # GANimation-style noise on target AUs, in unit (0..1) scale
    batch_size: int = 16
    preload: bool = True
    pair_identity: bool = True        # draw a second sample of the same identity (detail consistency)


@dataclass(frozen=True)
class GeneratorConfig:
    """The map generator (see :class:`aucgan.models.generator.MapGenerator`)."""

    conditioning: tuple[str, ...] = ("adain",)
    architecture: str = "skip"        # skip (U-Net) | bottleneck (DECA-like detail code)
    base_channels: int = 32
    max_channels: int = 256
    num_down: int = 3
    latent_dim: int = 128
    cond_levels: tuple[int, ...] | None = None
    head: str = "direct"              # direct | attention (GANimation colour + attention) | au_residual
    au_mode: str = "absolute"         # absolute (target AUs) | relative (target - source AUs, Ling et al. 2020)
    cond_hidden: int | None = None    # hidden width of the conditioning layers' MLP/conv (None: layer default)
    extra_attrs: tuple[str, ...] = ()   # age gender emotion valence landmarks (aucgan.training.extras)
    local_regions: tuple[str, ...] = ()  # Cascade EF-GAN local branches: brows eyes nose mouth (() = none)
    local_channels: int = 16          # base width of each local branch
    local_num_down: int = 2
    local_conditioning: tuple[str, ...] = ("adain",)
    cascade_steps: int = 1            # a large AU change applied as this many smaller steps (local branches)
    region_styles: bool = False       # SEAN per-region style codes (aucgan.models.sean)
    style_dim: int = 32
    style_levels: tuple[int, ...] | None = None  # decoder levels the region codes modulate (None: finest)
    decomposed: bool = False          # geometry head (displacement <- AUs) + appearance head (albedo <- extra_attrs
    #                                   and albedo_aus), aucgan.models.decomposed
    albedo_aus: tuple[str, ...] = ("AU05", "AU07", "AU25", "AU26", "AU45")  # AUs the appearance head also sees
    albedo_channels: int = 16         # base width of the appearance head
    albedo_conditioning: tuple[str, ...] = ("adain",)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The conditional discriminator (see :mod:`aucgan.models.discriminator`)."""

    kind: str = "projection_aux"
    base_channels: int = 32
    max_channels: int = 256
    num_down: int = 4
    spectral_norm: bool = False
    patch_regions: tuple[str, ...] = ()  # local patch discriminators on region crops (brows eyes nose mouth)
    patch_kind: str | None = None     # their conditioning kind (None: the global kind)
    patch_size: int = 32              # crop size in pixels
    patch_num_down: int = 3


@dataclass(frozen=True)
class AUNetConfig:
    """The AU estimator: its architecture for ``train-au`` and the frozen one used by the AU loss."""

    arch: str = "cnn"
    base_channels: int = 32
    depth: int = 4
    checkpoint: str | None = None     # an AUNet run dir (``aucgan train-au``) for the AU-consistency loss
    input: str = "maps"               # maps (the stacked map tensor) | shaded (SH-lit renders, random lighting)


@dataclass(frozen=True)
class RenderConfig:
    """Shaded renders (:class:`aucgan.render.shaded.Renderer`) for losses and AU estimators on renders."""

    normal_strength: float = 1.0      # slope multiplier of displacement -> normals (1 = geometric)
    cavity_strength: float = 0.0      # cavity / ambient occlusion (0 = off)
    cavity_radius: float = 0.01       # layout units
    lighting: str = "random"          # random (seeded, plausible) | a preset name (aucgan.render.sh)


@dataclass(frozen=True)
class LossConfig:
    """Loss kinds and weights. A weight of 0 switches a term off."""

    adversarial: str = "hinge"        # wgan | hinge | nsgan
    w_adv: float = 1.0
    gp_weight: float = 0.0            # WGAN-GP weight
    r1_gamma: float = 0.0             # R1 weight (lazy: applied every r1_every D steps, scaled by r1_every)
    r1_every: int = 16
    au_loss: str = "mse"              # bce (AU "features" as probabilities) | mse | l1
    au_source: str = "aunet"          # aunet (frozen estimator) | disc (discriminator aux head) | both
    w_au: float = 1.0
    w_d_au: float = 1.0               # aux head regression on real maps (discriminator update)
    w_d_mismatch: float = 0.0         # real maps with another sample's AUs scored as fake (matching-aware D)
    w_rec: float = 10.0               # G(x, au_x) ~ x
    w_cycle: float = 0.0              # G(G(x, a), au_x) ~ x
    w_detail: float = 0.0             # DECA detail consistency (swap codes within an identity)
    w_attention_mean: float = 0.0
    w_attention_tv: float = 0.0
    w_disp_reg: float = 0.0
    w_locality: float = 0.0
    w_patch_adv: float = 1.0          # adversarial terms of the local patch discriminators (if any)
    w_patch_au: float = 1.0           # their aux-head AU terms (G: with au_source disc/both; D: on real crops)
    w_shaded_rec: float = 0.0         # G(x, au_x) ~ x on shaded renders under random lighting (render config)
    n_critic: int = 1                 # discriminator steps per generator step


@dataclass(frozen=True)
class OptimConfig:
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: float = 0.5          # linear decay of the learning rates to 0 from this fraction of the run
    ema_decay: float = 0.999
    ema_rampup: float = 0.05          # EMA half-life grows as this share of the steps so far (StyleGAN2-ADA)
    # speed settings (measured in docs/performance.md); none changes the model or the loss
    adam_impl: str = "fused"          # fused | foreach | single | auto (torch's default for the device)
    channels_last: bool = False       # NHWC batches (activations follow; weights stay NCHW)
    compile: bool = False             # torch.compile (inductor) the generator's forward passes


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides the data path and the run directory."""

    name: str = "run"
    seed: int = 0
    steps: int = 2000
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 500
    keep_ckpts: int = 3
    device: str = "auto"              # auto | cpu | cuda
    threads: int = 0                  # torch intra-op threads on CPU (0 = torch default)
    tensorboard: bool = True
    data: DataConfig = field(default_factory=DataConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    aunet: AUNetConfig = field(default_factory=AUNetConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    render: RenderConfig = field(default_factory=RenderConfig)


@dataclass(frozen=True)
class AUNetTrainConfig:
    """``aucgan train-au``: an AU estimator trained on maps."""

    name: str = "aunet"
    seed: int = 0
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    log_every: int = 50
    device: str = "auto"
    threads: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    aunet: AUNetConfig = field(default_factory=AUNetConfig)
    render: RenderConfig = field(default_factory=RenderConfig)   # with aunet.input=shaded


# --------------------------------------------------------------------------------------------- presets

def preset_names() -> list[str]:
    """Names of the presets shipped with aucgan."""
    root = resources.files("aucgan") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_preset(preset: str) -> tuple[dict, str]:
    path = Path(preset)
    if preset.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"no such config file: {preset}")
        text, where = path.read_text(), str(path)
    else:
        res = resources.files("aucgan") / "configs" / f"{preset}.yaml"
        if not res.is_file():
            raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(preset_names())} "
                              "(or a path to a YAML file)")
        text, where = res.read_text(), f"preset {preset}"
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of config keys")
    return data, where


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"loss.w_au=3"`` -> (["loss", "w_au"], 3); values are YAML (lists as ``[a,b]``)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key=value (e.g. loss.w_au=2)")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return [k for k in key.strip().split(".") if k], value


def load_config(preset: str, overrides: list[str] | tuple[str, ...] = (), schema: type = TrainConfig):
    """Load a preset (name or YAML path) with ``key=value`` overrides into a frozen ``schema`` instance."""
    data, where = _read_preset(preset)
    base_name = data.pop("extends", None)
    if base_name is not None:
        base, _ = _read_preset(str(base_name))
        base.pop("extends", None)
        data = _deep_merge(base, data)
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return from_dict(schema, data, where)


def from_dict(cls: type, data: dict, where: str = "config"):
    """Build dataclass ``cls`` from a nested dict, checking keys and coercing values to the field types."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)} in {cls.__name__}; "
                          f"valid keys: {', '.join(sorted(valid))}")
    kwargs = {k: _coerce(hints[k], v, f"{where}: {k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp)
        return tuple(_coerce(item_tp, v, where) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{where}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def to_dict(config: Any) -> dict:
    """A JSON-ready dict of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def replace_path(config: Any, key: str, value: Any) -> Any:
    """A copy of a nested frozen config with ``key`` ("loss.w_au") set to ``value`` (type-checked)."""
    head, _, rest = key.partition(".")
    names = {f.name for f in dataclasses.fields(config)}
    if head not in names:
        raise ConfigError(f"unknown key {head!r} in {type(config).__name__}; valid keys: {', '.join(sorted(names))}")
    if rest:
        return dataclasses.replace(config, **{head: replace_path(getattr(config, head), rest, value)})
    hints = typing.get_type_hints(type(config))
    return dataclasses.replace(config, **{head: _coerce(hints[head], value, key)})
