"""Loss functions, separate from the networks: each returns ``(loss, dict of float scalars)``.

``adversarial`` (WGAN / hinge / non-saturating, WGAN-GP, R1), ``au_consistency`` (BCE on AU features,
MSE / L1 on intensities), ``reconstruction`` (identity, cycle, DECA detail consistency) and ``regularizers``
(GANimation attention, total variation, displacement sparsity, locality). ``objective`` combines them
into the generator and discriminator phases of training.
"""

from aucgan.losses.adversarial import (
    ADVERSARIAL_LOSSES,
    LossError,
    d_adv_loss,
    g_adv_loss,
    gradient_penalty,
    r1_penalty,
)
from aucgan.losses.au_consistency import AU_LOSSES, au_loss, au_mask
from aucgan.losses.reconstruction import (
    DISTANCES,
    cycle_loss,
    detail_consistency_loss,
    masked_distance,
    reconstruction_loss,
)
from aucgan.losses.regularizers import (
    attention_loss,
    displacement_regularizer,
    locality_loss,
    total_variation,
)

__all__ = [
    "ADVERSARIAL_LOSSES", "AU_LOSSES", "DISTANCES", "LossError", "attention_loss", "au_loss", "au_mask",
    "cycle_loss", "d_adv_loss", "detail_consistency_loss", "displacement_regularizer", "g_adv_loss",
    "gradient_penalty", "locality_loss", "masked_distance", "r1_penalty", "reconstruction_loss",
    "total_variation",
]
