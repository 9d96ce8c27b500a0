"""Training configuration: frozen dataclasses, YAML presets and ``key=value`` overrides.

A preset is a YAML file holding a partial tree of :class:`TrainConfig` fields; anything it does not
name keeps the dataclass default. Presets live in ``aucgan/configs/`` (installed with the package), are
chosen by name (``baseline``) or by path, and may ``extends:`` another preset (recursively). Everything
is checked when a config is loaded: unknown presets or keys, types, and every string choice (the
``Literal`` types below) are errors listing the valid names; the generator's variant-specific settings
(``generator.regional`` / ``sean`` / ``decomposed``) must match ``generator.variant``.

Some choices name entries of registries elsewhere (conditioning layers, discriminators, losses, AU sets,
lighting presets, ...). This module stays free of torch, so it spells those names out as ``Literal`` types;
``tests/training/test_config.py`` checks that each one equals its registry.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from aucgan.au import AU_SETS
from aucgan.errors import AucganError


class ConfigError(AucganError, ValueError):
    """A preset, key or value that does not fit the configuration schema."""


# ------------------------------------------------------------------------------------------- choices

MapName = Literal["albedo", "displacement", "normal", "image"]           # aucgan.data.sample.MAP_CHANNELS
AUSetName = Literal["openface17", "disfa12", "bp4d12", "fera2015"]      # aucgan.au.AU_SETS
AUName = Literal["AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14", "AU15", "AU17",
                 "AU20", "AU23", "AU24", "AU25", "AU26", "AU28", "AU45"]  # aucgan.au.AU_CATALOGUE
TargetMode = Literal["shuffle", "prototype", "mixed"]                    # aucgan.training.data.TARGET_MODES
ConditioningName = Literal["concat_latent", "concat_input", "adain", "cbn", "film",
                           "spade_au"]                                   # aucgan.nn.conditioning.CONDITIONING
Architecture = Literal["skip", "bottleneck"]                             # aucgan.models.generator.ARCHITECTURES
Head = Literal["direct", "attention", "au_residual"]                     # aucgan.models.generator.HEADS
AUMode = Literal["absolute", "relative"]                                 # aucgan.models.generator.AU_MODES
ExtraAttr = Literal["age", "gender", "emotion", "valence", "landmarks"]  # aucgan.training.extras.EXTRA_ATTRS
Region = Literal["brows", "eyes", "nose", "mouth"]                       # aucgan.models.regional.LOCAL_REGIONS
Variant = Literal["map", "regional", "sean", "decomposed"]               # GeneratorConfig's designs
DiscriminatorKind = Literal["concat", "projection", "aux_regressor", "projection_aux", "cond_mlp",
                            "cond_mlp_aux", "aux_match"]                 # aucgan.models.discriminator.DISCRIMINATORS
DiscriminatorTrunk = Literal["patchgan", "deep"]                         # aucgan.models.discriminator.TRUNKS
AUNetArch = Literal["cnn", "resnet"]                                     # aucgan.models.aunet.ARCHS
AUNetInput = Literal["maps", "shaded"]                                   # aucgan.models.build.AUNET_INPUTS
Lighting = Literal["random", "front", "studio", "left", "right", "top",
                   "grazing"]                                            # random + aucgan.render.sh.LIGHTING_PRESETS
AdversarialKind = Literal["wgan", "hinge", "nsgan"]                      # aucgan.losses.adversarial.ADVERSARIAL_LOSSES
AULossKind = Literal["bce", "mse", "l1"]                                 # aucgan.losses.au_consistency.AU_LOSSES
AUSource = Literal["aunet", "disc", "both"]                              # aucgan.losses.objective.AU_SOURCES
AdamImpl = Literal["fused", "foreach", "single", "auto"]                 # aucgan.training.perf.ADAM_IMPLS

_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


# ------------------------------------------------------------------------------------------- schema

@dataclass(frozen=True)
class DataConfig:
    """What the model reads and how edit targets are drawn."""

    maps: tuple[MapName, ...] = ("displacement", "albedo")
    size: int = 64
    au_set: AUSetName = "openface17"
    disp_scale: float = 0.02          # displacement divided by this enters the networks (about [-1, 1])
    target_mode: TargetMode = "mixed"  # shuffle (AUs of another sample) | prototype | mixed
    prototype_prob: float = 0.3       # with "mixed": share of targets drawn from emotion prototypes
    target_noise: float = 0.1         # GANimation-style noise on target AUs, in unit (0..1) scale
    batch_size: int = 16
    preload: bool = True
    pair_identity: bool = True        # draw a second sample of the same identity (detail consistency)


@dataclass(frozen=True)
class RegionalConfig:
    """``generator.variant: regional``: Cascade EF-GAN local branches (:mod:`aucgan.models.regional`)."""

    regions: tuple[Region, ...] = ("brows", "eyes", "nose", "mouth")  # one small U-Net per region
    channels: int = 16                # base width of each local branch
    num_down: int = 2
    conditioning: tuple[ConditioningName, ...] = ("adain",)
    cascade_steps: int = 1            # a large AU change applied as this many smaller steps


@dataclass(frozen=True)
class SeanConfig:
    """``generator.variant: sean``: SEAN per-region style codes (:mod:`aucgan.models.sean`)."""

    style_dim: int = 32
    style_levels: tuple[int, ...] | None = None  # decoder levels the region codes modulate (None: finest)


@dataclass(frozen=True)
class DecomposedConfig:
    """``generator.variant: decomposed``: geometry head (displacement <- AUs) + appearance head (albedo <-
    ``extra_attrs`` and ``albedo_aus``), :mod:`aucgan.models.decomposed`."""

    albedo_aus: tuple[AUName, ...] = ("AU05", "AU07", "AU25", "AU26", "AU45")  # AUs the appearance head also sees
    albedo_channels: int = 16         # base width of the appearance head
    albedo_conditioning: tuple[ConditioningName, ...] = ("adain",)


#: Generator variants with settings of their own: the GeneratorConfig field holding them, and its type.
VARIANT_CONFIGS: dict[str, type] = {"regional": RegionalConfig, "sean": SeanConfig, "decomposed": DecomposedConfig}


@dataclass(frozen=True)
class GeneratorConfig:
    """The map generator (see :class:`aucgan.models.generator.MapGenerator`) and the design wrapped around it.

    ``variant`` picks the design: ``map`` (one MapGenerator), ``regional`` (+ local branches), ``sean``
    (+ region style codes) or ``decomposed`` (geometry + appearance heads). The chosen variant's own
    settings live in the field of the same name (filled with defaults when not given); the other
    variants' fields stay ``None``, and giving one of them is an error.
    """

    variant: Variant = "map"
    conditioning: tuple[ConditioningName, ...] = ("adain",)
    architecture: Architecture = "skip"  # skip (U-Net) | bottleneck (DECA-like detail code)
    base_channels: int = 32
    max_channels: int = 256
    num_down: int = 3
    latent_dim: int = 128
    cond_levels: tuple[int, ...] | None = None
    head: Head = "direct"             # direct | attention (GANimation colour + attention) | au_residual
    au_mode: AUMode = "absolute"      # absolute (target AUs) | relative (target - source AUs, Ling et al. 2020)
    cond_hidden: int | None = None    # hidden width of the conditioning layers' MLP/conv (None: layer default)
    extra_attrs: tuple[ExtraAttr, ...] = ()  # extra conditions beside the AUs (aucgan.training.extras)
    expression_residuals: bool = False  # the expression attributes among extra_attrs (emotion, valence) edit
    #                                     relatively: their change adds colour residual maps (au_residual head)
    regional: RegionalConfig | None = None
    sean: SeanConfig | None = None
    decomposed: DecomposedConfig | None = None

    def __post_init__(self) -> None:
        if self.expression_residuals and self.head != "au_residual":
            raise ConfigError("generator.expression_residuals adds residual maps to the au_residual head; set "
                              f"generator.head=au_residual (it is {self.head!r})")
        for name, cls in VARIANT_CONFIGS.items():
            own = getattr(self, name)
            if name == self.variant and own is None:
                object.__setattr__(self, name, cls())
            elif name != self.variant and own is not None:
                raise ConfigError(f"{name} settings (generator.{name}) are given but generator.variant is "
                                  f"{self.variant!r}; set generator.variant={name} or drop the {name} settings")


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The conditional discriminator (see :mod:`aucgan.models.discriminator`)."""

    kind: DiscriminatorKind = "projection_aux"
    trunk: DiscriminatorTrunk = "patchgan"  # patchgan | deep (full-resolution stem, 3x3 convs, GroupNorm)
    base_channels: int = 32
    max_channels: int = 256
    num_down: int = 4
    spectral_norm: bool = False
    patch_regions: tuple[Region, ...] = ()  # local patch discriminators on region crops (brows eyes nose mouth)
    patch_kind: DiscriminatorKind | None = None  # their conditioning kind (None: the global kind)
    patch_size: int = 32              # crop size in pixels
    patch_num_down: int = 3
    cond_noise: float = 0.0           # std of Gaussian noise on the unit-scale AUs D is shown in training (EG3D)


