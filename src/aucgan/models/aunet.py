"""AUNet: a small CNN regressing AU intensities from maps.

Used frozen by the AU-consistency loss, and - trained with another seed and architecture - as the
independent judge of evaluation. Two architectures so the judge can differ from the training estimator:

* ``cnn``: per stage a 4x4 stride-2 conv and a 3x3 conv, BatchNorm, LeakyReLU.
* ``resnet``: per stage a residual block (two 3x3 convs, the first with stride 2; average-pool + 1x1
  shortcut), BatchNorm, ReLU.

BatchNorm (not instance/group norm) keeps the features' amplitude, which is what wrinkle depth - and thus
AU intensity - is. Both end in the same head: features pooled to 4x4 (where the AU acts matters), a hidden
linear layer and a linear layer to ``num_aus`` logits; the last linear layer's input is the ``hidden``-d
feature vector that feature-space metrics read.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from aucgan.au import from_unit
from aucgan.nn.layers import ConvNormAct, NetworkConfigError, act, channels, check_shape, conv3x3

ARCHS = ("cnn", "resnet")
POOL = 4


class ResidualDown(nn.Module):
    """conv3x3/2 -> BN -> ReLU -> conv3x3 -> BN, plus avg-pool + 1x1 shortcut, then ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(cout), nn.ReLU(),
                                  conv3x3(cout, cout, bias=False), nn.BatchNorm2d(cout))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, ceil_mode=True), nn.Conv2d(cin, cout, 1, bias=False))
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class AUNet(nn.Module):
    """Maps (B, in_channels, H, W) -> AU logits (B, num_aus); :meth:`predict` gives intensities 0..5.

    ``depth`` stride-2 stages with widths ``base_channels * 2**i`` (capped at ``max_channels``); any H, W
    (>= 2**depth) works.

    ``reads_renders``: part of every AU estimator's interface (the AU loss reads it). False: the estimator reads
    the maps themselves. An estimator of SH-lit renders (:class:`aucgan.models.shaded.ShadedAUNet`) sets it
    and takes the lighting as ``forward(x, sh)``.
    """

    reads_renders: ClassVar[bool] = False

    def __init__(self, in_channels: int, num_aus: int = 17, base_channels: int = 32, depth: int = 4,
                 arch: str = "cnn", *, hidden: int = 128, max_channels: int = 256) -> None:
        super().__init__()
        if arch not in ARCHS:
            raise NetworkConfigError(f"unknown AUNet arch {arch!r}; valid: {', '.join(ARCHS)}")
        if min(in_channels, num_aus, base_channels, depth, hidden) < 1:
            raise NetworkConfigError(f"AUNet: in_channels ({in_channels}), num_aus ({num_aus}), "
                                     f"base_channels ({base_channels}), depth ({depth}) and hidden "
                                     f"({hidden}) must be >= 1")
        self.in_channels, self.num_aus, self.arch = in_channels, num_aus, arch
        ch = [channels(i, base_channels, max_channels) for i in range(depth + 1)]
        if arch == "cnn":
            stages = [nn.Sequential(ConvNormAct(ch[i], ch[i + 1], norm="batch", down=True),
                                    ConvNormAct(ch[i + 1], ch[i + 1], norm="batch")) for i in range(depth)]
            stem = ConvNormAct(in_channels, ch[0], norm="batch")
        else:
            stages = [ResidualDown(ch[i], ch[i + 1]) for i in range(depth)]
            stem = nn.Sequential(conv3x3(in_channels, ch[0], bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU())
        self.features = nn.Sequential(stem, *stages, nn.AdaptiveAvgPool2d(POOL), nn.Flatten(),
                                      nn.Linear(ch[-1] * POOL * POOL, hidden),
                                      act() if arch == "cnn" else nn.ReLU())
        self.out = nn.Linear(hidden, num_aus)

    def forward(self, x: Tensor) -> Tensor:
        """AU logits (B, num_aus); ``sigmoid`` gives unit-scale intensities (0..1)."""
        check_shape(x, (None, self.in_channels, None, None), "AUNet: maps x")
        return self.out(self.features(x))

    def predict(self, x: Tensor) -> Tensor:
        """AU intensities on the FACS 0..5 scale: ``5 * sigmoid(logits)``."""
        return from_unit(torch.sigmoid(self.forward(x)))
