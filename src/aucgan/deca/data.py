"""A prepared DECA detail data set (written by :mod:`aucgan.deca.prepare`, ``aucgan prepare-deca``): per sample
a latent code (DECA's order: jaw pose, expression, detail code) and ``uv_z``, joined with OpenFace AUs.

The folder::

    dataset.json    format "aucgan-deca", AU names, latent parts, uv_z size and units, the preview encoding
    manifest.csv    name, identity, displacement (the preview PNG), one column per AU (0..5)
    latents.npy     (N, latent_dim) float32, manifest order
    uv_z.npy        (N, 1, S, S) float32, metres, before the mask (DECA's convention)
    maps/<name>.png 16-bit preview of uv_z (scale/offset in dataset.json)
    report.json     prepared and skipped samples with the reason

The manifest makes the folder an ordinary aucgan manifest data set too (``aucgan inspect``, and ``aucgan
train-au --set data.maps=[displacement] data.size=256 data.disp_scale=0.01`` trains an AU estimator on uv_z
for the AU-consistency loss). Nothing is unpickled: ``np.load(allow_pickle=False)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aucgan.au import au_set
from aucgan.data.errors import DataError, read_json

FORMAT = "aucgan-deca"
FORMAT_VERSION = 1
CARD = "dataset.json"
MANIFEST = "manifest.csv"
LATENTS = "latents.npy"
UV_Z = "uv_z.npy"
REPORT = "report.json"
OWNED = ("maps", MANIFEST, CARD, LATENTS, UV_Z, REPORT)
#: 16-bit preview encoding of uv_z (metres): 0 <-> -1 cm, 65535 <-> +1 cm (DECA's uv_z lies within +-1 cm).
PREVIEW_SCALE, PREVIEW_OFFSET = 0.02, -0.01


def _names(au_names: str | Sequence[str]) -> tuple[str, ...]:
    return au_set(au_names if isinstance(au_names, str) else list(au_names))


def identity_warning(identities: Sequence[str], where: str | None) -> str | None:
    """A warning when the identities look wrong: one identity for every one of three or more images (a folder
    taken for a person, e.g. EMOCA's model folder, or a CSV with one identity), so that detail consistency
    would swap detail codes between different people; None when they look plausible."""
    if len(identities) < 3 or len(set(identities)) != 1:
        return None
    return (f"all {len(identities)} images have one identity, {identities[0]!r} (from {where or 'their names'}); "
            "detail consistency swaps detail codes among images of one identity: if these are several people, "
            "give prepare-deca --identities CSV (columns name, identity) or one output folder per person")


@dataclass(eq=False)
class DecaData:
    """A prepared DECA detail data set: ``latents`` (N, D) float32, ``uv_z`` (N, 1, S, S) float32 metres
    (memory-mapped), ``au`` (N, K) intensities 0..5 in ``au_names`` order, names and identity ids."""

    root: Path
    names: list[str]
    identities: list[str]
    au_names: tuple[str, ...]
    au: np.ndarray
    latents: np.ndarray
    uv_z: np.ndarray
    card: dict

    def __len__(self) -> int:
        return len(self.names)

    @property
    def latent_dim(self) -> int:
        return int(self.latents.shape[1])

    @property
    def size(self) -> int:
        return int(self.uv_z.shape[-1])

    @property
    def parts(self) -> dict[str, slice]:
        """Where jaw pose, expression and detail code sit in the latent."""
        out, start = {}, 0
        for name, length in self.card["latent_parts"]:
            out[name] = slice(start, start + int(length))
            start += int(length)
        return out

    def identity_index(self) -> np.ndarray:
        """(N,) int identity ids (0..I-1, in order of first appearance)."""
        ids: dict[str, int] = {}
        return np.array([ids.setdefault(i, len(ids)) for i in self.identities], np.int64)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise DataError(f"{self.root}: no sample {name!r} (e.g. {', '.join(self.names[:3])})") from None


def _load_array(path: Path, what: str) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"{path.parent}: no {path.name} ({what}); prepare the folder with `aucgan prepare-deca`")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a plain .npy array ({exc})") from None


def open_deca_data(path: str | Path, au_names: str | Sequence[str] | None = None) -> DecaData:
    """Open a folder written by :func:`prepare_deca`; ``au_names`` picks AUs by name (default: all of them)."""
    from aucgan.data.folder import read_manifest

    root = Path(path)
    if not (root / CARD).is_file():
        raise DataError(f"{root}: not a DECA detail data set (no {CARD}); prepare one with `aucgan prepare-deca`")
    card = read_json(root / CARD, "DECA data set card")
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise DataError(f"{root / CARD}: not a DECA detail data set (field 'format' must be {FORMAT!r}); prepare "
                        "one with `aucgan prepare-deca`")
    if card.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{root / CARD}: format_version {card.get('format_version')!r}; this aucgan reads "
                        f"{FORMAT_VERSION}")
    have = tuple(card.get("au_names") or ())
    names = _names(have if au_names is None else au_names)
    missing = [a for a in names if a not in have]
    if missing:
        raise DataError(f"{root}: the data set has no {', '.join(missing)} (it has {', '.join(have)})")
    folder = read_manifest(root, names)
    latents = _load_array(root / LATENTS, "latent codes")
    uv_z = _load_array(root / UV_Z, "uv_z maps")
    n = len(folder.samples)
    parts = card.get("latent_parts")
    if not isinstance(parts, list) or [p[0] for p in parts] != ["jaw", "exp", "detail"] \
            or sum(int(p[1]) for p in parts) != (latents.shape[1] if latents.ndim == 2 else -1):
        raise DataError(f"{root / CARD}: field 'latent_parts' must list jaw, exp and detail lengths summing to the "
                        f"latent size ({latents.shape[1:] if latents.ndim == 2 else latents.shape})")
    if latents.ndim != 2 or latents.shape[0] != n:
        raise DataError(f"{root / LATENTS}: expected ({n}, D) for the {n} manifest rows, got {latents.shape}")
    if uv_z.ndim != 4 or uv_z.shape[:2] != (n, 1) or uv_z.shape[2] != uv_z.shape[3]:
        raise DataError(f"{root / UV_Z}: expected ({n}, 1, S, S) for the {n} manifest rows, got {uv_z.shape}")
    return DecaData(root=root, names=[s.id for s in folder.samples],
                    identities=[s.identity or s.id for s in folder.samples], au_names=names,
                    au=np.stack([s.au for s in folder.samples]).astype(np.float32), latents=latents, uv_z=uv_z,
                    card=card)
