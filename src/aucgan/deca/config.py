"""The ``deca`` preset's schema: fine-tuning an imported DECA detail decoder with AU conditioning.

Its own frozen dataclasses (the map generator's :class:`~aucgan.config.schema.TrainConfig` describes another
model), loaded with :func:`aucgan.config.loading.load_config` and ``schema=DecaTrainConfig``; the
discriminator and optimiser sections reuse the map trainer's. Presets of this schema are listed in
:data:`PRESETS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from aucgan.au import AU_MAX
from aucgan.config.loading import load_config
from aucgan.config.schema import AdversarialKind, AULossKind, AUSetName, ConfigError, DiscriminatorConfig, OptimConfig
from aucgan.deca.decoder import DECA_CHANNELS, DECA_INIT_SIZE, DECA_LATENT_DIM

#: Shipped presets (``aucgan/configs/<name>.yaml``) whose schema is :class:`DecaTrainConfig`.
PRESETS: tuple[str, ...] = ("deca",)

# choices, checked at load (tests/deca/test_train.py checks each against the code it names)
DecoderConditioning = Literal["concat_latent", "adain", "cbn", "film", "spade_au"]  # DetailDecoder's registry subset
DecoderHead = Literal["direct", "au_residual"]                         # aucgan.deca.decoder.HEADS
ResidualMode = Literal["value", "change"]                              # aucgan.deca.decoder.RESIDUAL_MODES
AUInput = Literal["unit", "intensity"]                                 # aucgan.deca.decoder.AU_INPUTS
DecaTargetMode = Literal["shuffle", "own"]                             # aucgan.deca.train target AUs
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass(frozen=True)
class DecoderConfig:
    """The decoder: DECA's architecture (read from ``checkpoint`` when given) plus AU conditioning."""

    checkpoint: str | None = None     # DECA/EMOCA checkpoint whose D_detail is imported (deca_model.tar)
    checkpoint_au_input: AUInput = "unit"  # AU scale of a checkpoint that already appends AUs (their variant)
    conditioning: tuple[DecoderConditioning, ...] = ("adain", "spade_au")
    head: DecoderHead = "au_residual"  # direct | au_residual
    residual_mode: ResidualMode = "value"  # au_residual scaled by the AU's value | its change from the source AUs
    au_input: AUInput = "unit"        # unit (AU / 5) | intensity (0..5): the scale the network sees
    cond_hidden: int = 32
    cond_levels: tuple[int, ...] | None = None  # upsampling blocks the norm/spatial layers act on (None: all)
    blendshapes: int = 0              # learned AU blendshapes: maps per AU (powers of the AU), the same for everyone
    layout: str | None = None         # layout JSON of the UV space (`aucgan layout flame`); None: canonical
    mask: str | None = None           # a mask image (DECA's uv_face_eye_mask.png) multiplied into the footprints
    train_base: bool = True           # fine-tune DECA's own weights too (False: only the new conditioning)
    base_lr_scale: float = 1.0        # DECA's own weights learn at optim.lr_g x this; the AU conditioning at lr_g
    latent_dim: int = DECA_LATENT_DIM  # architecture of a decoder trained from scratch (no checkpoint)
    channels: tuple[int, ...] = DECA_CHANNELS
    init_size: int = DECA_INIT_SIZE


@dataclass(frozen=True)
class DecaDataConfig:
    au_set: AUSetName = "openface17"
    batch_size: int = 6               # DECA's released detail config
    target_mode: DecaTargetMode = "shuffle"  # AU targets of the AU / adversarial terms: another sample's AUs | own
    target_noise: float = 0.1         # noise on those targets, unit (0..1) scale
    code_dropout: float = 0.0         # per sample, expression and jaw codes replaced by the data's mean code
    code_noise: float = 0.0           # Gaussian noise on expression and jaw codes, x each dimension's spread
    au_gate: float = 0.0              # AU readings below this intensity count as absent (0): an estimator's noise


