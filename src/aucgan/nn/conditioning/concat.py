"""Concatenation conditioning: AUs joined to the latent code (the existing DECA-style design) or tiled as
extra input channels (GANimation, StarGAN)."""

from __future__ import annotations

from torch import Tensor, cat, nn

from aucgan.nn.conditioning.base import CONDITIONING, check_cond
from aucgan.nn.layers import MLP, NetworkConfigError, check_shape, tile


@CONDITIONING.register("concat_latent")
class ConcatLatent(nn.Module):
    """``[z, MLP(c)]``: an AU embedding concatenated to the latent code (applied once, at the code)."""

    injection = "latent"

    def __init__(self, latent_dim: int, cond_dim: int, embed_dim: int = 64) -> None:
        super().__init__()
        if min(latent_dim, cond_dim, embed_dim) < 1:
            raise NetworkConfigError(f"concat_latent: latent_dim ({latent_dim}), cond_dim ({cond_dim}) and "
                                     f"embed_dim ({embed_dim}) must be >= 1")
        self.latent_dim, self.cond_dim, self.embed_dim = latent_dim, cond_dim, embed_dim
        self.out_dim = latent_dim + embed_dim
        self.embed = MLP(cond_dim, embed_dim, embed_dim)

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        check_shape(z, (None, self.latent_dim), "concat_latent: code z")
        check_cond(c, z.shape[0], self.cond_dim, "concat_latent")
        return cat([z, self.embed(c)], dim=1)


@CONDITIONING.register("concat_input")
class ConcatInput(nn.Module):
    """``[x, tile(c)]``: the condition tiled into H x W constant channels joined to the input maps.

    Parameter-free: the generator's first convolution learns what to do with the extra channels.
    """

    injection = "input"

    def __init__(self, in_channels: int, cond_dim: int) -> None:
        super().__init__()
        if in_channels < 1 or cond_dim < 1:
            raise NetworkConfigError(f"concat_input: in_channels ({in_channels}) and cond_dim ({cond_dim}) "
                                     "must be >= 1")
        self.in_channels, self.cond_dim = in_channels, cond_dim
        self.out_channels = in_channels + cond_dim

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        check_shape(x, (None, self.in_channels, None, None), "concat_input: maps x")
        check_cond(c, x.shape[0], self.cond_dim, "concat_input")
        return cat([x, tile(c.to(x.dtype), x.shape[-2:])], dim=1)
