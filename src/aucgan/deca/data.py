"""DECA detail data sets: per sample a latent code (DECA's order) and ``uv_z``, joined with OpenFace AUs.

Sources (DECA's and EMOCA's own outputs, read from the user's folders):

* DECA ``demo_reconstruct.py --saveMat True``: ``<root>/<name>/<name>.mat`` with ``displacement_map`` =
  ``uv_z + fixed_displacement`` (not masked); ``uv_z`` is recovered by subtracting the user's
  ``data/fixed_displacement_256.npy``. DECA saves no codes: they come from the .mat when a modified demo
  saved ``pose``, ``exp`` and ``detail`` in it, or from EMOCA's codes.
* EMOCA ``--save_codes``: ``<root>/<name>/{pose,exp,detail}.npy`` (+ shape, tex, ...). Without a .mat,
  ``uv_z`` is decoded from the codes by the user's decoder checkpoint (``--decoder deca_model.tar``).

The latent is ``[pose[3:6] (jaw), exp, detail]`` (DECA's ``cat([pose[:, 3:], exp, detail])``; 181 values
with DECA's 50 expression and 128 detail parameters). AUs come from OpenFace 2.x (intensities 0..5), matched
by image name (the name DECA and EMOCA give each output: the image's file stem).

Identities (for DECA's detail consistency: detail codes swapped among images of one person) come, in this
order, from an ``--identities`` CSV (columns ``name``, ``identity``), from the folder convention
``<root>/<identity>/<name>/...`` (one DECA/EMOCA output folder per person), or else each image is its own
identity (no swaps possible).

The prepared folder::

    dataset.json    format "aucgan-deca", AU names, latent parts, uv_z size and units, the preview encoding
    manifest.csv    name, identity, displacement (the preview PNG), one column per AU (0..5)
    latents.npy     (N, latent_dim) float32, manifest order
    uv_z.npy        (N, 1, S, S) float32, metres, before the mask (DECA's convention)
    maps/<name>.png 16-bit preview of uv_z (scale/offset in dataset.json)
    report.json     prepared and skipped samples with the reason

The manifest makes the folder an ordinary aucgan manifest data set too (``aucgan inspect``, and ``aucgan
train-au --set data.maps=[displacement] data.size=256 data.disp_scale=0.01`` trains an AU estimator on uv_z
for the AU-consistency loss). Nothing is unpickled: ``np.load(allow_pickle=False)`` and ``scipy.io.loadmat``.
"""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aucgan.au import AU_NAMES, au_set
from aucgan.data.errors import DataError, open_csv, read_json
from aucgan.data.mapio import save_displacement
from aucgan.data.openface import join_images, read_openface_csv
from aucgan.fsutil import atomic_write, atomic_write_text, claim_folder

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
CODE_KEYS = ("pose", "exp", "detail")


def _names(au_names: str | Sequence[str]) -> tuple[str, ...]:
    return au_set(au_names if isinstance(au_names, str) else list(au_names))