@dataclass(frozen=True)
class AUNetConfig:
    """The AU estimator: its architecture for ``train-au`` and the frozen one used by the AU loss."""

    arch: AUNetArch = "cnn"
    base_channels: int = 32
    depth: int = 4
    checkpoint: str | None = None     # an AUNet run dir (``aucgan train-au``) for the AU-consistency loss
    input: AUNetInput = "maps"        # maps (the stacked map tensor) | shaded (SH-lit renders, random lighting)


@dataclass(frozen=True)
class RenderConfig:
    """Shaded renders (:class:`aucgan.render.shaded.Renderer`) for losses and AU estimators on renders."""

    normal_strength: float = 1.0      # slope multiplier of displacement -> normals (1 = geometric)
    cavity_strength: float = 0.0      # cavity / ambient occlusion (0 = off)
    cavity_radius: float = 0.01       # layout units
    lighting: Lighting = "random"     # random (seeded, plausible) | a preset name (aucgan.render.sh)


@dataclass(frozen=True)
class LossConfig:
    """Loss kinds and weights. A weight of 0 switches a term off."""

    adversarial: AdversarialKind = "hinge"  # wgan | hinge | nsgan
    w_adv: float = 1.0
    gp_weight: float = 0.0            # WGAN-GP weight
    r1_gamma: float = 0.0             # R1 weight (lazy: applied every r1_every D steps, scaled by r1_every)
    r1_every: int = 16
    au_loss: AULossKind = "mse"       # bce (AU "features" as probabilities) | mse | l1
    au_source: AUSource = "aunet"     # aunet (frozen estimator) | disc (discriminator aux head) | both
    w_au: float = 1.0
    w_d_au: float = 1.0               # aux head regression on real maps (discriminator update)
    w_d_mismatch: float = 0.0         # real maps with another sample's AUs scored as fake (matching-aware D)
    mismatch_quantile: float = 0.0    # only AU vectors farther (L1) from the sample's own than this quantile of
    #                                   random training pairs count as mismatched (Dual-NDA); 0 = any other
    mismatch_warmup: int = 0          # generator steps before the mismatch term starts
    mismatch_sigma: float = 0.0       # vicinal weighting (CcGAN): negatives weigh 1 - exp(-(d / sigma)^2), d the
    #                                   unit-scale L1 AU distance; 0 = every negative weighs 1
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
    adam_impl: AdamImpl = "fused"     # fused | foreach | single | auto (torch's default for the device)
    channels_last: bool = False       # NHWC batches (activations follow; weights stay NCHW)
    compile: bool = False             # torch.compile (inductor) the generator's forward passes


