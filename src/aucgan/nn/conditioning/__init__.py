"""Conditioning layers, one registry (:data:`CONDITIONING`): how the AU (+ attribute) condition vector
``c = [au, extra]`` enters a generator. See :mod:`aucgan.nn.conditioning.base` for the contract.

=================  =========  ==========================================================================
name               injection  what
=================  =========  ==========================================================================
``concat_latent``  latent     ``[z, MLP(c)]`` at the latent code (the existing DECA-style design)
``concat_input``   input      ``c`` tiled as extra input channels (GANimation, StarGAN)
``adain``          norm       instance norm + per-channel scale/shift from ``c``
``cbn``            norm       batch norm (no affine) + per-channel scale/shift from ``c``
``film``           norm       per-channel scale/shift from ``c``, no normalisation
``spade_au``       spatial    per-pixel scale/shift from AU intensities x AU footprints (SPADE)
=================  =========  ==========================================================================
"""

from aucgan.nn.conditioning.base import CONDITIONING, INJECTIONS, CondLevel, ModulationLayer, injection_of
from aucgan.nn.conditioning.concat import ConcatInput, ConcatLatent
from aucgan.nn.conditioning.norm import AdaIN, ConditionalBatchNorm, FiLM
from aucgan.nn.conditioning.spatial import SpadeAU

__all__ = [
    "CONDITIONING", "INJECTIONS", "CondLevel", "ModulationLayer", "injection_of", "ConcatInput", "ConcatLatent",
    "AdaIN", "ConditionalBatchNorm", "FiLM", "SpadeAU",
]