# ------------------------------------------------------------------------------------------ reading sources
def find_outputs(root: str | Path, marker: Callable[[Path], Path | None], what: str
                 ) -> dict[str, tuple[Path, str | None]]:
    """``{name: (file or folder, identity or None)}`` for ``root/<name>/`` or ``root/<identity>/<name>/``
    entries that ``marker`` recognises (it returns the entry's file, or None)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such {what} folder")
    found: dict[str, tuple[Path, str | None]] = {}

    def add(name: str, item: Path, identity: str | None) -> None:
        if name in found:
            raise DataError(f"{root}: sample name {name!r} appears twice ({found[name][0]} and {item}); names "
                            "must be unique (they join to the OpenFace rows)")
        found[name] = (item, identity)

    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        item = marker(d)
        if item is not None:
            add(d.name, item, None)
            continue
        for e in sorted(p for p in d.iterdir() if p.is_dir()):
            sub = marker(e)
            if sub is not None:
                add(e.name, sub, d.name)
    if not found:
        raise DataError(f"{root}: no {what} found (expected <name>/ folders, or <identity>/<name>/ folders)")
    return found


def _mat_marker(d: Path) -> Path | None:
    f = d / f"{d.name}.mat"
    return f if f.is_file() else None


def _codes_marker(d: Path) -> Path | None:
    return d if (d / "exp.npy").is_file() or (d / "detail.npy").is_file() else None


def _vector(value: np.ndarray, where: str, length: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise DataError(f"{where}: expected numbers, got dtype {arr.dtype}")
    while arr.ndim > 1 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or (length is not None and arr.shape[0] != length):
        want = f"({length},)" if length is not None else "a vector"
        raise DataError(f"{where}: expected {want} (or with a leading 1), got shape {np.asarray(value).shape}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise DataError(f"{where}: not finite")
    return arr


def latent_from_codes(pose: np.ndarray, exp: np.ndarray, detail: np.ndarray, where: str
                      ) -> tuple[np.ndarray, tuple[int, int, int]]:
    """DECA's decoder input ``[pose[3:6], exp, detail]`` as float32, and the lengths of its three parts."""
    jaw = _vector(pose, f"{where}: pose", 6)[3:6]
    exp, detail = _vector(exp, f"{where}: exp"), _vector(detail, f"{where}: detail")
    return np.concatenate([jaw, exp, detail]), (3, exp.shape[0], detail.shape[0])


def read_emoca_codes(folder: str | Path) -> tuple[np.ndarray, tuple[int, int, int]]:
    """The latent (and its part lengths) of one EMOCA ``--save_codes`` folder (pose.npy, exp.npy, detail.npy;
    read without pickles)."""
    folder = Path(folder)
    parts = {}
    for key in CODE_KEYS:
        path = folder / f"{key}.npy"
        if not path.is_file():
            raise DataError(f"{folder}: no {key}.npy (EMOCA's --save_codes writes pose.npy, exp.npy, detail.npy)")
        try:
            parts[key] = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(f"{path}: not a plain .npy array ({exc})") from None
    return latent_from_codes(parts["pose"], parts["exp"], parts["detail"], str(folder))


def read_mat(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a DECA --saveMat file (scipy.io.loadmat; no code runs)."""
    import scipy.io

    path = Path(path)
    try:
        data = scipy.io.loadmat(str(path))
    except (ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise DataError(f"{path}: not a readable .mat file ({exc})") from None
    return {k: v for k, v in data.items() if not k.startswith("__")}


def displacement_of(mat: dict[str, np.ndarray], path: Path) -> np.ndarray:
    """``displacement_map`` of a DECA .mat as (S, S) float32."""
    if "displacement_map" not in mat:
        raise DataError(f"{path}: no 'displacement_map' (DECA's --saveMat output has it; found: "
                        f"{', '.join(sorted(mat)[:10]) or 'nothing'})")
    arr = np.asarray(mat["displacement_map"])
    while arr.ndim > 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.dtype.kind != "f":
        raise DataError(f"{path}: 'displacement_map' must be a square float map (1, 1, S, S), got shape "
                        f"{np.asarray(mat['displacement_map']).shape} dtype {arr.dtype}")
    if not np.isfinite(arr).all():
        raise DataError(f"{path}: 'displacement_map' has NaN or infinite values")
    return arr.astype(np.float32)


def read_fixed_displacement(path: str | Path) -> np.ndarray:
    """DECA's ``fixed_displacement_256.npy`` (a square float map, metres) as float32."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (DECA's data/fixed_displacement_256.npy)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: not a plain .npy array ({exc})") from None
    arr = np.squeeze(np.asarray(arr))
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.dtype.kind != "f" or not np.isfinite(arr).all():
        raise DataError(f"{path}: expected a finite square float map (256, 256), got shape {arr.shape} "
                        f"dtype {arr.dtype}")
    return arr.astype(np.float32)


