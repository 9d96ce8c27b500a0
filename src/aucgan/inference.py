"""Editing with a trained generator: one model load, then AU edits and sweeps of map sets.

:class:`Editor` is what the CLI (``generate``), the browser editor and the photo path share: it holds
the EMA generator of a run, its map codec and AU set, and turns (maps, landmarks, AU vector) into
edited maps under ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from aucgan.au import au_indices, au_set, au_vector
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import canonical_layout
from aucgan.runs import load_generator, make_codec, read_run_layout
from aucgan.training.extras import MissingAttributeError, extra_vector


class Editor:
    """A trained generator ready for AU edits of map sets (intensities 0..5 in and out)."""

    def __init__(self, run_dir: str | Path, device: str | torch.device = "cpu") -> None:
        self.G, self.config, self.step = load_generator(run_dir, device)
        self.device = torch.device(device)
        self.codec = make_codec(self.config.data)
        self.au_names = au_set(self.config.data.au_set)
        self.size = self.config.data.size
        self.layout = read_run_layout(run_dir)     # the run's map space (None: the built-in layout)
        self._fp_cache: dict[bytes, torch.Tensor] = {}

    @property
    def default_landmarks(self) -> np.ndarray:
        """Landmarks of edits that bring none: the run's layout's (else the canonical layout's)."""
        return (self.layout or canonical_layout()).landmarks

    def footprints(self, landmarks: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        """AU footprints (1, K, S, S) for a landmark set (the run's layout when None; bounded by its face mask,
        if it has one), cached."""
        lm = torch.as_tensor(self.default_landmarks if landmarks is None else landmarks, dtype=torch.float32)
        key = lm.numpy().tobytes()
        if key not in self._fp_cache:
            mask = None if self.layout is None else self.layout.mask_image
            self._fp_cache[key] = au_footprints(lm.reshape(1, 68, 2), (self.size, self.size), self.au_names,
                                                mask=mask)
        return self._fp_cache[key].to(self.device)

    def prepare(self, maps: dict[str, torch.Tensor]) -> torch.Tensor:
        """Network tensor (1, C, S, S) of a map set (CxHxW tensors), resized to the model's size."""
        x = self.codec.encode({k: v.unsqueeze(0) if v.dim() == 3 else v for k, v in maps.items()})
        if tuple(x.shape[-2:]) != (self.size, self.size):
            x = torch.nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x.to(self.device)

    @torch.inference_mode()
    def edit(self, maps: dict[str, torch.Tensor], target_au: Sequence[float] | np.ndarray,
             landmarks: torch.Tensor | np.ndarray | None = None,
             source_au: Sequence[float] | np.ndarray | None = None,
             attrs: Mapping[str, object] | None = None) -> dict[str, torch.Tensor]:
        """Edited maps (each CxSxS) for one map set and a target AU vector (0..5, in the model's AU order);
        ``source_au`` are the source's intensities (default neutral), which relative-mode models need;
        ``attrs`` the extra conditions of models that take them (``age``, ``emotion``, ...)."""
        src = None if source_au is None else np.asarray(source_au, np.float32)[None]
        return self.edit_batch(self.prepare(maps), np.asarray(target_au, np.float32)[None], landmarks, src,
                               attrs=attrs)[0]

    @torch.inference_mode()
    def edit_batch(self, x: torch.Tensor, target_au: np.ndarray | torch.Tensor,
                   landmarks: torch.Tensor | np.ndarray | None = None,
                   source_au: np.ndarray | torch.Tensor | None = None,
                   attrs: Mapping[str, object] | None = None) -> list[dict[str, torch.Tensor]]:
        """Edit a prepared batch ``x`` (B, C, S, S) towards ``target_au`` (B, K) intensities 0..5 from
        ``source_au`` (1 or B rows, 0..5; default neutral), with extra conditions ``attrs`` (all rows)."""
        target = torch.as_tensor(target_au, dtype=torch.float32, device=self.device) / 5.0
        n = target.shape[0]
        if x.shape[0] not in (1, n):
            raise ValueError(f"{x.shape[0]} map sets for {n} AU targets")
        source = (torch.zeros_like(target) if source_au is None else
                  torch.as_tensor(source_au, dtype=torch.float32, device=self.device).reshape(-1, target.shape[1])
                  .expand(n, -1) / 5.0)
        extra = self.extra(attrs, landmarks, n)
        out = self.G(x.expand(n, -1, -1, -1), target, self.footprints(landmarks).expand(n, -1, -1, -1),
                     source_au=source, **({} if extra is None else {"extra": extra}))
        decoded = self.codec.decode(out["out"].float().cpu())
        result = [{k: v[i] for k, v in decoded.items()} for i in range(target.shape[0])]
        if "attention" in out:
            for i, r in enumerate(result):
                r["attention"] = out["attention"][i].float().cpu()
        return result

    def extra(self, attrs: Mapping[str, object] | None, landmarks: torch.Tensor | np.ndarray | None = None,
              n: int = 1) -> torch.Tensor | None:
        """The model's extra condition (n, D) from attribute values (None for models without extras); the
        landmarks default to the edit's (else the run layout's). A missing attribute is named."""
        names = self.config.generator.extra_attrs
        if not names:
            return None
        values = dict(attrs or {})
        values.setdefault("landmarks", self.default_landmarks if landmarks is None else landmarks)
        missing = [n for n in names if n != "landmarks" and values.get(n) is None]
        if missing:
            raise MissingAttributeError(f"the model conditions on {', '.join(repr(n) for n in missing)} but the edit "
                                        f"does not give {'it' if len(missing) == 1 else 'them'} (pass e.g. --attr "
                                        f"{missing[0]}=VALUE; a data set sample brings its own)")
        vec = extra_vector(names, values, where="edit")
        return vec.to(self.device)[None].expand(n, -1)

    def target_vector(self, source_au: Sequence[float] | np.ndarray | None, changes: dict[str, float]) -> np.ndarray:
        """Source intensities with the named AUs set to new values (absolute targets, as GANimation)."""
        base = np.zeros(len(self.au_names), np.float32) if source_au is None else np.asarray(source_au, np.float32)
        return au_vector(changes, self.au_names, base=base)

    def sweep(self, maps: dict[str, torch.Tensor], source_au: np.ndarray | None, au: str,
              values: Sequence[float] = (0, 1, 2, 3, 4, 5), landmarks=None,
              attrs: Mapping[str, object] | None = None) -> list[dict[str, torch.Tensor]]:
        """Edited map sets with AU ``au`` set to each of ``values`` (other AUs as in the source)."""
        base = np.zeros(len(self.au_names), np.float32) if source_au is None else np.asarray(source_au, np.float32)
        targets = np.repeat(base[None], len(values), axis=0)
        targets[:, au_indices([au], self.au_names)[0]] = np.asarray(values, np.float32)
        return self.edit_batch(self.prepare(maps), targets, landmarks, base[None], attrs=attrs)
