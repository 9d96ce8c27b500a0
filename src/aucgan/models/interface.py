"""The generator interface: what every aucgan generator offers, and so what inference, metrics and export use.

Every generator (:class:`~aucgan.models.generator.MapGenerator`, :class:`~aucgan.models.regional.RegionalGenerator`,
:class:`~aucgan.models.sean.RegionStyleGenerator`, :class:`~aucgan.models.decomposed.DecomposedGenerator`)
implements :class:`Generator`. Code that runs a generator reads these members instead of probing for
attributes, and :class:`aucgan.inference.Editor` is the one place that marshals its inputs.

Scales (the network's side of the boundary): maps ``x`` (B, in_channels, S, S) stacked and scaled by the
run's :class:`~aucgan.data.codec.MapCodec` (about [-1, 1]); AU intensities ``au`` and ``source_au`` (B,
num_aus) in **unit scale**, intensity / 5 (:func:`aucgan.au.to_unit`; people and files use 0..5);
``footprints`` (B, num_aus, h, w) in [0, 1]; ``extra`` (B, extra_dim) the encoded extra conditions
(:mod:`aucgan.data.conditions`) of the edit, ``source_extra`` those of the source (None: the same as the edit's;
generators that edit attributes relatively, ``residual_extra``, change the maps by the difference). Outputs are
dicts with at least ``"out"`` (B, out_channels, S, S).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor

from aucgan.errors import AucganError

#: The members :class:`Generator` requires, in the order an error lists the missing ones.
MEMBERS: tuple[str, ...] = ("in_channels", "out_channels", "num_aus", "extra_dim", "image_size", "needs_source_au",
                            "uses_footprints", "residual_extra", "encode", "decode", "edit")


class GeneratorInterfaceError(AucganError, TypeError):
    """A module used as a generator lacks part of :class:`Generator`."""


@runtime_checkable
class Generator(Protocol):
    """An AU-conditioned map generator (see the module notes for the scales).

    ``forward(x, au, footprints, extra, source_au)`` equals ``edit(encode(x), au, footprints, extra,
    source_au)``; ``decode`` is one decoder pass, which is the whole edit for every generator except a
    cascade (:class:`~aucgan.models.regional.RegionalGenerator` with ``cascade_steps > 1``, whose ``edit``
    re-encodes each step's output). Encoding once and calling ``edit`` per target is how an interactive
    editor moves sliders without re-running the encoder.
    """

    in_channels: int
    out_channels: int
    #: Length of the AU vectors ``au`` and ``source_au``.
    num_aus: int
    #: Length of the ``extra`` condition (0: the generator takes none).
    extra_dim: int
    image_size: int
    #: Whether ``footprints`` must be given (spatial conditioning layers, residual heads, region masks).
    uses_footprints: bool
    #: Positions in ``extra`` of the attributes edited relatively (their change from ``source_extra`` adds
    #: residual maps; ``generator.expression_residuals``); empty for a generator that edits none so.
    residual_extra: tuple[int, ...]

    @property
    def needs_source_au(self) -> bool:
        """Whether ``source_au`` must be given (relative AU mode, ``au_residual`` head)."""
        ...

    def encode(self, x: Tensor) -> Any:
        """Source maps -> an encoding that :meth:`decode` and :meth:`edit` take (the generator's own type)."""
        ...

    def decode(self, enc: Any, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
               source: Tensor | None = None, source_au: Tensor | None = None,
               source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """One decoder pass from an encoding towards target ``au``; ``source`` (default the encoded maps)
        feeds heads that blend the source."""
        ...

    def edit(self, enc: Any, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
             source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        """The whole edit from an encoding: what ``forward`` returns for the encoded maps."""
        ...

    def __call__(self, x: Tensor, au: Tensor, footprints: Tensor | None = None, extra: Tensor | None = None,
                 source_au: Tensor | None = None, source_extra: Tensor | None = None) -> dict[str, Tensor]:
        ...


def check_generator(G: object, where: str = "generator") -> Generator:
    """``G`` if it implements :class:`Generator`; else :class:`GeneratorInterfaceError` naming what it lacks."""
    missing = [m for m in MEMBERS if not hasattr(G, m)]
    if missing or not isinstance(G, Generator):
        raise GeneratorInterfaceError(f"{where}: {type(G).__name__} does not implement the generator interface "
                                      f"(aucgan.models.interface.Generator); missing: "
                                      f"{', '.join(missing) or 'a call method'}")
    return G