@dataclass(frozen=True)
class AuRow:
    au: np.ndarray
    source: str
    confidence: float


def read_openface_aus(aus: str | Path, au_names: Sequence[str] = AU_NAMES, images: str | Path | None = None,
                      min_confidence: float = 0.0) -> tuple[dict[str, AuRow], list[str]]:
    """``{image name: AU row}`` from OpenFace 2.x output, and the problems met.

    ``aus``: a folder of per-image CSVs (FaceLandmarkImg writes ``<image stem>.csv``), one FaceLandmarkImg CSV,
    or one FeatureExtraction CSV over an image folder (then ``images`` is that folder: rows join to images by
    frame number, :func:`aucgan.data.openface.join_images`). With several faces in an image, the most confident
    row is kept.
    """
    aus = Path(aus)
    names = _names(au_names)
    if aus.is_dir():
        files = sorted(aus.glob("*.csv"))
        if not files:
            raise DataError(f"{aus}: no OpenFace .csv files in this folder")
    elif aus.is_file():
        files = [aus]
    else:
        raise DataError(f"{aus}: no such OpenFace CSV file or folder")
    out: dict[str, AuRow] = {}
    problems: list[str] = []
    for path in files:
        table = read_openface_csv(path, names, min_confidence=min_confidence, strict=False)
        problems += table.problems
        if table.layout == "FaceLandmarkImg":
            keys = [table.stem] * len(table.records)
        else:
            if images is None:
                raise DataError(f"{path}: a FeatureExtraction CSV (rows per frame) joins to images by frame "
                                "number; pass the image folder OpenFace read (--images DIR)")
            keys = [None if p is None else p.stem for p in join_images(table, images, "frame")]
        for record, key in zip(table.records, keys):
            if key is None:
                problems.append(f"{path}: line {record.line}: no image for frame {record.frame}; row skipped")
                continue
            row = AuRow(record.au.astype(np.float32), f"{path}: line {record.line}", float(record.confidence))
            if key not in out or row.confidence > out[key].confidence:
                if key in out and len(files) > 1 and out[key].source.split(":")[0] != str(path):
                    problems.append(f"{path}: image {key!r} also has AUs in {out[key].source}; the more confident "
                                    "row is kept")
                out[key] = row
    return out, problems


def read_identities(path: str | Path) -> dict[str, str]:
    """``{name: identity}`` from a CSV with columns ``name`` and ``identity``."""
    path = Path(path)
    handle = open_csv(path, "identities CSV")
    with handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        fields = [f.strip() for f in reader.fieldnames or []]
        if "name" not in fields or "identity" not in fields:
            raise DataError(f"{path}: expected columns 'name' and 'identity', found {', '.join(fields) or 'none'}")
        out: dict[str, str] = {}
        for row in reader:
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            name, ident = row.get("name", ""), row.get("identity", "")
            if not name or not ident:
                raise DataError(f"{path}: line {reader.line_num}: empty 'name' or 'identity'")
            if name in out and out[name] != ident:
                raise DataError(f"{path}: line {reader.line_num}: {name!r} has two identities "
                                f"({out[name]!r}, {ident!r})")
            out[name] = ident
    return out


# ------------------------------------------------------------------------------------------------ preparing
@dataclass
class _Plan:
    names: list[str] = field(default_factory=list)
    identities: list[str] = field(default_factory=list)
    latents: list[np.ndarray] = field(default_factory=list)
    parts: set[tuple[int, int, int]] = field(default_factory=set)
    aus: list[np.ndarray] = field(default_factory=list)
    mats: list[Path | None] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _claim(out: Path, force: bool) -> None:
    claim_folder(out, OWNED, force, "the prepared DECA data set's output")
    (out / "maps").mkdir(exist_ok=True)


