"""The configuration schema: frozen dataclasses of every training run's settings and the choices they take.

Some choices name entries of registries elsewhere (conditioning layers, discriminators, losses, AU sets,
lighting presets, ...). This module stays free of torch, so it spells those names out as ``Literal`` types;
``tests/config/test_config.py`` checks that each one equals its registry. Presets and ``key=value`` overrides
are read into these classes by :mod:`aucgan.config.loading`; run configs written by older versions are brought
to today's layout by :mod:`aucgan.config.upgrade`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

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
ResidualMask = Literal["footprint", "grown", "none"]                     # aucgan.models.generator.RESIDUAL_MASKS
ExtraAttr = Literal["age", "gender", "emotion", "valence", "landmarks"]  # aucgan.data.conditions.EXTRA_ATTRS
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
R1Target = Literal["score", "unconditional"]                             # aucgan.losses.objective.R1_TARGETS
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
    repeat_threshold: float = 0.0     # > 0: draw samples with rare AUs more often (repeat-factor sampling)

    def __post_init__(self) -> None:
        if not 0.0 <= self.repeat_threshold <= 1.0:
            raise ConfigError(f"data.repeat_threshold: {self.repeat_threshold!r} is not valid; expected a share of "
                              "the samples in 0..1 (0: uniform sampling)")


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
    extra_attrs: tuple[ExtraAttr, ...] = ()  # extra conditions beside the AUs (aucgan.data.conditions)
    expression_residuals: bool = False  # the expression attributes among extra_attrs (emotion, valence) edit
    #                                     relatively: their change adds colour residual maps (au_residual head)
    residual_mask: ResidualMask = "footprint"  # where the au_residual head acts: inside each AU's atlas footprint
    #                                            | grown (the footprint grown by 1/16 of the map: change that spreads)
    #                                            | none (the whole map: where an AU acts is learnt, not given)
    residual_flow: bool = False       # the au_residual head also moves the source's detail along a flow per AU
    #                                   (inside the footprint grown by 1/16 of the map), then adds residuals
    flow_grow: bool = True            # the flow acts inside the footprints grown by 1/16 of the map; false: inside
    #                                   the footprints themselves (with residual_mask footprint)
    regional: RegionalConfig | None = None
    sean: SeanConfig | None = None
    decomposed: DecomposedConfig | None = None

    def __post_init__(self) -> None:
        if self.expression_residuals and self.head != "au_residual":
            raise ConfigError("generator.expression_residuals adds residual maps to the au_residual head; set "
                              f"generator.head=au_residual (it is {self.head!r})")
        if self.residual_mask != "footprint" and self.head != "au_residual":
            raise ConfigError(f"generator.residual_mask={self.residual_mask} shapes the au_residual head; set "
                              f"generator.head=au_residual (it is {self.head!r}) or drop residual_mask")
        if self.residual_flow and self.head != "au_residual":
            raise ConfigError("generator.residual_flow moves the source inside the au_residual head; set "
                              f"generator.head=au_residual (it is {self.head!r}) or drop residual_flow")
        if not self.flow_grow and not (self.residual_flow and self.residual_mask == "footprint"):
            raise ConfigError("generator.flow_grow=false keeps the flow inside the footprints: it needs "
                              f"generator.residual_flow=true and generator.residual_mask=footprint (they are "
                              f"{self.residual_flow} and {self.residual_mask!r}); drop flow_grow")
        if self.residual_flow and self.variant == "decomposed":
            raise ConfigError("generator.residual_flow is not built for generator.variant=decomposed (its geometry "
                              "head edits the displacement alone); drop residual_flow")
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
    extras: bool = True               # shown the extra attributes (emotion, valence); false: it checks the AUs only


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
    r1_on: R1Target = "score"         # score | unconditional (D's score without its AU terms: the AU head stays free)
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
        if not self.discriminator.extras and self.discriminator.patch_regions:
            raise ConfigError("discriminator.extras=false applies to the global discriminator only; the local patch "
                              "discriminators (discriminator.patch_regions) would still be shown the extra attributes")
        if self.loss.r1_on == "unconditional" and self.discriminator.kind in ("concat", "cond_mlp", "cond_mlp_aux"):
            raise ConfigError(f"loss.r1_on=unconditional: discriminator.kind={self.discriminator.kind} has no score "
                              "part that leaves the AUs out (use projection, aux_match, aux_regressor or "
                              "projection_aux, or loss.r1_on=score)")


@dataclass(frozen=True)
class AUNetTrainConfig(BaseTrainConfig):
    """``aucgan train-au``: an AU estimator trained on maps (or, with ``aunet.input: shaded``, renders)."""

    name: str = "aunet"
    steps: int = 1000
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4


# ------------------------------------------------------------------------------- older run configs

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
#: What an old flat generator key became (named by the unknown-key error of a current config that uses it).
LEGACY_HINTS: dict[str, str] = {
    old: (f"generator.{old} is now generator.{variant}.{new} with generator.variant: {variant}" if new
          else f"generator.{old}: true is now generator.variant: {variant}")
    for old, (variant, new) in LEGACY_GENERATOR_KEYS.items()}