@dataclass(frozen=True)
class BaseTrainConfig:
    """What every training run has (``aucgan train`` and ``aucgan train-au``): its name, seed and length,
    logging, device, the data it reads, the AU estimator and the renderer."""

    name: str = "run"
    seed: int = 0
    steps: int = 2000
    log_every: int = 50
    device: str = "auto"              # auto | cpu | cuda | cuda:N | mps
    threads: int = 0                  # torch intra-op threads on CPU (0 = torch default)
    data: DataConfig = field(default_factory=DataConfig)
    aunet: AUNetConfig = field(default_factory=AUNetConfig)
    render: RenderConfig = field(default_factory=RenderConfig)   # shaded renders (losses, aunet.input=shaded)

    def __post_init__(self) -> None:
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device: {self.device!r} is not valid; valid values: auto, cpu, cuda, cuda:N, mps")


@dataclass(frozen=True)
class TrainConfig(BaseTrainConfig):
    """Everything a GAN training run needs besides the data path and the run directory."""

    sample_every: int = 500
    ckpt_every: int = 500
    keep_ckpts: int = 3
    ckpt_at: tuple[int, ...] = ()     # extra steps to checkpoint at (learning curves), besides every ckpt_every
    tensorboard: bool = True
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        d = self.generator.decomposed
        if d is not None:
            unknown = [a for a in d.albedo_aus if a not in AU_SETS[self.data.au_set]]
            if unknown:
                raise ConfigError(f"generator.decomposed.albedo_aus: {', '.join(unknown)} not in the "
                                  f"{self.data.au_set!r} AU set (data.au_set)")


