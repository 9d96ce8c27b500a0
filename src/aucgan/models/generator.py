"""The map generator: source maps + target AUs (+ attributes, + AU footprints) -> edited maps.

One encoder-decoder covers the designs compared in aucgan:

* ``architecture="bottleneck"`` (DECA's detail decoder): encoder -> ``latent_dim`` detail code;
  ``[code, AU embedding]`` -> FC -> (H / 2**num_down)^2 map -> upsampling decoder. Nothing but the code
  crosses from source to output, so the decoder must take expression detail from the condition.
* ``architecture="skip"`` (U-Net): encoder features at every resolution are concatenated into the decoder.

Conditioning layers come from :data:`aucgan.nn.conditioning.CONDITIONING` by name and combine:
``latent``/``input`` layers act once (at the code / on the input), ``norm``/``spatial`` layers at every
decoder level listed in ``cond_levels`` (0 = coarsest, at the bottleneck resolution; ``num_down`` = full
resolution). Several level-wise layers at one level share one normalisation (that of the first listed layer
that normalises) and then apply their modulations in the listed order. Levels without conditioning use an
affine instance norm.

Heads: ``direct`` -> ``out = tanh(conv(h))`` in (-1, 1); ``attention`` (GANimation) -> colour map
``C = tanh(.)`` in (-1, 1) and attention ``A = sigmoid(.)`` in [0, 1], ``out = A * source + (1 - A) * C``,
which lies between the source and (-1, 1) (within [-1, 1] for sources in [-1, 1]); ``au_residual`` -> one
residual map ``R_k`` per AU, ``out = source + sum_k delta_k * footprint_k * R_k`` with ``delta = target -
source AUs``: an AU that does not move changes nothing, and a single-AU edit changes the maps only inside
that AU's footprint (locality by construction; ``G(x, source AUs) = x`` exactly). With ``residual_extra``
(indices of expression attributes in ``extra``: emotion, valence) each of those values adds its own residual map
(from a second, zero-initialised head; on ``residual_extra_channels`` only, e.g. the albedo's) scaled by its change
``extra - source_extra``, inside the union of the footprints: an emotion's flush follows the emotion rather than
the AUs that often come with it, and an AU edit that keeps the emotion adds no flush. ``residual_mask="none"``
drops the footprints from the head (``out = source + sum_k delta_k * R_k``, attribute residuals over the whole map):
an AU that does not move still changes nothing, but where an AU acts is learnt, not given by the atlas.
``residual_mask="grown"`` uses each AU's footprint grown by 1/16 of the map: where the change spreads past the
atlas (in the strain world a footprint-masked edit cannot explain more than about 0.6 of the true change).
``residual_flow`` adds a second zero-initialised map per AU to the ``au_residual`` head, a 2-D flow: the source
is first resampled along ``sum_k delta_k * region_k * F_k`` (``region_k``: the footprint grown by 1/16 of
the map; the footprint itself with ``flow_grow=False``; everywhere with ``residual_mask="none"``), so the edit
moves the skin's existing detail (pores, lines, lids) with the tissue, then the residuals add what is new. Both
terms vanish where no AU moves, so ``G(x, source AUs) = x`` stays exact.

AU modes: ``absolute`` (GANimation) conditions on the target AUs; ``relative`` (Ling et al. ECCV 2020)
conditions on ``delta = target - source`` (negative deltas allowed), so callers pass ``source_au`` too.
Both take absolute targets at the call: ``G(x, target, fp, source_au=a_x)``.

Parameter counts for 4-channel maps (displacement + albedo) at 64 px, default widths (base 32, max 256,
num_down 3):

>>> baseline = MapGenerator(4, 4, conditioning="concat_latent", architecture="bottleneck")
>>> improved = MapGenerator(4, 4, conditioning=["adain", "spade_au"], architecture="skip")
>>> ganimation = MapGenerator(4, 4, conditioning="concat_input", head="attention")
>>> count_parameters(baseline), count_parameters(improved), count_parameters(ganimation)
(5362052, 2561092, 1868933)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aucgan.layout.heatmaps import HEATMAP_CHANNELS, LANDMARK_DIM, landmark_heatmaps
from aucgan.nn.conditioning import CONDITIONING, CondLevel, ModulationLayer
from aucgan.nn.layers import (
    ConvNormAct,
    NetworkConfigError,
    ShapeError,
    act,
    channels,
    check_pyramid,
    check_shape,
    conv3x3,
    count_parameters,
    join_condition,
    make_norm,
)

ARCHITECTURES = ("skip", "bottleneck")
HEADS = ("direct", "attention", "au_residual")
#: ``residual_mask="grown"`` and ``residual_flow`` act within each AU's footprint grown by 1/MASK_GROW of the map
#: width (max-pooled); the flow head's output is scaled by FLOW_SCALE (map widths), so zero-initialised flows grow
#: by sub-pixel steps.
MASK_GROW, FLOW_SCALE = 16, 0.05
AU_MODES = ("absolute", "relative")
RESIDUAL_MASKS = ("footprint", "grown", "none")
CODE_POOL = 4  # the bottleneck map is pooled to at most 4x4 before the linear layer that makes the code

__all__ = ["ARCHITECTURES", "AU_MODES", "HEADS", "RESIDUAL_MASKS", "Encoded", "MapGenerator", "count_parameters",
           "grow_mask", "resample"]


def grow_mask(mask: Tensor) -> Tensor:
    """Masks (B, K, H, W) grown by 1/MASK_GROW of their width (at least a pixel): max-pooled."""
    r = max(1, mask.shape[-1] // MASK_GROW)
    return F.max_pool2d(mask, 2 * r + 1, stride=1, padding=r)


def resample(x: Tensor, flow: Tensor) -> Tensor:
    """``x`` (B, C, H, W) read at each pixel moved by ``flow`` (B, 2, H, W; x then y, in map widths):
    ``out(p) = x(p + flow(p))``, bilinear, edges repeated."""
    h, w = x.shape[-2:]
    ys = (torch.arange(h, device=x.device, dtype=x.dtype) + 0.5) * (2.0 / h) - 1.0
    xs = (torch.arange(w, device=x.device, dtype=x.dtype) + 0.5) * (2.0 / w) - 1.0
    base = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1)          # (H, W, 2) = (x, y)
    grid = base[None] + 2.0 * flow.permute(0, 2, 3, 1).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass(frozen=True)
class Encoded:
    """What :meth:`MapGenerator.encode` extracts from source maps.

    ``code``: the (B, latent_dim) detail code (bottleneck architecture) or the (B, C, h, w) bottleneck feature
    map (skip architecture); None for generators with an ``input`` conditioning layer, whose encoder must see
    the condition - they encode inside :meth:`MapGenerator.decode`, so swapping codes swaps the whole input.
    ``skips``: encoder features for the U-Net decoder, coarse to fine (empty for the bottleneck architecture).
    ``source``: the source maps (the default source of the attention head).
    """

    source: Tensor
    code: Tensor | None
    skips: tuple[Tensor, ...] = ()


class MapGenerator(nn.Module):
    """AU-conditioned encoder-decoder over maps ``x: (B, in_channels, H, W)`` (roughly in [-1, 1]).

    ``forward(x, au, footprints=None, extra=None, source_au=None)`` -> ``{"out"}`` (+ ``"attention"``,
    ``"color"`` for the attention head) with target ``au: (B, num_aus)`` in 0..1, ``extra: (B, extra_dim)``
    attributes, ``footprints: (B, num_aus, h, w)`` in [0, 1] (any resolution; needed by ``spatial`` layers and
    the ``au_residual`` head with ``residual_mask="footprint"``) and ``source_au: (B, num_aus)`` the source's AUs
    (needed by the ``relative`` mode and the ``au_residual`` head, ignored otherwise).
    Optional keywords: ``embed_dim`` (AU embedding of ``latent`` layers), ``cond_hidden`` (hidden width of
    ``norm``/``spatial`` layers; None keeps each layer's default), ``landmark_heatmaps`` (the last 136 values
    of ``extra`` are landmark coordinates, rendered as 5 heatmap channels beside the input maps, GC-GAN style),
    ``residual_mask`` (``footprint``: the au_residual head acts inside the footprints; ``grown``: inside them grown
    by 1/16 of the map; ``none``: over the whole map),
    ``residual_flow`` (the au_residual head also moves the source along a flow per AU), ``flow_grow`` (the flow
    acts inside the footprints grown by 1/16 of the map; False: inside the footprints, with
    ``residual_mask="footprint"`` only).
    """

    def __init__(self, in_channels: int, out_channels: int, num_aus: int = 17, extra_dim: int = 0,
                 conditioning: str | Sequence[str] = "adain", base_channels: int = 32,
                 max_channels: int = 256, num_down: int = 3, architecture: str = "skip",
                 latent_dim: int = 128, cond_levels: Sequence[int] | None = None, head: str = "direct",
                 image_size: int = 64, *, embed_dim: int = 64, cond_hidden: int | None = None,
                 au_mode: str = "absolute", landmark_heatmaps: bool = False,
                 residual_extra: Sequence[int] = (), residual_extra_channels: Sequence[int] | None = None,
                 residual_mask: str = "footprint", residual_flow: bool = False, flow_grow: bool = True) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise NetworkConfigError(f"unknown generator architecture {architecture!r}; valid: "
                                     f"{', '.join(ARCHITECTURES)}")
        if head not in HEADS:
            raise NetworkConfigError(f"unknown generator head {head!r}; valid: {', '.join(HEADS)}")
        if au_mode not in AU_MODES:
            raise NetworkConfigError(f"unknown AU mode {au_mode!r}; valid: {', '.join(AU_MODES)}")
        if residual_mask not in RESIDUAL_MASKS:
            raise NetworkConfigError(f"unknown residual mask {residual_mask!r}; valid: {', '.join(RESIDUAL_MASKS)}")
        if residual_mask != "footprint" and head != "au_residual":
            raise NetworkConfigError(f"residual_mask {residual_mask!r} shapes the au_residual head; the head is "
                                     f"{head!r}")
        if min(in_channels, out_channels, num_aus, base_channels, latent_dim) < 1 or extra_dim < 0:
            raise NetworkConfigError("generator: channel counts, num_aus and latent_dim must be >= 1, "
                                     f"extra_dim >= 0 (got in={in_channels}, out={out_channels}, "
                                     f"num_aus={num_aus}, base={base_channels}, latent={latent_dim}, "
                                     f"extra={extra_dim})")
        if max_channels < base_channels:
            raise NetworkConfigError(f"generator: max_channels ({max_channels}) < base_channels "
                                     f"({base_channels})")
        if head in ("attention", "au_residual") and in_channels < out_channels:
            raise NetworkConfigError(f"{head} head blends the source into the output: in_channels "
                                     f"({in_channels}) must be >= out_channels ({out_channels})")
        if residual_flow and head != "au_residual":
            raise NetworkConfigError(f"residual_flow moves the source inside the au_residual head; the head is "
                                     f"{head!r}")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.num_aus, self.extra_dim, self.cond_dim = num_aus, extra_dim, num_aus + extra_dim
        self.architecture, self.head_kind, self.num_down = architecture, head, num_down
        if not flow_grow and not (residual_flow and residual_mask == "footprint"):
            raise NetworkConfigError("flow_grow=False keeps the flow inside the footprints: it needs residual_flow "
                                     f"and residual_mask 'footprint' (got residual_flow={residual_flow}, "
                                     f"residual_mask={residual_mask!r})")
        self.au_mode, self.residual_mask, self.residual_flow = au_mode, residual_mask, bool(residual_flow)
        self.flow_grow = bool(flow_grow)
        self.residual_extra = tuple(int(i) for i in residual_extra)
        if self.residual_extra and head != "au_residual":
            raise NetworkConfigError("residual_extra (attribute residual maps) needs the au_residual head")
        bad = [i for i in self.residual_extra if not 0 <= i < extra_dim]
        if bad or len(set(self.residual_extra)) != len(self.residual_extra):
            raise NetworkConfigError(f"residual_extra must be distinct indices into the {extra_dim} extra values, "
                                     f"got {list(self.residual_extra)}")
        chs = tuple(range(out_channels)) if residual_extra_channels is None else tuple(residual_extra_channels)
        if not chs or any(not 0 <= c < out_channels for c in chs) or len(set(chs)) != len(chs):
            raise NetworkConfigError(f"residual_extra_channels must be distinct output channels in "
                                     f"0..{out_channels - 1}, got {list(chs)}")
        self.residual_extra_channels = chs
        if landmark_heatmaps and extra_dim < LANDMARK_DIM:
            raise NetworkConfigError(f"landmark_heatmaps reads the last {LANDMARK_DIM} extra values as landmark "
                                     f"coordinates, but extra_dim is {extra_dim}")
        self.landmark_heatmaps = bool(landmark_heatmaps)
        self.image_size, self.latent_dim = image_size, latent_dim
        self.bottom = check_pyramid(image_size, num_down, "generator")
        self.num_levels = num_down + 1
        names = [conditioning] if isinstance(conditioning, str) else list(conditioning)
        classes = [CONDITIONING.get(n) for n in names]
        if not names or len(set(names)) != len(names):
            raise NetworkConfigError(f"generator conditioning must name one or more distinct layers, "
                                     f"got {names}")
        self.conditioning = tuple(names)
        by_kind = {k: [(n, cls) for n, cls in zip(names, classes) if cls.injection in k]
                   for k in (("input",), ("latent",), ("norm", "spatial"))}
        levelwise = by_kind[("norm", "spatial")]
        self.cond_levels = self._levels(cond_levels, bool(levelwise))
        self.uses_footprints = (head == "au_residual" and residual_mask != "none") or \
            any(cls.injection == "spatial" for cls in classes)

        ch = [channels(i, base_channels, max_channels) for i in range(num_down + 1)]
        cin = in_channels + (HEATMAP_CHANNELS if landmark_heatmaps else 0)
        self.input_layers = nn.ModuleList()
        for _, cls in by_kind[("input",)]:
            self.input_layers.append(cls(cin, self.cond_dim))
            cin = self.input_layers[-1].out_channels
        self.stem = ConvNormAct(cin, ch[0])
        self.downs = nn.ModuleList(ConvNormAct(ch[i], ch[i + 1], down=True) for i in range(num_down))

        self.latent_layers = nn.ModuleList()
        self.to_code = self.from_code = None
        if architecture == "bottleneck" or by_kind[("latent",)]:
            pool = min(CODE_POOL, self.bottom)
            self.to_code = nn.Sequential(nn.AdaptiveAvgPool2d(pool), nn.Flatten(),
                                         nn.Linear(ch[-1] * pool * pool, latent_dim))
            dim = latent_dim
            for _, cls in by_kind[("latent",)]:
                self.latent_layers.append(cls(dim, self.cond_dim, embed_dim=embed_dim))
                dim = self.latent_layers[-1].out_dim
            self.from_code = nn.Sequential(nn.Linear(dim, ch[-1] * self.bottom ** 2), act())

        hidden = {} if cond_hidden is None else {"hidden": cond_hidden}
        self.level_convs, self.level_norms = nn.ModuleList(), nn.ModuleList()
        prev = ch[-1]
        for level in range(self.num_levels):
            width = ch[num_down - level]
            skip = width if architecture == "skip" and level > 0 else 0
            self.level_convs.append(conv3x3(prev + skip, width))
            if level in self.cond_levels:
                layers = [self._modulation(cls, width, hidden) for _, cls in levelwise]
                self.level_norms.append(CondLevel(layers))
            else:
                self.level_norms.append(make_norm("instance", width))
            prev = width
        self.act = act()
        head_channels = {"direct": out_channels, "attention": out_channels + 1,
                         "au_residual": out_channels * num_aus}[head]
        self.head = conv3x3(ch[0], head_channels)
        self.attr_head = None
        if self.residual_extra:               # starts at zero: attributes add nothing until training says so
            self.attr_head = conv3x3(ch[0], len(chs) * len(self.residual_extra))
            nn.init.zeros_(self.attr_head.weight)
            nn.init.zeros_(self.attr_head.bias)
        self.flow_head = None
        if self.residual_flow:                # starts at zero: the first edits move nothing
            self.flow_head = conv3x3(ch[0], 2 * num_aus)
            nn.init.zeros_(self.flow_head.weight)
            nn.init.zeros_(self.flow_head.bias)

    # ----------------------------------------------------------------------------------------- building
    def _levels(self, cond_levels: Sequence[int] | None, levelwise: bool) -> tuple[int, ...]:
        if cond_levels is None:
            return tuple(range(self.num_levels)) if levelwise else ()
        levels = tuple(int(v) for v in cond_levels)
        if not levelwise:
            raise NetworkConfigError(f"cond_levels {list(levels)} given but no norm/spatial conditioning "
                                     f"layer is selected (conditioning: {list(self.conditioning)})")
        bad = [v for v in levels if not 0 <= v < self.num_levels]
        if not levels or bad or len(set(levels)) != len(levels):
            raise NetworkConfigError(f"cond_levels must be distinct decoder levels in "
                                     f"0..{self.num_levels - 1} (0 = coarsest; num_down={self.num_down}), "
                                     f"got {list(levels)}")
        return tuple(sorted(levels))

    def _modulation(self, cls: type[nn.Module], width: int, hidden: dict) -> ModulationLayer:
        if cls.injection == "spatial":
            return cls(num_features=width, num_aus=self.num_aus, cond_dim=self.cond_dim, **hidden)
        return cls(num_features=width, cond_dim=self.cond_dim, **hidden)

    # ------------------------------------------------------------------------------------------ checks
    def _check_maps(self, x: Tensor) -> None:
        check_shape(x, (None, self.in_channels, None, None), "generator: maps x")
        h, w = x.shape[-2:]
        if self.architecture == "bottleneck" and (h, w) != (self.image_size, self.image_size):
            raise ShapeError(f"generator: maps x are {h}x{w} but the bottleneck generator was built for "
                             f"{self.image_size}x{self.image_size}")
        if h % 2 ** self.num_down or w % 2 ** self.num_down:
            raise ShapeError(f"generator: maps x are {h}x{w}, not a multiple of 2**num_down = "
                             f"{2 ** self.num_down}")

    @property
    def needs_source_au(self) -> bool:
        """Whether calls must pass ``source_au`` (relative mode or the ``au_residual`` head)."""
        return self.au_mode == "relative" or self.head_kind == "au_residual"

    def _delta(self, au: Tensor, source_au: Tensor | None) -> Tensor | None:
        if not self.needs_source_au:
            return None
        if source_au is None:
            raise ShapeError(f"generator: the {self.au_mode} AU mode with the {self.head_kind} head needs "
                             f"source_au (B, {self.num_aus}), the AUs of the source maps; got None")
        check_shape(source_au, tuple(au.shape), "generator: source_au")
        return au - source_au.to(au.dtype)

    def condition(self, au: Tensor, extra: Tensor | None, batch: int, source_au: Tensor | None = None) -> Tensor:
        """The condition vector ``c = [au or au - source_au (relative mode), extra]`` (B, cond_dim)."""
        delta = self._delta(au, source_au)
        cond_au = delta if self.au_mode == "relative" else au
        return join_condition(cond_au, extra, self.num_aus, self.extra_dim, batch, "generator")

    # ----------------------------------------------------------------------------------------- forward
    def _encoder(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        if self.landmark_heatmaps:
            x = torch.cat([x, landmark_heatmaps(c[:, -LANDMARK_DIM:], tuple(x.shape[-2:])).to(x.dtype)], dim=1)
        for layer in self.input_layers:
            x = layer(x, c)
        feats = [self.stem(x)]
        for down in self.downs:
            feats.append(down(feats[-1]))
        return feats[-1], tuple(reversed(feats[:-1]))

    def _encoded(self, x: Tensor, c: Tensor | None) -> Encoded:
        bottom, skips = self._encoder(x, c)
        if self.architecture == "bottleneck":
            return Encoded(source=x, code=self.to_code(bottom))
        return Encoded(source=x, code=bottom, skips=skips)

    def encode(self, x: Tensor) -> Encoded:
        """Source maps -> :class:`Encoded` (detail code or bottleneck map, skip features)."""
        self._check_maps(x)
        if len(self.input_layers) or self.landmark_heatmaps:
            return Encoded(source=x, code=None)
        return self._encoded(x, None)

    def _latent(self, z: Tensor, c: Tensor) -> Tensor:
        for layer in self.latent_layers:
            z = layer(z, c)
        return self.from_code(z).reshape(z.shape[0], -1, self.bottom, self.bottom)

    def decode(self, enc: Encoded, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
               source: Tensor | None = None, source_au: Tensor | None = None,
               modulate: Callable[[int, Tensor], Tensor] | None = None,
               source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """Maps from an :class:`Encoded` and a condition; ``source`` (default ``enc.source``) feeds the
        attention/residual head and ``source_au`` / ``source_extra`` are its AUs and attributes (``source_extra``
        None: the source has the edit's attributes). ``decode(encode(x), au, fp)`` equals ``forward(x, au, fp)``.
        ``modulate(level, h)``, if given, transforms each decoder level's conditioned features before the
        activation (region style codes, :mod:`aucgan.models.sean`)."""
        batch = enc.source.shape[0]
        c = self.condition(au, extra, batch, source_au)
        if self.uses_footprints and footprints is None:
            raise ShapeError(f"generator: conditioning {list(self.conditioning)} needs the AU footprints "
                             f"(B, {self.num_aus}, H, W); got None")
        if enc.code is None:
            enc = self._encoded(enc.source, c)
        if self.architecture == "bottleneck":
            h = self._latent(enc.code, c)
        elif len(self.latent_layers):
            h = enc.code + self._latent(self.to_code(enc.code), c)
        else:
            h = enc.code
        for level, (conv, norm) in enumerate(zip(self.level_convs, self.level_norms)):
            if level > 0:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")
                if self.architecture == "skip":
                    h = torch.cat([h, enc.skips[level - 1]], dim=1)
            h = conv(h)
            h = norm(h, c, footprints) if isinstance(norm, CondLevel) else norm(h)
            if modulate is not None:
                h = modulate(level, h)
            h = self.act(h)
        y = self.head(h)
        if self.head_kind == "direct":
            return {"out": torch.tanh(y)}
        src = enc.source if source is None else source
        if self.head_kind == "au_residual":
            attr = None if self.attr_head is None else (self.attr_head(h), self._extra_delta(extra, source_extra))
            flow = None if self.flow_head is None else self.flow_head(h)
            return self._au_residual(y, src, footprints, au - source_au.to(au.dtype), attr, flow)
        check_shape(src, (batch, None, y.shape[-2], y.shape[-1]), "generator: attention source")
        if src.shape[1] < self.out_channels:
            raise ShapeError(f"generator: attention source has {src.shape[1]} channels, needs >= "
                             f"{self.out_channels}")
        color = torch.tanh(y[:, :self.out_channels])
        attention = torch.sigmoid(y[:, self.out_channels:])
        out = attention * src[:, :self.out_channels] + (1.0 - attention) * color
        return {"out": out, "attention": attention, "color": color}

    def _extra_delta(self, extra: Tensor | None, source_extra: Tensor | None) -> Tensor | None:
        """The change of the residual attributes, ``(extra - source_extra)[:, residual_extra]`` (zero when the
        source's attributes are not given: they are then the edit's own)."""
        if not self.residual_extra:
            return None
        idx = list(self.residual_extra)
        if source_extra is None:
            return extra.new_zeros(extra.shape[0], len(idx))
        check_shape(source_extra, tuple(extra.shape), "generator: source_extra")
        return (extra - source_extra.to(extra.dtype))[:, idx]

    def _residual_mask(self, footprints: Tensor | None, y: Tensor) -> Tensor:
        """Where each AU's residual acts, (B, K, H, W): its footprint (``grown``: grown by 1/MASK_GROW of the map),
        or everywhere (``residual_mask="none"``)."""
        if self.residual_mask == "none":
            return y.new_ones(y.shape[0], self.num_aus, *y.shape[-2:])
        fp = F.interpolate(footprints.to(y.dtype), size=y.shape[-2:], mode="bilinear", align_corners=False) \
            if footprints.shape[-2:] != y.shape[-2:] else footprints.to(y.dtype)
        return grow_mask(fp) if self.residual_mask == "grown" else fp

    def _au_residual(self, y: Tensor, src: Tensor, footprints: Tensor | None, delta: Tensor,
                     attr: tuple[Tensor, Tensor] | None = None, flow: Tensor | None = None) -> dict[str, Tensor]:
        b, c, k = y.shape[0], self.out_channels, self.num_aus
        check_shape(src, (b, None, y.shape[-2], y.shape[-1]), "generator: residual source")
        fp = self._residual_mask(footprints, y)
        base, moved = src[:, :c], {}
        if flow is not None:                    # move the source's detail with the tissue first
            region = grow_mask(fp) if self.residual_mask == "footprint" and self.flow_grow else fp
            f = FLOW_SCALE * torch.einsum("bkhw,bkdhw->bdhw", region * delta[:, :, None, None],
                                          flow.reshape(b, k, 2, *y.shape[-2:]))
            base = base + resample(base, f) - resample(base, torch.zeros_like(f))
            moved = {"flow": f}
        weight = fp * delta[:, :, None, None]                                   # (B, K, H, W)
        change = torch.einsum("bkhw,bkchw->bchw", weight, y.reshape(b, k, c, *y.shape[-2:]))
        if attr is not None:                    # attribute residuals, on their channels, where expressions act
            maps, extra_delta = attr
            chs, e = list(self.residual_extra_channels), len(self.residual_extra)
            w_attr = fp.amax(dim=1, keepdim=True) * extra_delta.to(y.dtype)[:, :, None, None]   # (B, E, H, W)
            attr_change = torch.einsum("behw,bechw->bchw", w_attr, maps.reshape(b, e, len(chs), *y.shape[-2:]))
            change = change.index_add(1, torch.tensor(chs, device=change.device), attr_change)
        return {"out": base + change, "change": base + change - src[:, :c], **moved}

    def edit(self, enc: Encoded, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
             source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """The whole edit from an :class:`Encoded`: one decoder pass (:class:`aucgan.models.interface.Generator`)."""
        return self.decode(enc, au, footprints, extra, source_au=source_au, source_extra=source_extra)

    def forward(self, x: Tensor, au: Tensor, footprints: Tensor | None = None,
                extra: Tensor | None = None, source_au: Tensor | None = None,
                source_extra: Tensor | None = None) -> dict[str, Tensor]:
        return self.edit(self.encode(x), au, footprints, extra, source_au=source_au, source_extra=source_extra)
