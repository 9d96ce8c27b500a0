"""Readers of DECA's, EMOCA's and OpenFace's outputs, as those tools write them (read from the user's folders):
DECA ``--saveMat`` .mat files, EMOCA ``--save_codes`` folders, DECA's fixed displacement, OpenFace 2.x AU CSVs
and an identities CSV. Nothing is unpickled: ``np.load(allow_pickle=False)`` and ``scipy.io.loadmat``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aucgan.au import AU_NAMES, au_set
from aucgan.data.errors import DataError, open_csv
from aucgan.data.openface import OpenFaceTable, join_images, read_openface_csv

CODE_KEYS = ("pose", "exp", "detail")


def image_name(file_name: str) -> str:
    """The name DECA and EMOCA give an image (their ``name.split('.')[0]``): ``img.v2.jpg`` -> ``img``, not
    ``Path.stem``'s ``img.v2``. Their output folders and the join to OpenFace rows use it."""
    return Path(file_name).name.split(".")[0]


@dataclass(frozen=True)
class Output:
    """One DECA/EMOCA output found under a root: its folder name, the file (or folder) the marker returned,
    and the folders between the root and it (a person's folder, EMOCA's model folder)."""

    name: str
    path: Path
    folders: tuple[str, ...]


def find_outputs(root: str | Path, marker: Callable[[Path], Path | None], what: str, depth: int = 3
                 ) -> list[Output]:
    """The ``root/[a/[b/]]<name>/`` entries (up to ``depth`` levels down) that ``marker`` recognises (it returns
    the entry's file, or None), in sorted order. ``a`` and ``b`` are whatever the user's layout has there: one
    folder per person, EMOCA's ``<model name>`` folder, or both (``<person>/<model name>/<name>``)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such {what} folder")
    found: list[Output] = []
    seen: dict[str, Path] = {}

    def walk(folder: Path, folders: tuple[str, ...]) -> None:
        for d in sorted(p for p in folder.iterdir() if p.is_dir()):
            item = marker(d)
            if item is not None:
                if d.name in seen:
                    raise DataError(f"{root}: output name {d.name!r} appears twice ({seen[d.name]} and {item}); "
                                    "names must be unique (they join to the OpenFace rows)")
                seen[d.name] = item
                found.append(Output(d.name, item, folders))
            elif len(folders) + 1 < depth:
                walk(d, (*folders, d.name))

    walk(root, ())
    if not found:
        raise DataError(f"{root}: no {what} found (expected <name>/ folders, <identity>/<name>/ folders or "
                        "EMOCA's <model name>/<name><face index>/ folders)")
    return found


def mat_marker(d: Path) -> Path | None:
    """DECA's ``<name>/<name>.mat`` of an output folder, or None."""
    f = d / f"{d.name}.mat"
    return f if f.is_file() else None


def codes_marker(d: Path) -> Path | None:
    """The folder itself when it holds EMOCA's codes (exp.npy or detail.npy), else None."""
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
    with path.open("rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        kind = f"a {path.suffix} file" if path.suffix else "not a .npy file"
        raise DataError(f"{path}: expected DECA's data/fixed_displacement_256.npy (a .npy array of 256x256 floats, "
                        f"metres), got {kind}")
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
                      min_confidence: float = 0.0, presence_gate: bool = False
                      ) -> tuple[dict[str, AuRow], list[str]]:
    """``{image name: AU row}`` from OpenFace 2.x output, and the problems met; the image name is the one DECA
    and EMOCA give it (:func:`image_name`: ``img.v2.jpg`` -> ``img``).

    ``aus``: a folder of per-image CSVs (FaceLandmarkImg writes ``<image stem>.csv``), one FaceLandmarkImg CSV,
    or one FeatureExtraction CSV over an image folder (then ``images`` is that folder: rows join to images by
    frame number, :func:`aucgan.data.openface.join_images`). With several faces in an image, the most confident
    row is kept. ``presence_gate``: an AU whose ``AUxx_c`` (OpenFace's presence classifier) is 0 gets intensity 0
    - an estimator reads absent AUs as small positive intensities (docs/findings.md, "Noisy AUs: gate them");
    every CSV must then have the presence column of every AU read.
    """
    aus = Path(aus)
    names = au_set(au_names if isinstance(au_names, str) else list(au_names))
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
    stem_of: dict[str, str] = {}
    ambiguous: set[str] = set()
    for path in files:
        table = read_openface_csv(path, names, min_confidence=min_confidence, strict=False)
        problems += table.problems
        gate = _presence_columns(table, names, path) if presence_gate else None
        if table.layout == "FaceLandmarkImg":
            files_of = [table.stem] * len(table.records)
        else:
            if images is None:
                raise DataError(f"{path}: a FeatureExtraction CSV (rows per frame) joins to images by frame "
                                "number; pass the image folder OpenFace read (--images DIR)")
            files_of = [None if p is None else p.stem for p in join_images(table, images, "frame")]
        for record, file_stem in zip(table.records, files_of):
            if file_stem is None:
                problems.append(f"{path}: line {record.line}: no image for frame {record.frame}; row skipped")
                continue
            key = image_name(file_stem)
            if stem_of.setdefault(key, file_stem) != file_stem:
                if key not in ambiguous:
                    problems.append(f"{path}: images {stem_of[key]!r} and {file_stem!r} both get DECA's name "
                                    f"{key!r} (the part before the first dot); neither is used")
                ambiguous.add(key)
                continue
            au = record.au.astype(np.float32)
            if gate is not None:
                au = np.where(record.presence[gate] > 0.5, au, np.float32(0.0))
            row = AuRow(au, f"{path}: line {record.line}", float(record.confidence))
            if key not in out or row.confidence > out[key].confidence:
                if key in out and len(files) > 1 and out[key].source.split(":")[0] != str(path):
                    problems.append(f"{path}: image {key!r} also has AUs in {out[key].source}; the more confident "
                                    "row is kept")
                out[key] = row
    return {k: v for k, v in out.items() if k not in ambiguous}, problems


def _presence_columns(table: OpenFaceTable, names: Sequence[str], path: Path) -> np.ndarray:
    """Indices into a table's presence values of each AU in ``names``; an error naming the missing ones."""
    missing = [a for a in names if a not in table.presence_names]
    if missing:
        raise DataError(f"{path}: no presence column for {', '.join(f'{a}_c' for a in missing)}; the presence gate "
                        "needs OpenFace's AUxx_c column for every AU read (or leave the gate off)")
    return np.array([table.presence_names.index(a) for a in names])


def read_identities(path: str | Path) -> dict[str, str]:
    """``{image name: identity}`` from a CSV with columns ``name`` and ``identity``; a name may carry its
    extension (``img_0001.jpg``): it is keyed as DECA and EMOCA name the image (:func:`image_name`)."""
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
            name, ident = image_name(row.get("name", "")), row.get("identity", "")
            if not name or not ident:
                raise DataError(f"{path}: line {reader.line_num}: empty 'name' or 'identity'")
            if name in out and out[name] != ident:
                raise DataError(f"{path}: line {reader.line_num}: {name!r} has two identities "
                                f"({out[name]!r}, {ident!r})")
            out[name] = ident
    return out