@dataclass(frozen=True)
class AUNetTrainConfig(BaseTrainConfig):
    """``aucgan train-au``: an AU estimator trained on maps (or, with ``aunet.input: shaded``, renders)."""

    name: str = "aunet"
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4


# --------------------------------------------------------------------------------------------- presets

def preset_names() -> list[str]:
    """Names of the presets shipped with aucgan."""
    root = resources.files("aucgan") / "configs"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml"))


def _read_preset(preset: str, folder: Path | None = None) -> tuple[dict, str, str, Path | None]:
    """(mapping, where, identity, folder) of a preset name or YAML path; a relative path is looked up in
    ``folder`` (the folder of the file that extends it) first, then from the working directory."""
    path = Path(preset)
    if folder is not None and not path.is_absolute() and (folder / path).is_file():
        path = folder / path
    if preset.endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise ConfigError(f"no such config file: {preset}")
        text, where, ident, folder = path.read_text(), str(path), str(path.resolve()), path.resolve().parent
    else:
        res = resources.files("aucgan") / "configs" / f"{preset}.yaml"
        if not res.is_file():
            raise ConfigError(f"unknown preset {preset!r}; valid presets: {', '.join(preset_names())} "
                              "(or a path to a YAML file)")
        text, where, ident, folder = res.read_text(), f"preset {preset}", f"preset {preset}", None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of config keys")
    return data, where, ident, folder


def _resolve_preset(preset: str, folder: Path | None = None, chain: tuple[tuple[str, str], ...] = ()
                    ) -> tuple[dict, str]:
    """A preset merged over everything it ``extends`` (recursively; a cycle is an error naming the chain)."""
    data, where, ident, folder = _read_preset(preset, folder)
    if any(ident == seen for seen, _ in chain):
        raise ConfigError("extends cycle: " + " -> ".join([*(w for _, w in chain), where]))
    parent = data.pop("extends", None)
    if parent is None:
        return data, where
    if not isinstance(parent, str) or not parent:
        raise ConfigError(f"{where}: extends must name a preset or a YAML file, got {parent!r}")
    base, _ = _resolve_preset(parent, folder, (*chain, (ident, where)))
    return _deep_merge(base, data), where


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
    """Load a preset (name or YAML path, with what it ``extends``) and ``key=value`` overrides into a frozen
    ``schema`` instance, checking every key, type and choice."""
    data, where = _resolve_preset(preset)
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
    """Build dataclass ``cls`` from a nested dict, checking keys and coercing values to the field types
    (``Literal`` fields must hold one of their values)."""
    return _from_dict(cls, data, where, "")


def _at(where: str, path: str) -> str:
    return ": ".join(p for p in (where, path) if p)


