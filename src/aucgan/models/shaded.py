"""An AU estimator that reads shaded renders: maps -> SH-lit render (albedo x shading(normals)) -> AUNet.

Wrinkles are visible to a camera as shading, not as displacement numbers; an estimator trained on renders
under random lighting (``aunet.input: shaded``) judges AU consistency where AUs are actually visible. The
wrapper takes the same stacked map tensor as a map-reading AUNet, so the AU loss, ``train-au`` and the
``au_control`` metric use it unchanged.

Lighting: in training mode each sample gets a random plausible lighting (torch's global generator, seeded by
the loops); in eval mode a fixed seeded sequence (sample ``i`` of a batch always gets lighting ``i``), so
evaluations are repeatable; callers may pass ``sh`` explicitly.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from aucgan.au import from_unit
from aucgan.data.codec import MapCodec
from aucgan.models.aunet import AUNet
from aucgan.render.sh import lighting_preset, random_lighting
from aucgan.render.shaded import Renderer

EVAL_LIGHTING_SEED = 20240


class ShadedAUNet(nn.Module):
    """``net`` (an :class:`AUNet` over 3-channel renders) applied to shaded renders of map tensors.

    ``reads_renders`` (the AU estimators' capability flag, see :class:`AUNet`): ``forward`` takes ``sh``."""

    reads_renders: ClassVar[bool] = True

    def __init__(self, net: AUNet, codec: MapCodec, renderer: Renderer, lighting: str = "random") -> None:
        super().__init__()
        if net.in_channels != 3:
            raise ValueError(f"a shaded AU estimator reads RGB renders: in_channels must be 3, got {net.in_channels}")
        if lighting != "random":
            lighting_preset(lighting)  # fails loudly with the valid names
        self.net, self.codec, self.renderer, self.lighting = net, codec, renderer, lighting
        self.in_channels, self.num_aus = codec.channels, net.num_aus
        self._eval_sh: Tensor | None = None

    def lighting_for(self, n: int, device: torch.device) -> Tensor:
        """SH lighting (n, 9, 3) for a batch of ``n`` (see the module docstring)."""
        if self.lighting != "random":
            return lighting_preset(self.lighting).to(device).expand(n, -1, -1)
        if self.training:
            return random_lighting(n).to(device)
        if self._eval_sh is None or self._eval_sh.shape[0] < n:
            self._eval_sh = random_lighting(max(n, 64), torch.Generator().manual_seed(EVAL_LIGHTING_SEED))
        return self._eval_sh[:n].to(device)

    def render(self, x: Tensor, sh: Tensor | None = None) -> Tensor:
        """The render (B, 3, H, W) in network scale (2 r - 1) that the estimator reads."""
        sh = self.lighting_for(x.shape[0], x.device) if sh is None else sh
        return self.renderer.render_network(x, self.codec, sh)

    def forward(self, x: Tensor, sh: Tensor | None = None) -> Tensor:
        return self.net(self.render(x, sh))

    def predict(self, x: Tensor, sh: Tensor | None = None) -> Tensor:
        """AU intensities on the 0..5 scale."""
        return from_unit(torch.sigmoid(self.forward(x, sh)))
