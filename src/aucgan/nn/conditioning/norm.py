"""Per-channel modulation from the condition vector: AdaIN, conditional BatchNorm and FiLM.

Each maps ``c`` through a small MLP to per-channel ``(gamma, beta)`` and returns ``(1 + gamma) * n(h) + beta``
where ``n`` is the layer's parameter-free normalisation. The MLP's last layer starts with shrunken weights
and zero bias, so a new layer is close to the identity modulation (stable early training) while still
depending on ``c``.
"""

from __future__ import annotations

from torch import Tensor, nn

from aucgan.nn.conditioning.base import CONDITIONING, ModulationLayer, affine
from aucgan.nn.layers import MLP

INIT_SCALE = 0.1


class _MLPModulation(ModulationLayer):
    def __init__(self, num_features: int, cond_dim: int, hidden: int = 64) -> None:
        super().__init__(num_features, cond_dim)
        self.mlp = MLP(cond_dim, hidden, 2 * num_features, out_scale=INIT_SCALE)

    def modulate(self, h: Tensor, c: Tensor, footprints: Tensor | None = None) -> Tensor:
        gamma, beta = self.mlp(c.to(h.dtype)).chunk(2, dim=1)
        return affine(h, gamma, beta)


@CONDITIONING.register("adain")
class AdaIN(_MLPModulation):
    """Adaptive instance norm (Huang & Belongie 2017; StarGAN v2's AdaIN): instance-normalised features with
    per-sample, per-channel scale/shift from the condition."""

    def __init__(self, num_features: int, cond_dim: int, hidden: int = 64) -> None:
        super().__init__(num_features, cond_dim, hidden)
        self.norm = nn.InstanceNorm2d(num_features, affine=False, track_running_stats=False)

    def normalize(self, h: Tensor) -> Tensor:
        return self.norm(h)


@CONDITIONING.register("cbn")
class ConditionalBatchNorm(_MLPModulation):
    """Conditional batch norm (de Vries et al. 2017): BatchNorm without affine (running statistics for
    eval) and scale/shift from the condition."""

    def __init__(self, num_features: int, cond_dim: int, hidden: int = 64) -> None:
        super().__init__(num_features, cond_dim, hidden)
        self.norm = nn.BatchNorm2d(num_features, affine=False)

    def normalize(self, h: Tensor) -> Tensor:
        return self.norm(h)


@CONDITIONING.register("film")
class FiLM(_MLPModulation):
    """FiLM (Perez et al. 2018): ``(1 + gamma) * h + beta`` on the raw features, no normalisation."""

    normalizes = False
