"""Shared network helpers: the Jacobian-vector product used by the sensitivity metric and the DECA diagnosis."""

import torch

from aucgan.nn.layers import jvp


def test_jvp_matches_the_jacobian_in_forward_mode_and_in_the_fallback():
    w = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    a, tangent = torch.randn(4), torch.randn(4)
    assert torch.allclose(jvp(lambda x: torch.tanh(w @ x), a, tangent),
                          (1 - torch.tanh(w @ a) ** 2) * (w @ tangent), atol=1e-6)

    class NoForwardMode(torch.autograd.Function):   # a layer without forward-mode support: the double backward
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    assert torch.allclose(jvp(lambda x: NoForwardMode.apply(w @ x), a, tangent), 2 * (w @ tangent), atol=1e-6)
