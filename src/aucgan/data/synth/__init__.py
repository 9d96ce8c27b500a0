"""The synthetic UV face benchmark: procedural identities x AU expressions with exact ground truth.

See docs/benchmark.md. Identity ``NNNN`` of a seed is reconstructible from (seed, NNNN) alone, and
:func:`render` gives the maps of any (identity, AU vector) pair, so every edit has a ground truth. Two
worlds (``SynthConfig.world``): ``default`` (AU patterns in the atlas footprints) and ``strain`` (AU change
from skin strain, :mod:`aucgan.data.synth.strain`).
"""

from aucgan.data.synth.config import (
    GENERATOR_VERSION,
    STRAIN_VERSION,
    WORLDS,
    StrainParams,
    SynthConfig,
    SynthError,
    config_from_card,
)
from aucgan.data.synth.dataset import SyntheticDataset, identity_expressions, sample_name, split_identities
from aucgan.data.synth.expression import EMOTION_FLUSH, EMOTION_VALENCE, sample_expressions
from aucgan.data.synth.identity import (
    Identity,
    IdentityBatch,
    identity_name,
    make_identities,
    sample_identity,
)
from aucgan.data.synth.render import render
from aucgan.data.synth.strain import StrainIdentities  # registers the strain world's builder and renderer
from aucgan.data.synth.writer import FORMAT, FORMAT_VERSION, MANIFEST_COLUMNS, write_dataset, write_preview

__all__ = [
    "EMOTION_FLUSH", "EMOTION_VALENCE", "FORMAT", "FORMAT_VERSION", "GENERATOR_VERSION", "MANIFEST_COLUMNS",
    "STRAIN_VERSION", "WORLDS", "Identity", "IdentityBatch", "StrainIdentities", "StrainParams", "SynthConfig",
    "SynthError", "SyntheticDataset", "config_from_card", "identity_expressions", "identity_name",
    "make_identities", "render", "sample_expressions", "sample_identity", "sample_name", "split_identities",
    "write_dataset", "write_preview",
]
