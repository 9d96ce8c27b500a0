"""Shared network building blocks: the generic :class:`~aucgan.nn.registry.Registry`, layers
(:mod:`aucgan.nn.layers`) and the conditioning layers (:mod:`aucgan.nn.conditioning`).

Kept light on purpose: importing ``aucgan.nn`` only loads the registry; import the submodules you need.
"""

from aucgan.nn.registry import Registry, UnknownNameError

__all__ = ["Registry", "UnknownNameError"]
