"""Networks: the generator interface, the map generators, the conditional discriminators and the AU estimator."""

from aucgan.models.aunet import AUNet
from aucgan.models.discriminator import DISCRIMINATORS, DOutput, build_discriminator
from aucgan.models.generator import Encoded, MapGenerator, count_parameters
from aucgan.models.interface import Generator, check_generator

__all__ = ["AUNet", "DISCRIMINATORS", "DOutput", "Encoded", "Generator", "MapGenerator", "build_discriminator",
           "check_generator", "count_parameters"]
