"""DECA / EMOCA detail decoders inside aucgan: import ``D_detail``, condition it on AUs, fine-tune it on data
prepared from DECA's and EMOCA's outputs, diagnose whether it follows the AUs, and export ``uv_z`` in DECA's
convention. The integration guide is docs/deca.md."""

from aucgan.deca.checkpoint import DecaCheckpointError, architecture_of, read_detail_state
from aucgan.deca.decoder import (
    AU_INPUTS,
    DECA_CHANNELS,
    DECA_INIT_SIZE,
    DECA_LATENT_DIM,
    DECA_LATENT_PARTS,
    DECA_OUT_SCALE,
    DetailDecoder,
    deca_keys,
)
from aucgan.deca.footprints import uv_footprints

__all__ = [
    "AU_INPUTS", "DECA_CHANNELS", "DECA_INIT_SIZE", "DECA_LATENT_DIM", "DECA_LATENT_PARTS", "DECA_OUT_SCALE",
    "DecaCheckpointError", "DetailDecoder", "architecture_of", "deca_keys", "read_detail_state", "uv_footprints",
]
