"""Shared building blocks of aucgan's networks: plain convolutions, norms, activations and shape checks.

Everything here is chosen to be cheap on a CPU (3x3 / 4x4 convolutions, instance norm, LeakyReLU, nearest
upsampling) and to support double backward (gradient penalties) and forward-mode autograd (Jacobians).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aucgan.errors import AucganError

NEG_SLOPE = 0.2
NORMS = ("instance", "batch", "none")


class ShapeError(AucganError, ValueError):
    """A tensor handed to a network has the wrong shape; the message names the argument and both shapes."""


class NetworkConfigError(AucganError, ValueError):
    """Network constructor arguments that do not fit together (sizes, levels, heads, architectures)."""


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``module`` (only ``requires_grad`` ones if ``trainable_only``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def check_shape(t: Tensor, shape: Sequence[int | None], name: str) -> None:
    """Raise :class:`ShapeError` unless ``t`` has ``len(shape)`` dims matching ``shape`` (None = any size)."""
    if t.dim() != len(shape) or any(s is not None and s != d for s, d in zip(shape, t.shape)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ShapeError(f"{name}: expected shape {want}, got {tuple(t.shape)}")


def channels(level: int, base: int, maximum: int) -> int:
    """Channel width at encoder depth ``level``: ``base * 2**level`` capped at ``maximum``."""
    return min(base * 2 ** level, maximum)


def check_pyramid(image_size: int, num_down: int, what: str) -> int:
    """Validate that ``image_size`` halves ``num_down`` times exactly; return the coarsest size."""
    if num_down < 1:
        raise NetworkConfigError(f"{what}: num_down must be >= 1, got {num_down}")
    if image_size < 2 ** num_down or image_size % 2 ** num_down:
        raise NetworkConfigError(f"{what}: image_size {image_size} must be a multiple of 2**num_down = "
                                 f"{2 ** num_down}")
    return image_size // 2 ** num_down


def make_norm(kind: str, num_features: int) -> nn.Module:
    """``instance`` (affine, no running stats), ``batch`` or ``none`` (identity)."""
    if kind == "instance":
        return nn.InstanceNorm2d(num_features, affine=True, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(num_features)
    if kind == "none":
        return nn.Identity()
    raise NetworkConfigError(f"unknown norm {kind!r}; valid norms: {', '.join(NORMS)}")


def act() -> nn.Module:
    """The activation used throughout (LeakyReLU 0.2)."""
    return nn.LeakyReLU(NEG_SLOPE)


def sn(module: nn.Module, enabled: bool) -> nn.Module:
    """Spectral normalisation (Miyato et al. 2018) of ``module.weight`` when ``enabled``."""
    return nn.utils.parametrizations.spectral_norm(module) if enabled else module


def conv3x3(cin: int, cout: int, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


def scale_init_(layer: nn.Conv2d | nn.Linear, scale: float) -> None:
    """Shrink a layer's default initial weights by ``scale`` and zero its bias: modulation layers ending in
    it start near the identity while still depending on their input (so gradients reach every weight)."""
    with torch.no_grad():
        layer.weight.mul_(scale)
        if layer.bias is not None:
            layer.bias.zero_()


class ConvNormAct(nn.Sequential):
    """conv (3x3, or 4x4 stride 2 when ``down``) -> norm -> LeakyReLU."""

    def __init__(self, cin: int, cout: int, norm: str = "instance", down: bool = False) -> None:
        conv = nn.Conv2d(cin, cout, 4, stride=2, padding=1) if down else conv3x3(cin, cout)
        super().__init__(conv, make_norm(norm, cout), act())


class MLP(nn.Sequential):
    """Linear -> LeakyReLU -> Linear; the last layer's initial weights scaled by ``out_scale``."""

    def __init__(self, cin: int, hidden: int, cout: int, out_scale: float = 1.0) -> None:
        super().__init__(nn.Linear(cin, hidden), act(), nn.Linear(hidden, cout))
        if out_scale != 1.0:
            scale_init_(self[2], out_scale)


def resize_to(maps: Tensor, size: Sequence[int]) -> Tensor:
    """Resize (B, C, H, W) maps to ``size``: area averaging when shrinking, bilinear when enlarging."""
    size = (int(size[0]), int(size[1]))
    if tuple(maps.shape[-2:]) == size:
        return maps
    if size[0] <= maps.shape[-2] and size[1] <= maps.shape[-1]:
        return F.adaptive_avg_pool2d(maps, size)
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def join_condition(au: Tensor, extra: Tensor | None, num_aus: int, extra_dim: int, batch: int,
                   who: str) -> Tensor:
    """The condition vector ``c = [au, extra]`` (batch, num_aus + extra_dim), with shape checks: ``extra`` is
    required when ``extra_dim > 0`` and refused otherwise (a silently dropped attribute is a silent bug)."""
    check_shape(au, (batch, num_aus), f"{who}: au")
    if extra_dim == 0:
        if extra is not None and extra.numel():
            raise ShapeError(f"{who}: got extra attributes {tuple(extra.shape)} but extra_dim=0")
        return au
    if extra is None:
        raise ShapeError(f"{who}: built with extra_dim={extra_dim} but no extra attributes given")
    check_shape(extra, (batch, extra_dim), f"{who}: extra")
    return torch.cat([au, extra.to(au.dtype)], dim=1)


def tile(c: Tensor, size: Sequence[int]) -> Tensor:
    """A (B, D) vector tiled into (B, D, H, W) constant maps."""
    return c[:, :, None, None].expand(-1, -1, int(size[0]), int(size[1]))


def jvp(f: Callable[[Tensor], Tensor], a: Tensor, tangent: Tensor) -> Tensor:
    """The Jacobian-vector product of ``f`` at ``a`` along ``tangent`` (detached): forward mode, falling back to
    the double-backward JVP where a layer lacks forward-mode support."""
    try:
        with warnings.catch_warnings():   # torch.func's first use scripts helpers with a deprecated API
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=DeprecationWarning)
            _, out = torch.func.jvp(f, (a,), (tangent,))
    except (RuntimeError, NotImplementedError):
        with torch.enable_grad():
            _, out = torch.autograd.functional.jvp(f, a, tangent)
    return out.detach()