def _from_dict(cls: type, data: Any, where: str, path: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{_at(where, path)}: expected a mapping for {cls.__name__}, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    valid = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - valid)
    if unknown:
        moved = [_LEGACY_HINTS[k] for k in unknown if cls is GeneratorConfig and k in _LEGACY_HINTS]
        raise ConfigError(f"{_at(where, path)}: unknown key(s) {', '.join(unknown)} in {cls.__name__}; "
                          f"valid keys: {', '.join(sorted(valid))}" + "".join(f" ({m})" for m in moved))
    kwargs = {k: _coerce(hints[k], v, where, f"{path}.{k}" if path else k) for k, v in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as exc:  # a check across fields (__post_init__)
        raise ConfigError(f"{where}: {exc}" if where else str(exc)) from None


def _coerce(tp: Any, value: Any, where: str, path: str) -> Any:
    at = _at(where, path)
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _from_dict(tp, value, where, path)
    if origin is Literal:
        choices = typing.get_args(tp)
        if isinstance(value, str) and value in choices:
            return value
        raise ConfigError(f"{at}: {value!r} is not valid; valid values: {', '.join(choices)}")
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, where, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{at}: invalid value {value!r}")
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{at}: expected a list, got {value!r}")
        (item_tp, *_) = typing.get_args(tp)
        return tuple(_coerce(item_tp, v, where, path) for v in value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{at}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{at}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                raise ConfigError(f"{at}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{at}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{at}: expected a string, got {value!r}")
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
        inner = getattr(config, head)
        if not dataclasses.is_dataclass(inner):
            raise ConfigError(f"cannot set {key}: {head!r} is not a section here (got {inner!r})")
        return dataclasses.replace(config, **{head: replace_path(inner, rest, value)})
    hints = typing.get_type_hints(type(config))
    return dataclasses.replace(config, **{head: _coerce(hints[head], value, "", key)})


# ------------------------------------------------------------------------------- older run directories

#: Flat generator keys of run configs written before ``generator.variant`` -> (variant, key in its settings);
#: ``None``: the key that switched the variant on.
LEGACY_GENERATOR_KEYS: dict[str, tuple[str, str | None]] = {
    "local_regions": ("regional", "regions"), "local_channels": ("regional", "channels"),
    "local_num_down": ("regional", "num_down"), "local_conditioning": ("regional", "conditioning"),
    "cascade_steps": ("regional", "cascade_steps"),
    "region_styles": ("sean", None), "style_dim": ("sean", "style_dim"), "style_levels": ("sean", "style_levels"),
    "decomposed": ("decomposed", None), "albedo_aus": ("decomposed", "albedo_aus"),
    "albedo_channels": ("decomposed", "albedo_channels"), "albedo_conditioning": ("decomposed", "albedo_conditioning"),
}
_LEGACY_HINTS = {old: (f"generator.{old} is now generator.{variant}.{new} with generator.variant: {variant}" if new
                       else f"generator.{old}: true is now generator.variant: {variant}")
                 for old, (variant, new) in LEGACY_GENERATOR_KEYS.items()}


def complete_run_config(data: dict, schema: type | None = None) -> dict:
    """A stored run config as today's code writes it: an older layout upgraded (:func:`upgrade_run_config`) and
    the fields added since filled in with their defaults, which is what those runs trained with (a field is only
    ever added with a default that keeps the old behaviour). Used to compare a resumed run's config."""
    return to_dict(from_dict(schema or TrainConfig, upgrade_run_config(data), "the run's config.json"))


def upgrade_run_config(data: dict) -> dict:
    """A run's ``config.json`` in today's layout: one written before ``generator.variant`` existed (flat keys
    ``generator.local_regions``, ``region_styles``, ``decomposed: true``, ``albedo_aus``, ...) gets its variant
    and that variant's settings; the other variants' flat keys (inert then) are dropped. Anything else is
    returned unchanged."""
    gen = data.get("generator") if isinstance(data, dict) else None
    if not isinstance(gen, dict) or "variant" in gen:
        return data
    if not (set(gen) & (set(LEGACY_GENERATOR_KEYS) - {"decomposed"}) or isinstance(gen.get("decomposed"), bool)):
        return data
    switched = [v for v, on in (("regional", bool(gen.get("local_regions"))),
                                ("sean", gen.get("region_styles") is True),
                                ("decomposed", gen.get("decomposed") is True)) if on]
    if len(switched) > 1:
        raise ConfigError(f"generator: this older config switches on {' and '.join(switched)} together, which "
                          "never built")
    variant = switched[0] if switched else "map"
    out = copy.deepcopy(data)
    new_gen = {k: v for k, v in gen.items() if k not in LEGACY_GENERATOR_KEYS}
    new_gen["variant"] = variant
    for name in VARIANT_CONFIGS:                                       # as to_dict writes them: None unless chosen
        new_gen[name] = None if name != variant else {
            new: copy.deepcopy(gen[old]) for old, (v, new) in LEGACY_GENERATOR_KEYS.items()
            if v == variant and new is not None and old in gen}
    out["generator"] = new_gen
    return out
