"""DECA's detail decoder (``D_detail``) inside aucgan, with AU conditioning chosen by name.

The architecture is DECA's ``decoders.Generator`` layer for layer, with the same state-dict keys, so a
``D_detail`` from ``deca_model.tar`` loads as it is::

    l1.0                      Linear(latent_dim [+ K], C0 * s * s), viewed as (C0, s, s)     s = init_size (8)
    conv_blocks.0             BatchNorm2d(C0)                                               (default eps)
    conv_blocks.{4i+1..4i+4}  Upsample x2 bilinear, Conv2d 3x3 pad 1, BatchNorm2d(c, eps=0.8), LeakyReLU(0.2)
    conv_blocks.{4n+1, 4n+2}  Conv2d(c_last, 1, 3, pad 1), Tanh                      (21, 22 for DECA's n = 5)
    output                    tanh(.) * out_scale (0.01 m: uv_z within +-1 cm)

with channels 128-128-64-64-32-16 and a 181-value latent ``[jaw pose (3), expression (50), detail (128)]``.
DECA's ``BatchNorm2d(c, 0.8)`` passes 0.8 positionally, which is the *eps*, not the momentum; kept as is.

AU conditioning (names from :data:`aucgan.nn.conditioning.CONDITIONING`; AUs arrive as intensities 0..5
and enter the network scaled by ``au_input``: ``unit`` = AU / 5, ``intensity`` = as they are):

* ``concat_latent`` - their design: the AU vector appended to the latent, ``l1.0`` takes latent_dim + K
  inputs (the raw vector, not aucgan's MLP embedding, so a checkpoint of their AU-concat variant loads as
  it is); the new weight columns start at zero.
* ``norm`` / ``spatial`` layers (``adain``, ``cbn``, ``film``, ``spade_au``) - after DECA's BatchNorm of
  each upsampling block, as a gated residual ``h + gate * (modulate(normalize(h), c) - normalize(h))``:
  DECA's pretrained normalisation stays, the layer adds what its modulation changes, and the per-channel
  ``gate`` starts at zero. ``spade_au`` reads the AU footprints (in FLAME UV for DECA's maps).
* ``au_residual`` head - one residual map R_k per AU from a zero-initialised 3x3 conv on the last
  features: ``uv_z = out_scale * (tanh(y) + sum_k s_k footprint_k R_k)`` with ``s_k`` the AU's unit value
  (``residual_mode="value"``) or its change from ``source_au`` (``"change"``: an AU that does not move
  changes nothing, and an edit acts only inside the footprints of the AUs that move).
* ``blendshapes`` (n > 0) - learned AU blendshapes in UV, like FLAME's expression basis: per AU, n maps
  ``B_k1..B_kn`` (parameters, zero at start) added as ``sum_k sum_d s_k**d B_kd`` with ``s_k`` the AU as the
  network sees it. They read neither the codes nor the footprints: the same change for every person, so with few
  training people the AU path learns the population's average effect instead of memorising the people
  (docs/findings.md, "AU blendshapes"). They combine with any head and conditioning, or stand alone
  (``conditioning=[]``: the base decoder never sees the AUs).

Every new path enters through a parameter that starts at zero, so an imported decoder reproduces DECA's
output exactly until fine-tuning moves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aucgan.au import AU_MAX, AU_NAMES, au_set
from aucgan.deca.checkpoint import DecaCheckpointError, architecture_of, deca_keys, read_detail_state
from aucgan.nn.conditioning import CONDITIONING, CondLevel, ModulationLayer
from aucgan.nn.layers import NetworkConfigError, ShapeError, check_shape

DECA_LATENT_PARTS: tuple[tuple[str, int], ...] = (("jaw", 3), ("exp", 50), ("detail", 128))
DECA_LATENT_DIM = sum(n for _, n in DECA_LATENT_PARTS)          # 181
DECA_CHANNELS: tuple[int, ...] = (128, 128, 64, 64, 32, 16)
DECA_INIT_SIZE = 8
DECA_OUT_SCALE = 0.01
IDENTITY_DIM = 100            # FLAME's shape code: what EMOCA's identity-conditioned detail decoder appends
BLOCK_BN_EPS = 0.8            # DECA's BatchNorm2d(c, 0.8): the positional 0.8 is eps
NEG_SLOPE = 0.2
AU_INPUTS: dict[str, float] = {"unit": 1.0 / AU_MAX, "intensity": 1.0}
HEADS = ("direct", "au_residual")
RESIDUAL_MODES = ("value", "change")
FOOTPRINTS_KEY = "footprints"

__all__ = ["AU_INPUTS", "DECA_CHANNELS", "DECA_INIT_SIZE", "DECA_LATENT_DIM", "DECA_LATENT_PARTS",
           "DECA_OUT_SCALE", "HEADS", "RESIDUAL_MODES", "DetailDecoder", "deca_keys"]


class _LevelModulation(CondLevel):
    """The conditioning of one upsampling block (:class:`~aucgan.nn.conditioning.CondLevel`), added to DECA's
    features through a zero-initialised per-channel gate."""

    def __init__(self, layers: Sequence[ModulationLayer], channels: int) -> None:
        super().__init__(layers)
        self.gate = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, h: Tensor, c: Tensor, footprints: Tensor | None) -> Tensor:
        n = self.normalize(h)
        return h + self.gate * (self.modulate(n, c, footprints) - n)


class DetailDecoder(nn.Module):
    """DECA's detail decoder plus AU conditioning: ``forward(latent (B, latent_dim), au (B, K) 0..5)`` ->
    ``uv_z`` (B, 1, S, S) in metres (S = ``init_size * 2**(len(channels) - 1)``, 256 for DECA).

    ``conditioning``: names from the conditioning registry (``concat_latent``, ``adain``, ``cbn``, ``film``,
    ``spade_au``), possibly empty with the ``au_residual`` head. ``footprints`` (K, H, W) in [0, 1], the AU
    footprints in the decoder's UV space (:func:`aucgan.deca.footprints.uv_footprints`), are needed by
    ``spade_au`` and ``au_residual``; they are stored as a buffer, so a saved decoder carries them.
    ``cond_levels``: which upsampling blocks (0 = coarsest) the norm/spatial layers condition (default all).
    ``blendshapes``: learned AU maps per AU, the same for every person (0: none; module notes).
    """

    def __init__(self, au_names: str | Sequence[str] = AU_NAMES, conditioning: str | Sequence[str] = ("concat_latent",),
                 head: str = "direct", *, latent_dim: int = DECA_LATENT_DIM,
                 channels: Sequence[int] = DECA_CHANNELS, init_size: int = DECA_INIT_SIZE,
                 out_scale: float = DECA_OUT_SCALE, au_input: str = "unit", residual_mode: str = "value",
                 cond_hidden: int = 64, cond_levels: Sequence[int] | None = None,
                 footprints: Tensor | None = None, blendshapes: int = 0) -> None:
        super().__init__()
        self.au_names = au_set(au_names if isinstance(au_names, str) else list(au_names))
        k = len(self.au_names)
        channels = tuple(int(c) for c in channels)
        names = [conditioning] if isinstance(conditioning, str) else list(conditioning)
        if head not in HEADS:
            raise NetworkConfigError(f"unknown DetailDecoder head {head!r}; valid: {', '.join(HEADS)}")
        if au_input not in AU_INPUTS:
            raise NetworkConfigError(f"unknown au_input {au_input!r}; valid: {', '.join(AU_INPUTS)} "
                                     "(unit: AU / 5 enters the network, intensity: AU 0..5 as it is)")
        if residual_mode not in RESIDUAL_MODES:
            raise NetworkConfigError(f"unknown residual_mode {residual_mode!r}; valid: {', '.join(RESIDUAL_MODES)}")
        if len(channels) < 2 or min(channels) < 1 or latent_dim < 1 or init_size < 1 or out_scale <= 0:
            raise NetworkConfigError(f"DetailDecoder: needs >= 2 channel widths >= 1, latent_dim >= 1, "
                                     f"init_size >= 1 and out_scale > 0 (got channels={channels}, "
                                     f"latent_dim={latent_dim}, init_size={init_size}, out_scale={out_scale})")
        if blendshapes < 0:
            raise NetworkConfigError(f"DetailDecoder: blendshapes is the number of learned maps per AU (>= 0), "
                                     f"got {blendshapes}")
        if len(set(names)) != len(names) or (not names and head != "au_residual" and not blendshapes):
            raise NetworkConfigError(f"DetailDecoder conditioning must name distinct layers, and at least one "
                                     f"unless the head is au_residual or blendshapes > 0; got {names}")
        classes = [CONDITIONING.get(n) for n in names]
        levelwise = []
        for name, cls in zip(names, classes):
            if name == "concat_latent":
                continue
            if cls.injection not in ("norm", "spatial"):
                valid = ["concat_latent"] + [n for n in CONDITIONING.names()
                                             if CONDITIONING.get(n).injection in ("norm", "spatial")]
                raise NetworkConfigError(f"conditioning {name!r} ({cls.injection} injection) does not fit DECA's "
                                         f"decoder, which has no input maps; valid: {', '.join(valid)}")
            levelwise.append((name, cls))
        self.conditioning = tuple(names)
        self.head_kind, self.au_input, self.residual_mode = head, au_input, residual_mode
        self.latent_dim, self.channels, self.init_size = int(latent_dim), channels, int(init_size)
        self.out_scale = float(out_scale)
        self.num_blocks = len(channels) - 1
        self.output_size = self.init_size * 2 ** self.num_blocks
        self.concat_aus = "concat_latent" in names
        self.uses_footprints = head == "au_residual" or any(cls.injection == "spatial" for _, cls in levelwise)
        self.cond_levels = self._levels(cond_levels, bool(levelwise))
        self.cond_hidden = int(cond_hidden)

        self.l1 = nn.Sequential(nn.Linear(self.latent_dim + (k if self.concat_aus else 0),
                                          channels[0] * self.init_size ** 2))
        blocks: list[nn.Module] = [nn.BatchNorm2d(channels[0])]
        for cin, cout in zip(channels[:-1], channels[1:]):
            blocks += [nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(cin, cout, 3, stride=1, padding=1),
                       nn.BatchNorm2d(cout, BLOCK_BN_EPS), nn.LeakyReLU(NEG_SLOPE, inplace=True)]
        blocks += [nn.Conv2d(channels[-1], 1, 3, stride=1, padding=1), nn.Tanh()]
        self.conv_blocks = nn.Sequential(*blocks)
        if self.concat_aus:
            with torch.no_grad():
                self.l1[0].weight[:, self.latent_dim:].zero_()

        self.modulation = nn.ModuleDict()
        for level in self.cond_levels:
            width = channels[level + 1]
            layers = [cls(num_features=width, num_aus=k, cond_dim=k, hidden=self.cond_hidden)
                      if cls.injection == "spatial" else cls(num_features=width, cond_dim=k, hidden=self.cond_hidden)
                      for _, cls in levelwise]
            self.modulation[str(level)] = _LevelModulation(layers, width)
        self.residual = None
        if head == "au_residual":
            self.residual = nn.Conv2d(channels[-1], k, 3, padding=1)
            nn.init.zeros_(self.residual.weight)
            nn.init.zeros_(self.residual.bias)
        self.num_blendshapes = int(blendshapes)
        self.blendshapes = None
        if blendshapes:
            self.blendshapes = nn.Parameter(torch.zeros(k, self.num_blendshapes, self.output_size, self.output_size))
        if self.uses_footprints:
            if footprints is None:
                raise NetworkConfigError(f"DetailDecoder: conditioning {names} with the {head} head needs the AU "
                                         f"footprints ({k}, H, W) in the decoder's UV space; got None")
            fp = torch.as_tensor(footprints, dtype=torch.float32)
            if fp.dim() != 3 or fp.shape[0] != k or min(fp.shape[1:]) < 1:
                raise ShapeError(f"DetailDecoder: footprints must be ({k}, H, W) for AUs {', '.join(self.au_names)}; "
                                 f"got {tuple(fp.shape)}")
            self.register_buffer(FOOTPRINTS_KEY, fp.clone())
        else:
            self.footprints = None

    def _levels(self, cond_levels: Sequence[int] | None, levelwise: bool) -> tuple[int, ...]:
        if not levelwise:
            if cond_levels is not None:
                raise NetworkConfigError(f"cond_levels {list(cond_levels)} given but no norm/spatial conditioning "
                                         "layer is selected")
            return ()
        if cond_levels is None:
            return tuple(range(self.num_blocks))
        levels = tuple(int(v) for v in cond_levels)
        if not levels or len(set(levels)) != len(levels) or any(not 0 <= v < self.num_blocks for v in levels):
            raise NetworkConfigError(f"cond_levels must be distinct upsampling blocks in 0..{self.num_blocks - 1} "
                                     f"(0 = coarsest), got {list(levels)}")
        return tuple(sorted(levels))

    # ----------------------------------------------------------------------------------------------- info
    @property
    def num_aus(self) -> int:
        return len(self.au_names)

    @property
    def needs_source_au(self) -> bool:
        """Whether calls must pass ``source_au`` (the ``au_residual`` head in ``change`` mode)."""
        return self.head_kind == "au_residual" and self.residual_mode == "change"

    def config(self) -> dict:
        """The constructor arguments (JSON-ready) that rebuild this decoder (footprints come with the weights)."""
        return {"au_names": list(self.au_names), "conditioning": list(self.conditioning), "head": self.head_kind,
                "latent_dim": self.latent_dim, "channels": list(self.channels), "init_size": self.init_size,
                "out_scale": self.out_scale, "au_input": self.au_input, "residual_mode": self.residual_mode,
                "cond_hidden": self.cond_hidden, "cond_levels": list(self.cond_levels) or None,
                "blendshapes": self.num_blendshapes}

    def au_signal(self, au: Tensor) -> Tensor:
        """AU intensities 0..5 as the network sees them (scaled by ``au_input``)."""
        return au * AU_INPUTS[self.au_input]

    # -------------------------------------------------------------------------------------------- forward
    def forward(self, latent: Tensor, au: Tensor, source_au: Tensor | None = None) -> Tensor:
        b = latent.shape[0]
        check_shape(latent, (None, self.latent_dim), "DetailDecoder: latent")
        check_shape(au, (b, self.num_aus), "DetailDecoder: au")
        if self.needs_source_au:
            if source_au is None:
                raise ShapeError(f"DetailDecoder: the au_residual head in change mode needs source_au "
                                 f"(B, {self.num_aus}), the AUs the latent code was fitted to; got None")
            check_shape(source_au, (b, self.num_aus), "DetailDecoder: source_au")
        elif source_au is not None:
            raise ShapeError("DetailDecoder: source_au given but this decoder does not use it (only the au_residual "
                             "head in change mode does)")
        c = self.au_signal(au.to(latent.dtype))
        z = torch.cat([latent, c], dim=1) if self.concat_aus else latent
        h = self.l1(z).view(b, self.channels[0], self.init_size, self.init_size)
        fp = None if self.footprints is None else self.footprints.to(h.dtype).unsqueeze(0).expand(b, -1, -1, -1)
        blocks = self.conv_blocks
        h = blocks[0](h)
        for i in range(self.num_blocks):
            up, conv, bn, act = blocks[4 * i + 1: 4 * i + 5]
            h = bn(conv(up(h)))
            if str(i) in self.modulation:
                h = self.modulation[str(i)](h, c, fp)
            h = act(h)
        y = blocks[4 * self.num_blocks + 2](blocks[4 * self.num_blocks + 1](h))
        if self.residual is not None:
            scale = c if source_au is None else c - self.au_signal(source_au.to(c.dtype))
            r = self.residual(h)
            weight = scale[:, :, None, None] * F.interpolate(fp, size=r.shape[-2:], mode="bilinear",
                                                             align_corners=False) \
                if fp.shape[-2:] != r.shape[-2:] else scale[:, :, None, None] * fp
            y = y + (weight * r).sum(dim=1, keepdim=True)
        if self.blendshapes is not None:
            powers = torch.stack([c ** (d + 1) for d in range(self.num_blendshapes)], dim=2)
            y = y + torch.einsum("bkd,kdhw->bhw", powers, self.blendshapes.to(y.dtype)).unsqueeze(1)
        return y * self.out_scale

    # ------------------------------------------------------------------------------------------- DECA I/O
    def deca_state_dict(self) -> dict[str, Tensor]:
        """DECA's part of the weights (``l1.0.*``, ``conv_blocks.*``) in DECA's layout, to put back into a
        ``D_detail`` (with ``concat_latent``, ``l1.0.weight`` has latent_dim + K columns: their AU-concat
        variant). Refused when other conditioning is present, whose weights DECA's class cannot hold."""
        if set(self.conditioning) - {"concat_latent"} or self.head_kind != "direct" or self.num_blendshapes:
            raise NetworkConfigError(f"conditioning {list(self.conditioning)} with the {self.head_kind} head"
                                     f"{' and blendshapes' if self.num_blendshapes else ''} has weights outside "
                                     "DECA's architecture; only concat_latent + direct exports to a D_detail state "
                                     "dict")
        keys = set(deca_keys(self.num_blocks))
        return {k: v.detach().clone() for k, v in self.state_dict().items() if k in keys}

    @classmethod
    def from_deca(cls, source: str | Path | Mapping, au_names: str | Sequence[str] = AU_NAMES,
                  conditioning: str | Sequence[str] = ("concat_latent",), head: str = "direct", *,
                  au_input: str = "unit", latent_dim: int = DECA_LATENT_DIM, **kwargs) -> DetailDecoder:
        """A decoder carrying the ``D_detail`` weights of a DECA/EMOCA checkpoint (see
        :func:`aucgan.deca.checkpoint.read_detail_state`), its architecture read from the weights' shapes.

        ``l1.0`` may take ``latent_dim`` inputs (DECA) or ``latent_dim + K`` (their variant with the AUs
        appended; needs ``concat_latent`` and the AU scale it was trained with as ``au_input``). Other keyword
        arguments (``footprints``, ``cond_hidden``, ...) go to the constructor.
        """
        state, where = read_detail_state(source)
        arch = architecture_of(state, where)
        names = [conditioning] if isinstance(conditioning, str) else list(conditioning)
        k = len(au_set(au_names if isinstance(au_names, str) else list(au_names)))
        extra = arch["in_features"] - latent_dim
        if extra == IDENTITY_DIM and extra != k:
            raise DecaCheckpointError(f"{where}: l1.0 takes {arch['in_features']} inputs: the {latent_dim}-value "
                                      f"latent plus {IDENTITY_DIM}, the FLAME shape code of EMOCA's "
                                      "identity-conditioned detail decoder ('identity' in its detail conditioning); "
                                      "aucgan's latent has no identity part: use a decoder conditioned on jaw pose, "
                                      "expression and detail (DECA's, or EMOCA's default)")
        if extra not in (0, k):
            raise DecaCheckpointError(f"{where}: l1.0 takes {arch['in_features']} inputs; expected {latent_dim} "
                                      f"(DECA's latent) or {latent_dim} + {k} (the latent with the {k} AUs "
                                      f"appended); pass the AU set the checkpoint was trained with")
        if extra and "concat_latent" not in names:
            raise DecaCheckpointError(f"{where}: l1.0 takes the latent plus {k} AU inputs (the AU-concat variant); "
                                      "include concat_latent in the conditioning to keep those weights")
        dec = cls(au_names, names, head, latent_dim=latent_dim, channels=arch["channels"],
                  init_size=arch["init_size"], au_input=au_input, **kwargs)
        own = dec.state_dict()
        loaded = dict(state)
        if dec.concat_aus and not extra:
            weight = own["l1.0.weight"].clone()
            weight[:, :latent_dim] = state["l1.0.weight"]
            weight[:, latent_dim:] = 0.0
            loaded["l1.0.weight"] = weight
        for key, value in loaded.items():
            if tuple(own[key].shape) != tuple(value.shape):
                raise DecaCheckpointError(f"{where}: {key} has shape {tuple(value.shape)}, the decoder "
                                          f"{tuple(own[key].shape)}")
        dec.load_state_dict({**own, **{k_: v.to(own[k_].dtype) for k_, v in loaded.items()}}, strict=True)
        return dec

