"""Networks: the map generator, the conditional discriminators and the AU estimator."""

from aucgan.models.aunet import AUNet
from aucgan.models.discriminator import DISCRIMINATORS, DOutput, build_discriminator
from aucgan.models.generator import Encoded, MapGenerator, count_parameters

__all__ = ["AUNet", "DISCRIMINATORS", "DOutput", "Encoded", "MapGenerator", "build_discriminator",
           "count_parameters"]