def prepare_deca(out: str | Path, aus: str | Path, *, mat: str | Path | None = None,
                 codes: str | Path | None = None, fixed_displacement: str | Path | None = None,
                 decoder: str | Path | None = None, decoder_au_input: str = "unit",
                 identities: str | Path | None = None, images: str | Path | None = None,
                 au_names: str | Sequence[str] = AU_NAMES, min_confidence: float = 0.0, force: bool = False,
                 batch_size: int = 16, log: Callable[[str], None] | None = None) -> dict:
    """Build a DECA detail data set in ``out`` (see the module notes); return the report (also written).

    ``uv_z`` comes from DECA's .mat files (``mat`` + ``fixed_displacement``) or, without them, from the codes
    decoded by ``decoder`` (a DECA/EMOCA checkpoint; for their AU-concat variant the AUs enter scaled by
    ``decoder_au_input``). Codes come from ``codes`` (EMOCA folders) or from the .mat files.
    """
    out = Path(out)
    names = _names(au_names)
    if mat is None and codes is None:
        raise DataError("give DECA's --saveMat output (--mat DIR) and/or EMOCA's --save_codes output (--codes DIR)")
    if mat is not None and fixed_displacement is None:
        raise DataError("--mat needs --fixed-displacement (DECA's data/fixed_displacement_256.npy): DECA's "
                        "displacement_map is uv_z plus that fixed map")
    if mat is None and decoder is None:
        raise DataError("without DECA's .mat files uv_z has to be decoded from the codes: pass --decoder "
                        "deca_model.tar")
    mats = find_outputs(mat, _mat_marker, "DECA --saveMat output (<name>/<name>.mat)") if mat is not None else {}
    code_dirs = find_outputs(codes, _codes_marker, "EMOCA --save_codes output (<name>/exp.npy ...)") \
        if codes is not None else {}
    au_rows, problems = read_openface_aus(aus, names, images=images, min_confidence=min_confidence)
    id_map = read_identities(identities) if identities is not None else None
    fixed = read_fixed_displacement(fixed_displacement) if mat is not None else None

    plan = _Plan()
    candidates = sorted(mats) if mat is not None else sorted(code_dirs)
    if mat is not None and codes is not None:
        for name in sorted(set(code_dirs) - set(mats)):
            plan.skipped[name] = "EMOCA codes but no DECA .mat"
    for name in candidates:
        mat_file, mat_id = mats.get(name, (None, None))
        code_dir, code_id = code_dirs.get(name, (None, None))
        if name not in au_rows:
            plan.skipped[name] = "no OpenFace AU row for this image"
            continue
        if code_dir is not None:
            latent, parts = read_emoca_codes(code_dir)
        else:
            contents = read_mat(mat_file)
            if not all(k in contents for k in CODE_KEYS):
                if codes is None:
                    raise DataError(f"{mat_file}: no codes (DECA's --saveMat saves none): pass EMOCA's codes "
                                    "(--codes DIR) or save codedict's pose, exp and detail into the .mat")
                plan.skipped[name] = "DECA .mat but no EMOCA codes"
                continue
            latent, parts = latent_from_codes(contents["pose"], contents["exp"], contents["detail"], str(mat_file))
        if id_map is not None:
            if name not in id_map:
                raise DataError(f"{identities}: no identity for {name!r} (every prepared image needs a row)")
            identity = id_map[name]
        else:
            identity = mat_id or code_id or name
        plan.names.append(name)
        plan.identities.append(identity)
        plan.latents.append(latent)
        plan.parts.add(parts)
        plan.aus.append(au_rows[name].au)
        plan.mats.append(mat_file)
    if not plan.names:
        reasons = Counter(plan.skipped.values()).most_common(1)
        raise DataError(f"nothing to prepare: {len(plan.skipped)} outputs skipped"
                        + (f", mostly: {reasons[0][0]}" if reasons else ""))
    if len(plan.parts) != 1:
        raise DataError(f"the codes have different lengths (jaw, exp, detail: {sorted(plan.parts)}); expected one "
                        "model's codes")
    parts = plan.parts.pop()
    latent_dim = sum(parts)

    dec = None
    if mat is None:
        from aucgan.deca.decoder import DetailDecoder

        dec = DetailDecoder.from_deca(decoder, au_names=names, conditioning="concat_latent",
                                      au_input=decoder_au_input, latent_dim=latent_dim).eval()
        size = dec.output_size
    else:
        size = fixed.shape[0]
    _claim(out, force)
    n = len(plan.names)
    latents = np.stack(plan.latents).astype(np.float32)
    au = np.stack(plan.aus).astype(np.float32)
    tmp = out / f".{UV_Z}.tmp.npy"
    uv = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(n, 1, size, size))
    try:
        if dec is None:
            for i, mat_file in enumerate(plan.mats):
                disp = displacement_of(read_mat(mat_file), mat_file)
                if disp.shape != fixed.shape:
                    raise DataError(f"{mat_file}: displacement_map is {disp.shape[0]}x{disp.shape[1]}, "
                                    f"{fixed_displacement} is {fixed.shape[0]}x{fixed.shape[1]}")
                uv[i, 0] = disp - fixed
                _preview(out, plan.names[i], uv[i])
                if log is not None:
                    log(f"{plan.names[i]}: uv_z from {mat_file}")
        else:
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    sl = slice(start, min(n, start + batch_size))
                    z = dec(torch.from_numpy(latents[sl]), torch.from_numpy(au[sl])).numpy()
                    uv[sl] = z
                    for i in range(sl.start, sl.stop):
                        _preview(out, plan.names[i], uv[i])
            if log is not None:
                log(f"decoded uv_z of {n} samples with {decoder}")
        uv.flush()
        del uv
        os.replace(tmp, out / UV_Z)
    finally:
        if tmp.exists():
            tmp.unlink()
    atomic_write(out / LATENTS, lambda p: np.save(p, latents, allow_pickle=False))
    _write_manifest(out, plan, names, au)
    card = {"format": FORMAT, "format_version": FORMAT_VERSION, "count": n, "au_names": list(names),
            "latent_dim": latent_dim,
            "latent_parts": [["jaw", parts[0]], ["exp", parts[1]], ["detail", parts[2]]], "uv_size": size,
            "uv_z_units": "metres",
            "uv_z_source": "decoder" if dec is not None else "mat",
            "displacement": {"scale": PREVIEW_SCALE, "offset": PREVIEW_OFFSET},
            "identity_rule": "identities CSV" if id_map is not None else "folder <identity>/<name>, else the name",
            "identities": len(set(plan.identities)),
            "sources": {"mat": None if mat is None else str(Path(mat).resolve()),
                        "codes": None if codes is None else str(Path(codes).resolve()),
                        "aus": str(Path(aus).resolve()),
                        "fixed_displacement": None if fixed_displacement is None
                        else str(Path(fixed_displacement).resolve()),
                        "decoder": None if decoder is None else str(Path(decoder).resolve())}}
    atomic_write_text(out / CARD, json.dumps(card, indent=1))
    report = {"prepared": n, "skipped": len(plan.skipped),
              "skipped_by_reason": dict(Counter(plan.skipped.values())),
              "skipped_samples": plan.skipped, "identities": card["identities"],
              "au_file_problems": problems}
    atomic_write_text(out / REPORT, json.dumps(report, indent=1))
    return report


def _preview(out: Path, name: str, uv_z: np.ndarray) -> None:
    atomic_write(out / "maps" / f"{name}.png",
                 lambda p: save_displacement(p, torch.from_numpy(np.array(uv_z)), PREVIEW_SCALE, PREVIEW_OFFSET))


def _write_manifest(out: Path, plan: _Plan, names: Sequence[str], au: np.ndarray) -> None:
    def write(path: Path) -> None:
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["name", "identity", "displacement", *names])
            for i, name in enumerate(plan.names):
                w.writerow([name, plan.identities[i], f"maps/{name}.png", *(f"{v:.4f}" for v in au[i])])

    atomic_write(out / MANIFEST, write)


# -------------------------------------------------------------------------------------------------- reading
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
