"""The conditioning registry and the contract its entries follow.

Every entry is a small self-contained ``nn.Module`` class with a class attribute ``injection`` saying where
the generator applies it:

* ``latent`` - once, on the generator's latent code: ``__init__(latent_dim, cond_dim, ...)``, attribute
  ``out_dim``, ``forward(z: (B, latent_dim), c: (B, cond_dim)) -> (B, out_dim)``.
* ``input`` - once, on the generator's input maps: ``__init__(in_channels, cond_dim)``, attribute
  ``out_channels``, ``forward(x: (B, C, H, W), c) -> (B, out_channels, H, W)``.
* ``norm`` - at every conditioned decoder level: ``__init__(num_features, cond_dim, hidden=...)``,
  ``forward(h: (B, F, H, W), c, footprints=None) -> (B, F, H, W)``.
* ``spatial`` - like ``norm`` but reading the AU footprints: ``__init__(num_features, num_aus, cond_dim,
  hidden=...)``.

``norm`` and ``spatial`` entries subclass :class:`ModulationLayer`, which splits ``forward`` into
``normalize`` (parameter-free) and ``modulate`` so that several of them can share one normalisation at a
decoder level (normalising twice would erase the first layer's per-channel modulation).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from torch import Tensor, nn

from aucgan.nn.layers import NetworkConfigError, check_shape
from aucgan.nn.registry import Registry

INJECTIONS = ("latent", "input", "norm", "spatial")

CONDITIONING: Registry[type[nn.Module]] = Registry("conditioning")


def injection_of(name: str) -> str:
    """Where the conditioning layer ``name`` is applied (one of :data:`INJECTIONS`)."""
    return CONDITIONING.get(name).injection


def check_cond(c: Tensor, batch: int, cond_dim: int, who: str) -> None:
    """Check that the condition vector is (batch, cond_dim)."""
    check_shape(c, (batch, cond_dim), f"{who}: condition c")


def affine(h: Tensor, gamma: Tensor, beta: Tensor) -> Tensor:
    """``(1 + gamma) * h + beta`` with per-channel (B, F) or per-pixel (B, F, H, W) gamma/beta."""
    if gamma.dim() == 2:
        gamma, beta = gamma[:, :, None, None], beta[:, :, None, None]
    return h * (1.0 + gamma) + beta


class ModulationLayer(nn.Module):
    """Base of the ``norm``/``spatial`` layers: ``forward(h, c, fp) = modulate(normalize(h), c, fp)``."""

    injection: ClassVar[str] = "norm"
    #: Whether ``normalize`` does anything (FiLM does not normalise).
    normalizes: ClassVar[bool] = True

    def __init__(self, num_features: int, cond_dim: int) -> None:
        super().__init__()
        if num_features < 1 or cond_dim < 1:
            raise NetworkConfigError(f"{type(self).__name__}: num_features ({num_features}) and cond_dim "
                                     f"({cond_dim}) must be >= 1")
        self.num_features = num_features
        self.cond_dim = cond_dim

    def normalize(self, h: Tensor) -> Tensor:
        """Parameter-free normalisation of the features (identity by default)."""
        return h

    def modulate(self, h: Tensor, c: Tensor, footprints: Tensor | None = None) -> Tensor:
        """Scale and shift (already normalised) features ``h`` from the condition."""
        raise NotImplementedError

    def forward(self, h: Tensor, c: Tensor, footprints: Tensor | None = None) -> Tensor:
        check_shape(h, (None, self.num_features, None, None), f"{type(self).__name__}: features h")
        check_cond(c, h.shape[0], self.cond_dim, type(self).__name__)
        return self.modulate(self.normalize(h), c, footprints)


class CondLevel(nn.Module):
    """The conditioning of one decoder level: one shared normalisation (the first layer that normalises), then
    each layer's modulation in turn (the map generator's levels; the DECA decoder gates it into DECA's features)."""

    def __init__(self, layers: Sequence[ModulationLayer]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.norm_index = next((i for i, layer in enumerate(layers) if layer.normalizes), None)

    def normalize(self, h: Tensor) -> Tensor:
        return h if self.norm_index is None else self.layers[self.norm_index].normalize(h)

    def modulate(self, n: Tensor, c: Tensor, footprints: Tensor | None) -> Tensor:
        for layer in self.layers:
            n = layer.modulate(n, c, footprints)
        return n

    def forward(self, h: Tensor, c: Tensor, footprints: Tensor | None) -> Tensor:
        return self.modulate(self.normalize(h), c, footprints)
