"""Running a generator: the one boundary between AU edits and the network.

:class:`Editor` is how aucgan runs a generator (:class:`aucgan.models.interface.Generator`): the CLI
(``generate``, ``export-maps``, ``export-onnx``), the browser editor, photo edits, the metrics, the report's
sweep grids and training's sample grids all call it instead of marshalling AUs, source AUs, footprints and
extra conditions themselves. It holds the generator, the run's map codec, AU names and map size, and works
on two levels:

* **edits** (what people and files use): map sets in natural units (albedo 0..1, displacement in layout
  units), AU intensities 0..5 in the model's AU order, attribute values by name. :meth:`Editor.edit`,
  :meth:`Editor.edit_batch` and :meth:`Editor.sweep` run the whole generator under ``torch.inference_mode``;
  :meth:`Editor.encode` once and :meth:`Editor.decode` per target skip the encoder on every slider move.
* **network** (what the metrics and export use): codec-scaled map tensors, AUs in unit scale (intensity / 5,
  :func:`aucgan.au.to_unit`), encoded extras: :meth:`Editor.forward` (autograd allowed) and
  :meth:`Editor.generate` (batched, no gradients).

An Editor comes from a run directory (:meth:`Editor.from_run`) or from a generator in memory (training's
sample grids and the metrics score a G that is not on disk).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aucgan.au import au_indices, au_vector, to_unit
from aucgan.data.codec import MapCodec
from aucgan.data.conditions import MissingAttributeError, extra_dim, extra_vector
from aucgan.errors import AucganError
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import Layout, canonical_layout
from aucgan.models.interface import Generator, check_generator

Landmarks = torch.Tensor | np.ndarray | None


#: The expression attributes of a face with no labels (see :attr:`Editor.default_attrs`).
NEUTRAL_EXPRESSION: dict[str, object] = {"emotion": "neutral", "valence": 0.0}


@dataclass(frozen=True)
class Encoding:
    """A source encoded once for many edits: its network tensor ``x`` (1, C, S, S), the generator's encoding
    ``code``, the AU ``footprints`` (1, K, S, S) of its layout and the ``landmarks`` they came from."""

    x: torch.Tensor
    code: Any
    footprints: torch.Tensor
    landmarks: Landmarks = None


class Editor:
    """A generator ready for AU edits (intensities 0..5 in and out) and for batched network calls.

    ``G`` implements :class:`~aucgan.models.interface.Generator`; ``codec`` stacks and scales map sets;
    ``au_names`` are its AUs in order; ``size`` its map side; ``extra_attrs`` the attributes its ``extra``
    condition encodes (``generator.extra_attrs``; needed for edits by attribute values); ``layout`` its map
    space (None: the built-in layout); ``step`` and ``config`` describe where it came from (a training run's
    step and :class:`TrainConfig`, else 0 / None).
    """

    def __init__(self, G: torch.nn.Module, codec: MapCodec, au_names: Sequence[str], size: int,
                 extra_attrs: Sequence[str] = (), device: str | torch.device = "cpu", step: int = 0,
                 config: object | None = None, layout: Layout | None = None) -> None:
        self.G: Generator = check_generator(G)
        self.codec = codec
        self.au_names = tuple(au_names)
        if len(self.au_names) != G.num_aus:
            raise AucganError(f"editor: {len(self.au_names)} AU names for a generator with {G.num_aus} AUs")
        self.size = int(size)
        self.extra_attrs = tuple(extra_attrs)
        if self.extra_attrs and extra_dim(self.extra_attrs) != G.extra_dim:
            raise AucganError(f"editor: extra attributes {list(self.extra_attrs)} make {extra_dim(self.extra_attrs)} "
                              f"values, the generator takes {G.extra_dim}")
        self.device = torch.device(device)
        self.step = int(step)
        self.config = config
        self.layout = layout
        self._fp_cache: dict[bytes, torch.Tensor] = {}
        #: A generator that edits expression attributes relatively (``generator.expression_residuals``) reads a
        #: source without labels (a photo, uploaded maps) as neutral, unless the edit says otherwise.
        self.default_attrs: dict[str, object] = (
            {k: v for k, v in NEUTRAL_EXPRESSION.items() if k in self.extra_attrs}
            if G.residual_extra else {})

    @classmethod
    def from_run(cls, run_dir: str | Path, device: str | torch.device = "cpu") -> Editor:
        """The EMA generator of a training run's latest checkpoint, with the run's codec, AUs, conditions and
        layout (``RUN/layout.json``)."""
        from aucgan.au import au_set
        from aucgan.models.build import make_codec
        from aucgan.rundir.files import read_run_layout
        from aucgan.runs import load_generator

        G, cfg, step = load_generator(run_dir, device)
        return cls(G, make_codec(cfg.data), au_set(cfg.data.au_set), cfg.data.size, cfg.generator.extra_attrs,
                   device, step, cfg, read_run_layout(run_dir))

    # --------------------------------------------------------------------------------------- inputs
    @property
    def default_landmarks(self) -> np.ndarray:
        """Landmarks of edits that bring none: the layout's (else the canonical layout's)."""
        return (self.layout or canonical_layout()).landmarks

    def footprints(self, landmarks: Landmarks) -> torch.Tensor:
        """AU footprints (1, K, S, S) for a landmark set (the layout's when None; bounded by its face mask, if
        it has one), cached."""
        lm = torch.as_tensor(self.default_landmarks if landmarks is None else landmarks, dtype=torch.float32)
        key = lm.numpy().tobytes()
        if key not in self._fp_cache:
            mask = None if self.layout is None else self.layout.mask_image
            self._fp_cache[key] = au_footprints(lm.reshape(1, 68, 2), (self.size, self.size), self.au_names,
                                                mask=mask)
        return self._fp_cache[key].to(self.device)

    def prepare(self, maps: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Network tensor (1, C, S, S) of a map set (CxHxW tensors), resized to the model's size."""
        x = self.codec.encode({k: v.unsqueeze(0) if v.dim() == 3 else v for k, v in maps.items()})
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x.to(self.device)

    def extra(self, attrs: Mapping[str, object] | None, landmarks: Landmarks = None, n: int = 1,
              where: str = "edit") -> torch.Tensor | None:
        """The model's extra condition (n, D) from attribute values (None for models without extras); the
        landmarks default to the edit's (else the layout's). A missing attribute is named."""
        if not self.extra_attrs:
            if self.G.extra_dim:
                raise AucganError(f"{where}: the generator takes {self.G.extra_dim} extra condition values but the "
                                  "editor was made without its extra_attrs")
            return None
        values = {**self.default_attrs, **{k: v for k, v in dict(attrs or {}).items() if v is not None}}
        values.setdefault("landmarks", self.default_landmarks if landmarks is None else landmarks)
        missing = [a for a in self.extra_attrs if a != "landmarks" and values.get(a) is None]
        if missing:
            raise MissingAttributeError(f"the model conditions on {', '.join(repr(a) for a in missing)} but the edit "
                                        f"does not give {'it' if len(missing) == 1 else 'them'} (pass e.g. --attr "
                                        f"{missing[0]}=VALUE; a data set sample brings its own)")
        vec = extra_vector(self.extra_attrs, values, where=where)
        return vec.to(self.device)[None].expand(n, -1)

    def source_attrs(self, own: Mapping[str, object] | None) -> dict[str, object] | None:
        """The attributes a source is read with: its ``own`` (a data set sample's labels) over
        :attr:`default_attrs`; None when there are neither (the source then takes the edit's attributes)."""
        values = {**self.default_attrs, **dict(own or {})}
        return values or None

    def source_extra(self, attrs: Mapping[str, object] | None, source_attrs: Mapping[str, object] | None,
                     landmarks: Landmarks = None, n: int = 1, where: str = "edit") -> torch.Tensor | None:
        """The source's extra condition (n, D): ``source_attrs`` over the edit's ``attrs``; None when no source
        attributes are given (the source then has the edit's attributes, so nothing changes by them)."""
        if not source_attrs:
            return None
        return self.extra({**dict(attrs or {}), **dict(source_attrs)}, landmarks, n, where=f"{where} (source)")

    def target_vector(self, source_au: Sequence[float] | np.ndarray | None, changes: dict[str, float]) -> np.ndarray:
        """Source intensities with the named AUs set to new values (absolute targets, as GANimation)."""
        base = np.zeros(len(self.au_names), np.float32) if source_au is None else np.asarray(source_au, np.float32)
        return au_vector(changes, self.au_names, base=base)

    def _unit(self, au: Sequence[float] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Intensities 0..5 -> a float32 unit-scale tensor on the device."""
        return to_unit(torch.as_tensor(au, dtype=torch.float32, device=self.device))

    @contextmanager
    def _eval(self) -> Iterator[None]:
        """The generator in eval mode for the duration (its previous mode restored)."""
        was = self.G.training
        self.G.eval()
        try:
            yield
        finally:
            self.G.train(was)

    # -------------------------------------------------------------------------------------- network
    def forward(self, x: torch.Tensor, au: torch.Tensor, footprints: torch.Tensor | None,
                source_au: torch.Tensor | None, extra: torch.Tensor | None = None,
                source_extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The generator's outputs for network tensors (AUs in unit scale), as they are (device, autograd).
        ``source_extra``: the source's own extra conditions when they differ from the edit's ``extra``."""
        kw = {} if extra is None else {"extra": extra}
        if source_extra is not None:
            kw["source_extra"] = source_extra
        return self.G(x, au, footprints, source_au=source_au, **kw)

    @torch.no_grad()
    def generate(self, x: torch.Tensor, au: torch.Tensor, footprints: torch.Tensor | None,
                 source_au: torch.Tensor | None, extra: torch.Tensor | None = None, batch_size: int | None = None,
                 keys: Sequence[str] = ("out",), source_extra: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """:meth:`forward` over ``au`` (B, K unit scale) in batches of ``batch_size`` (all at once when None), on
        the device in eval mode; ``x``, ``footprints``, ``source_au``, ``extra`` and ``source_extra`` have B rows
        or 1 (shared). Returns the outputs named in ``keys`` that the generator writes, as float CPU tensors."""
        n = au.shape[0]
        step = max(1, batch_size or n)
        parts: dict[str, list[torch.Tensor]] = {}
        with self._eval():
            for s in range(0, n, step):
                sl = slice(s, s + step)
                out = self.forward(_rows(x, sl, n).to(self.device), au[sl].to(self.device),
                                   None if footprints is None else _rows(footprints, sl, n).to(self.device),
                                   None if source_au is None else _rows(source_au, sl, n).to(self.device),
                                   None if extra is None else _rows(extra, sl, n).to(self.device),
                                   None if source_extra is None else _rows(source_extra, sl, n).to(self.device))
                for k in keys:
                    if k in out:
                        parts.setdefault(k, []).append(out[k].float().cpu())
        return {k: torch.cat(v) for k, v in parts.items()}

    def to_maps(self, out: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """Generator outputs -> one map set per row (each CxSxS, natural units; ``attention`` where written)."""
        decoded = self.codec.decode(out["out"].float().cpu())
        result = [{k: v[i] for k, v in decoded.items()} for i in range(out["out"].shape[0])]
        if "attention" in out:
            for i, r in enumerate(result):
                r["attention"] = out["attention"][i].float().cpu()
        return result

    # ----------------------------------------------------------------------------------------- edits
    @torch.inference_mode()
    def edit(self, maps: Mapping[str, torch.Tensor], target_au: Sequence[float] | np.ndarray,
             landmarks: Landmarks = None, source_au: Sequence[float] | np.ndarray | None = None,
             attrs: Mapping[str, object] | None = None,
             source_attrs: Mapping[str, object] | None = None) -> dict[str, torch.Tensor]:
        """Edited maps (each CxSxS) for one map set and a target AU vector (0..5, in the model's AU order);
        ``source_au`` are the source's intensities (default neutral), which relative-mode models need;
        ``attrs`` the extra conditions of models that take them (``age``, ``emotion``, ...) and
        ``source_attrs`` the source's own where they differ (an emotion edit of a model that edits attributes
        relatively, ``generator.expression_residuals``; default: the source has the edit's attributes)."""
        src = None if source_au is None else np.asarray(source_au, np.float32)[None]
        return self.edit_batch(self.prepare(maps), np.asarray(target_au, np.float32)[None], landmarks, src,
                               attrs=attrs, source_attrs=source_attrs)[0]

    @torch.inference_mode()
    def edit_batch(self, x: torch.Tensor, target_au: np.ndarray | torch.Tensor, landmarks: Landmarks = None,
                   source_au: np.ndarray | torch.Tensor | None = None,
                   attrs: Mapping[str, object] | None = None,
                   source_attrs: Mapping[str, object] | None = None) -> list[dict[str, torch.Tensor]]:
        """Edit a prepared batch ``x`` (B, C, S, S) towards ``target_au`` (B, K) intensities 0..5 from
        ``source_au`` (1 or B rows, 0..5; default neutral), with extra conditions ``attrs`` (all rows) from the
        source's ``source_attrs`` (see :meth:`edit`)."""
        target = self._unit(target_au)
        n = target.shape[0]
        if x.shape[0] not in (1, n):
            raise AucganError(f"{x.shape[0]} map sets for {n} AU targets")
        source = (torch.zeros_like(target) if source_au is None else
                  self._unit(torch.as_tensor(source_au, dtype=torch.float32).reshape(-1, target.shape[1]))
                  .expand(n, -1))
        extra = self.extra(attrs, landmarks, n)
        source_extra = self.source_extra(attrs, source_attrs, landmarks, n)
        with self._eval():
            out = self.forward(x.expand(n, -1, -1, -1), target, self.footprints(landmarks).expand(n, -1, -1, -1),
                               source, extra, source_extra)
        return self.to_maps(out)

    @torch.inference_mode()
    def encode(self, source: Mapping[str, torch.Tensor] | torch.Tensor, landmarks: Landmarks = None) -> Encoding:
        """Encode one source (a map set, or a prepared (1, C, S, S) tensor) once for many :meth:`decode` calls."""
        x = (source if isinstance(source, torch.Tensor) else self.prepare(source)).to(self.device)
        if x.dim() != 4 or x.shape[0] != 1:
            raise AucganError(f"editor: encode takes one source, got a tensor of shape {tuple(x.shape)}")
        with self._eval():
            code = self.G.encode(x)
        return Encoding(x, code, self.footprints(landmarks), landmarks)

    @torch.inference_mode()
    def decode(self, enc: Encoding, target_au: Sequence[float] | np.ndarray,
               source_au: Sequence[float] | np.ndarray | None = None, attrs: Mapping[str, object] | None = None,
               where: str = "edit", source_attrs: Mapping[str, object] | None = None) -> dict[str, torch.Tensor]:
        """The generator's outputs (network scale, (1, C, S, S) on the device) for an encoded source and one
        target AU vector (0..5); the same as :meth:`edit` of that source (:meth:`to_maps` gives its maps).
        ``where`` names the source in errors about its attributes."""
        target = self._unit(np.asarray(target_au, np.float32)).reshape(1, -1)
        source = (torch.zeros_like(target) if source_au is None else
                  self._unit(np.asarray(source_au, np.float32)).reshape(1, -1))
        extra = self.extra(attrs, enc.landmarks, 1, where=where)
        source_extra = self.source_extra(attrs, source_attrs, enc.landmarks, 1, where=where)
        kw = {} if source_extra is None else {"source_extra": source_extra}
        with self._eval():
            return self.G.edit(enc.code, target, enc.footprints, extra, source_au=source, **kw)

    def sweep(self, maps: Mapping[str, torch.Tensor], source_au: np.ndarray | None, au: str,
              values: Sequence[float] = (0, 1, 2, 3, 4, 5), landmarks: Landmarks = None,
              attrs: Mapping[str, object] | None = None) -> list[dict[str, torch.Tensor]]:
        """Edited map sets with AU ``au`` set to each of ``values`` (other AUs as in the source)."""
        base = np.zeros(len(self.au_names), np.float32) if source_au is None else np.asarray(source_au, np.float32)
        targets = np.repeat(base[None], len(values), axis=0)
        targets[:, au_indices([au], self.au_names)[0]] = np.asarray(values, np.float32)
        return self.edit_batch(self.prepare(maps), targets, landmarks, base[None], attrs=attrs)


def _rows(t: torch.Tensor, sl: slice, n: int) -> torch.Tensor:
    """Rows ``sl`` of ``t`` (n rows, or 1 row shared by all n)."""
    return t.expand(n, *t.shape[1:])[sl] if t.shape[0] == 1 and n > 1 else t[sl]