@dataclass(frozen=True)
class DecaLossConfig:
    """Loss weights (0 switches a term off). Map terms read uv_z in decoder units (uv_z / out_scale)."""

    w_rec: float = 1.0                # |D(latent, au) - uv_z| (L1)
    w_detail: float = 1.0             # DECA's detail consistency: a detail code of the same identity
    w_cross: float = 0.0              # another image of the identity (all its codes) decoded with this one's AUs
    w_edit: float = 0.0               # that image's change at fixed codes (its AUs -> this one's) = the true change
    w_z_reg: float = 0.005            # DECA/EMOCA z_reg: mean |uv_z| in metres
    w_z_diff: float = 0.005           # DECA/EMOCA z_diff: smoothness of the shading of uv_z's normals
    w_z_sym: float = 0.0              # DECA/EMOCA z_sym: off (AU14 and others are asymmetric)
    w_blendshape_l1: float = 0.0      # sparsity of the learned AU blendshapes (decoder.blendshapes), mean |B|
    uv_extent_m: float = 0.3          # metres per UV unit, for the normals of z_diff (a head's UV map spans ~30 cm)
    w_au: float = 0.0                 # AU consistency through the frozen AU estimator (``aunet``) on uv_z
    w_au_disc: float = 0.0            # AU consistency through the discriminator's AU head (aux kinds)
    au_loss: AULossKind = "mse"       # bce | mse | l1
    w_adv: float = 0.0                # conditional discriminator on uv_z (0: no discriminator)
    adversarial: AdversarialKind = "hinge"  # wgan | hinge | nsgan
    w_d_mismatch: float = 0.0         # matching-aware D: real maps with another sample's AUs count as fake
    w_d_au: float = 1.0               # D's AU head regresses the real maps' AUs (aux kinds)
    r1_gamma: float = 0.0
    r1_every: int = 16


@dataclass(frozen=True)
class DecaTrainConfig:
    """Everything a DECA fine-tuning run needs besides the data path and the run directory."""

    name: str = "deca"
    seed: int = 0
    steps: int = 2000
    log_every: int = 50
    sample_every: int = 500
    ckpt_every: int = 500
    keep_ckpts: int = 3
    device: str = "auto"              # auto | cpu | cuda | cuda:N | mps
    threads: int = 0
    tensorboard: bool = True
    aunet: str | None = None          # an AU estimator run on uv_z maps (`aucgan train-au`) for w_au
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    data: DecaDataConfig = field(default_factory=DecaDataConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: DecaLossConfig = field(default_factory=DecaLossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self) -> None:
        if not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device: {self.device!r} is not valid; valid values: auto, cpu, cuda, cuda:N, mps")


def check_config(cfg: DecaTrainConfig) -> DecaTrainConfig:
    """Checks across fields that need no files (choices are checked at load; the decoder's own checks run when it
    is built)."""
    if cfg.data.batch_size < 2:
        raise ConfigError(f"data.batch_size must be >= 2 (AU targets are shuffled in the batch), got "
                          f"{cfg.data.batch_size}")
    weights = {k: v for k, v in vars(cfg.loss).items() if k.startswith("w_") or k == "r1_gamma"}
    negative = [k for k, v in weights.items() if v < 0]
    if negative:
        raise ConfigError(f"loss weights must be >= 0: {', '.join(negative)}")
    if cfg.loss.w_au > 0 and not cfg.aunet:
        raise ConfigError("loss.w_au reads a frozen AU estimator on uv_z maps: train one with `aucgan train-au "
                          "--data DECA_DATA --set data.maps=[displacement] data.size=256 data.disp_scale=0.01` "
                          "and pass --aunet RUN_DIR (or set loss.w_au=0)")
    if cfg.decoder.base_lr_scale <= 0:
        raise ConfigError(f"decoder.base_lr_scale must be > 0 (decoder.train_base=false freezes DECA's weights), "
                          f"got {cfg.decoder.base_lr_scale}")
    if cfg.decoder.blendshapes < 0:
        raise ConfigError(f"decoder.blendshapes is the number of learned maps per AU (0 switches them off), got "
                          f"{cfg.decoder.blendshapes}")
    if cfg.loss.w_blendshape_l1 > 0 and not cfg.decoder.blendshapes:
        raise ConfigError("loss.w_blendshape_l1 keeps the learned AU blendshapes sparse, but the decoder has none: set "
                          "decoder.blendshapes (e.g. 2) or loss.w_blendshape_l1=0")
    if not 0.0 <= cfg.data.code_dropout <= 1.0:
        raise ConfigError(f"data.code_dropout is a probability (0..1), got {cfg.data.code_dropout}")
    if cfg.data.code_noise < 0:
        raise ConfigError(f"data.code_noise must be >= 0, got {cfg.data.code_noise}")
    if not 0.0 <= cfg.data.au_gate <= AU_MAX:
        raise ConfigError(f"data.au_gate is an AU intensity (0..{AU_MAX:g}; 0 keeps every reading), got "
                          f"{cfg.data.au_gate}")
    if cfg.loss.uv_extent_m <= 0:
        raise ConfigError(f"loss.uv_extent_m must be > 0, got {cfg.loss.uv_extent_m}")
    return cfg


def load_deca_config(preset: str = "deca", overrides: list[str] | tuple[str, ...] = ()) -> DecaTrainConfig:
    """A ``deca``-schema preset (name or YAML path) with ``key=value`` overrides, checked."""
    return check_config(load_config(preset, list(overrides), schema=DecaTrainConfig))
