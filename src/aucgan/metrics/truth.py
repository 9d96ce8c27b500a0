"""Ground truth of the synthetic benchmark for the metrics: any (identity, AU vector) pair, rendered.

Identity ``idNNNN`` of a benchmark folder is rebuilt from the folder's seed, generator parameters and world
(``dataset.json``; a card without ``world`` is the default world) and layout (``layout.json``, when the card
names one), so an edit of any test sample towards any AU vector has a true answer. Renders go through the
same 8-bit / 16-bit quantisation and resizing as the stored maps, so a generator that reproduced the data
exactly would score zero error.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aucgan.au import AU_MAX, AU_MIN, au_indices
from aucgan.data.codec import MapCodec
from aucgan.errors import AucganError


class TruthError(AucganError, ValueError):
    """A synthetic benchmark folder whose card or manifest does not allow ground-truth renders."""


def _identity_index(name: str) -> int:
    m = re.fullmatch(r"id(\d+)", name)
    if m is None:
        raise TruthError(f"identity {name!r} is not a synthetic benchmark identity (idNNNN)")
    return int(m.group(1))


class SynthTruth:
    """Ground-truth maps of a synthetic benchmark folder, network-scaled with ``codec`` at ``size``."""

    def __init__(self, folder: str | Path, codec: MapCodec, au_names: Sequence[str], size: int) -> None:
        from aucgan.data.errors import DataError
        from aucgan.data.folder import card_layout
        from aucgan.data.synth import SynthError
        from aucgan.data.synth.config import config_from_card

        self.folder, self.codec, self.size = Path(folder), codec, int(size)
        card_path = self.folder / "dataset.json"
        try:
            card = json.loads(card_path.read_text())
            self.seed = int(card["seed"])
            layout = card_layout(card, card_path)
            self.config = config_from_card(card, layout)
            card_aus = list(card["au_names"])
            disp = card.get("displacement", {})
            self.disp_scale = float(disp.get("scale", self.config.disp_scale))
            self.disp_offset = float(disp.get("offset", self.config.disp_offset))
        except DataError as exc:
            raise TruthError(str(exc)) from None
        except SynthError as exc:
            raise TruthError(f"{card_path}: {exc}") from None
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise TruthError(f"{card_path}: not a readable synthetic benchmark card ({exc})") from None
        missing = [m for m in codec.maps if m not in ("albedo", "displacement", "normal")]
        if missing:
            raise TruthError(f"the synthetic benchmark has no {missing} maps")
        self.model_columns = au_indices(list(au_names), card_aus)
        self.card_aus = card_aus
        self.rows, self.splits = self._read_manifest(self.folder / "manifest.csv", card_aus)
        self._identities: dict[tuple[int, ...], object] = {}

    @staticmethod
    def _read_manifest(path: Path, card_aus: Sequence[str]
                       ) -> tuple[dict[str, tuple[int, np.ndarray, int, float]], dict[str, str]]:
        rows, splits = {}, {}
        try:
            with path.open(newline="") as fh:
                for line, r in enumerate(csv.DictReader(fh), 2):
                    try:
                        au = np.array([float(r[a]) for a in card_aus], np.float32)
                        rows[r["sample_id"]] = (_identity_index(r["identity"]), au, int(float(r["emotion"])),
                                                float(r["valence"]))
                        splits[r["sample_id"]] = r.get("split", "")
                    except (KeyError, ValueError) as exc:
                        raise TruthError(f"{path}:{line}: bad row ({exc})") from None
        except OSError as exc:
            raise TruthError(f"{path}: unreadable ({exc})") from None
        return rows, splits

    def people(self, split: str = "train") -> list[str]:
        """One sample id per identity of ``split``, in identity order (any sample of a person renders that
        person at any AU vector)."""
        first: dict[int, str] = {}
        for sample_id, (identity, *_rest) in self.rows.items():
            if self.splits.get(sample_id) == split:
                first.setdefault(identity, sample_id)
        return [first[i] for i in sorted(first)]

    def _row(self, sample_id: str) -> tuple[int, np.ndarray, int, float]:
        try:
            return self.rows[sample_id]
        except KeyError:
            raise TruthError(f"sample {sample_id!r} is not in {self.folder / 'manifest.csv'}") from None

    def _identities_for(self, indices: Sequence[int]):
        from aucgan.data.synth import make_identities

        unique = tuple(sorted(set(indices)))
        if unique not in self._identities:
            self._identities = {unique: make_identities(list(unique), self.seed, self.config)}
        return self._identities[unique].take([unique.index(i) for i in indices])

    def _maps(self, identity_idx: Sequence[int], au: np.ndarray, emotion: Sequence[int],
              valence: Sequence[float]) -> torch.Tensor:
        from aucgan.data.synth import render

        batch = self._identities_for(identity_idx)
        out = render(batch, torch.as_tensor(np.clip(au, AU_MIN, AU_MAX), dtype=torch.float32),
                     torch.as_tensor(list(emotion), dtype=torch.long),
                     torch.as_tensor(list(valence), dtype=torch.float32))
        maps = {}
        for name in self.codec.maps:
            if name == "displacement":
                maps[name] = self._as_stored_displacement(out["displacement"])
            else:
                rgb = out[name] if name == "albedo" else (out["normal"] + 1.0) * 0.5
                maps[name] = self._as_stored_rgb(rgb)
        return self.codec.encode(maps)

    def _as_stored_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """8-bit quantisation and PIL bilinear resizing, as the stored PNGs are read back."""
        out = []
        for img in rgb:
            arr = (img.clamp(0, 1).permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
            pil = Image.fromarray(arr)
            if pil.size != (self.size, self.size):
                pil = pil.resize((self.size, self.size), Image.BILINEAR)
            out.append(torch.from_numpy(np.asarray(pil, np.float32) / 255.0).permute(2, 0, 1))
        return torch.stack(out)

    def _as_stored_displacement(self, disp: torch.Tensor) -> torch.Tensor:
        """16-bit quantisation with the card's scale/offset and bilinear resizing."""
        q = (((disp - self.disp_offset) / self.disp_scale).clamp(0, 1) * 65535.0 + 0.5).floor() / 65535.0
        d = q * self.disp_scale + self.disp_offset
        if d.shape[-1] != self.size:
            d = torch.nn.functional.interpolate(d, size=(self.size, self.size), mode="bilinear",
                                                align_corners=False)
        return d

    def render(self, source_ids: Sequence[str], target_au: torch.Tensor,
               target_ids: Sequence[str] | None = None) -> torch.Tensor:
        """Each source's identity with the model's AUs set to ``target_au`` (0..5); AUs the model does not
        condition on keep the source's values; emotion and valence of ``target_ids`` (else the source's)."""
        src = [self._row(s) for s in source_ids]
        attrs = [self._row(t) for t in target_ids] if target_ids is not None else src
        au = np.stack([r[1] for r in src]).copy()
        au[:, self.model_columns] = torch.as_tensor(target_au).detach().cpu().numpy()
        return self._maps([r[0] for r in src], au, [a[2] for a in attrs], [a[3] for a in attrs])

    def neutral(self, source_ids: Sequence[str]) -> torch.Tensor:
        """Each source's identity with no AU active, neutral emotion and zero valence."""
        src = [self._row(s) for s in source_ids]
        n = len(src)
        zeros = np.zeros((n, len(self.card_aus)), np.float32)
        return self._maps([r[0] for r in src], zeros, [0] * n, [0.0] * n)
