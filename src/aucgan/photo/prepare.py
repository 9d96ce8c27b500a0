"""Turn a folder of face photos with AU labels into an aucgan training set in the canonical layout.

:func:`prepare_dataset` detects the face of each photo, unwraps it into the layout and writes, per photo,
``maps/<id>_albedo.png`` (the photo texture, hidden parts filled from their surroundings),
``maps/<id>_displacement.png`` (neutral: photos carry no displacement; the maps a preset reads must all be
present) and ``maps/<id>_mask.png`` (visibility 0..255), then ``manifest.csv`` (the folder data-set format
:func:`aucgan.data.datasets.open_dataset` reads) with the AU intensities, ``dataset.json`` (format
``aucgan-photo``) and ``report.json`` (prepared and skipped photos with the reason: no face, low confidence,
missing AU row, unreadable, face mostly hidden).

AU labels come from an OpenFace 2.x CSV (:mod:`aucgan.data.openface`; rows join to photos by frame number in
the file name, or by the CSV's stem for a one-image ``FaceLandmarkImg`` CSV) or from a GANimation-style
pickle of ``{image stem: 17 OpenFace AU intensities}`` (:mod:`aucgan.data.ganimation`).

Resumable: ``progress.jsonl`` gets one line per finished photo, and a rerun with the same inputs continues where
the last one stopped. A folder prepared from other inputs, or any other non-empty folder, is refused
without ``force`` (which deletes the files a previous prepare wrote there and starts again).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from aucgan.au import AU_NAMES, au_indices, au_set
from aucgan.data.errors import DataError
from aucgan.data.mapio import DEFAULT_DISP_OFFSET, DEFAULT_DISP_SCALE, MapIOError
from aucgan.fsutil import OutputExistsError, atomic_write, atomic_write_text, clear_owned
from aucgan.layout.atlas import face_mask
from aucgan.layout.landmarks import canonical_layout
from aucgan.photo.edit import fill_invisible
from aucgan.photo.io import load_photo, save_png
from aucgan.photo.landmarks import FaceMeshDetector, NoFaceError, PhotoError
from aucgan.photo.warp import PhotoWarp
from aucgan.progress import Mode, Progress

FORMAT = "aucgan-photo"
STATE_FILE = "prepare.json"
PROGRESS_FILE = "progress.jsonl"
OWNED = ("maps", "manifest.csv", "dataset.json", "report.json", STATE_FILE, PROGRESS_FILE)
PHOTO_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class AuLabel:
    """The AU intensities of one photo (``au_names`` order) and where they came from."""

    au: np.ndarray
    source: str
    confidence: float | None = None


def read_au_labels(aus: str | Path, photos_dir: str | Path, au_names: Sequence[str] = AU_NAMES
                   ) -> tuple[dict[Path, AuLabel], list[str]]:
    """AU labels per photo file from an OpenFace CSV or an AU pickle, and the problems met reading them."""
    from aucgan.data.ganimation import _au_vector, _stem
    from aucgan.data.openface import join_images, read_openface_csv
    from aucgan.data.safe_pickle import load_pickle

    aus, photos_dir = Path(aus), Path(photos_dir)
    names = au_set(list(au_names))
    if not aus.is_file():
        raise DataError(f"--aus {aus}: no such file (expected an OpenFace .csv or an AU .pkl)")
    out: dict[Path, AuLabel] = {}
    if aus.suffix.lower() == ".csv":
        table = read_openface_csv(aus, names, strict=False)
        for record, image in zip(table.records, join_images(table, photos_dir)):
            if image is not None:
                out[image.resolve()] = AuLabel(record.au, f"{aus}: line {record.line}", record.confidence)
        return out, list(table.problems)
    if aus.suffix.lower() == ".pkl":
        data = load_pickle(aus, encoding="latin1")
        if not isinstance(data, dict):
            raise DataError(f"{aus}: expected a dict of image stem -> 17 AU intensities, got {type(data).__name__}")
        columns = au_indices(names, AU_NAMES)
        stems: dict[str, AuLabel] = {}
        problems = []
        for key, value in data.items():
            stem = _stem(key.decode("latin1") if isinstance(key, bytes) else str(key))
            try:
                stems[stem] = AuLabel(_au_vector(stem, value, aus, columns), f"{aus}: entry {stem!r}")
            except DataError as exc:
                problems.append(f"{exc}; skipped")
        for photo in list_photos(photos_dir):
            if photo.stem in stems:
                out[photo.resolve()] = stems[photo.stem]
        return out, problems
    raise DataError(f"--aus {aus}: expected an OpenFace .csv or an AU .pkl file")


def list_photos(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such photo folder")
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_EXTENSIONS)


def _state(photos_dir: Path, aus: Path, size: int, min_score: float, min_visible: float,
           min_au_confidence: float, au_names: Sequence[str]) -> dict:
    return {"format": f"{FORMAT}-prepare", "photos": str(photos_dir.resolve()), "aus": str(aus.resolve()),
            "size": size, "min_score": min_score, "min_visible": min_visible,
            "min_au_confidence": min_au_confidence, "au_names": list(au_names)}


def _claim_output(out: Path, state: dict, force: bool) -> list[dict]:
    """Create/verify the output folder; return the progress records of an interrupted run with these inputs."""
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"output {out} exists and is not a folder")
    state_path = out / STATE_FILE
    if force and out.is_dir():
        clear_owned(out, OWNED)
    elif out.is_dir() and any(out.iterdir()):
        if not state_path.is_file():
            raise OutputExistsError(f"output {out} exists and is not a prepared photo data set; "
                                    "pass --force to write into it")
        try:
            old = json.loads(state_path.read_text())
        except (OSError, ValueError):
            old = None
        if old != state:
            raise OutputExistsError(f"output {out} was prepared from other inputs or settings ({state_path}); "
                                    "pass --force to start again")
        records = []
        progress = out / PROGRESS_FILE
        if progress.is_file():
            for line in progress.read_text().splitlines():
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue  # a line cut short by an interruption: that photo is done again
        return records
    (out / "maps").mkdir(parents=True, exist_ok=True)
    atomic_write_text(state_path, json.dumps(state, indent=1))
    return []


def _reason(exc: PhotoError) -> str:
    return "low confidence" if "low confidence" in str(exc) else "no face"


def prepare_dataset(photos_dir: str | Path, aus: str | Path, out: str | Path, size: int = 128,
                    min_score: float = 0.5, min_visible: float = 0.5, min_au_confidence: float = 0.0,
                    au_names: Sequence[str] = AU_NAMES, force: bool = False,
                    log: Callable[[str], None] | None = None, progress: Mode = "off") -> dict:
    """Prepare ``out`` from the photos of ``photos_dir`` and their AU labels; return the report (also written).

    ``min_score``: face detector confidence; ``min_au_confidence``: OpenFace's own ``confidence`` of the AU row;
    below either the photo is skipped as "low confidence". ``min_visible``: the share of the layout's face
    area that must be visible (head turned too far below it). ``progress``: a :class:`~aucgan.progress.Progress`
    mode over the photos (a resumed run starts at the photos done before); with a bar, the line ``log`` gets
    per photo shows beside the bar instead.
    """
    photos_dir, aus, out = Path(photos_dir), Path(aus), Path(out)
    names = au_set(list(au_names))
    photos = list_photos(photos_dir)
    labels, label_problems = read_au_labels(aus, photos_dir, names)
    state = _state(photos_dir, aus, size, min_score, min_visible, min_au_confidence, names)
    done = {r["photo"]: r for r in _claim_output(out, state, force)}
    warp = PhotoWarp(size)
    layout_face = face_mask(canonical_layout().landmarks[None], (size, size))
    layout_face = torch.as_tensor(layout_face, dtype=torch.float32).reshape(1, size, size)
    records = (out / PROGRESS_FILE).open("a")
    shown = Progress(len(photos), f"prepare {out.name}", unit="photo", mode=progress,
                     initial=sum(p.name in done for p in photos))
    detector: FaceMeshDetector | None = None
    try:
        for photo_path in photos:
            if photo_path.name in done:
                continue
            record = {"photo": photo_path.name, "id": photo_path.stem}
            label = labels.get(photo_path.resolve())
            if label is None:
                record.update(status="skipped", reason="missing AU row")
            elif label.confidence is not None and label.confidence < min_au_confidence:
                record.update(status="skipped", reason="low confidence",
                              detail=f"{label.source}: OpenFace confidence {label.confidence:g} < "
                                     f"{min_au_confidence:g}")
            else:
                detector = detector or FaceMeshDetector(min_score=min_score)
                record.update(_prepare_one(photo_path, label, out, warp, layout_face, detector, min_visible))
            records.write(json.dumps(record) + "\n")
            records.flush()
            done[photo_path.name] = record
            line = f"{photo_path.name}: {record['status']}" + (f" ({record['reason']})" if "reason" in record else "")
            if log and shown.mode != "bar":
                log(line)
            shown.update(postfix={"last": line} if log and shown.mode == "bar" else None)
    finally:
        shown.close()
        records.close()
        if detector is not None:
            detector.close()
    return _finish(out, photos, done, names, size, state, label_problems)


def _prepare_one(path: Path, label: AuLabel, out: Path, warp: PhotoWarp, layout_face: torch.Tensor,
                 detector: FaceMeshDetector, min_visible: float) -> dict:
    try:
        photo = load_photo(path)
    except MapIOError as exc:
        return {"status": "skipped", "reason": "unreadable", "detail": str(exc)}
    try:
        face = detector.detect(photo, where=str(path))
    except NoFaceError as exc:
        return {"status": "skipped", "reason": _reason(exc), "detail": str(exc)}
    except PhotoError as exc:
        return {"status": "skipped", "reason": "unusable", "detail": str(exc)}
    tex, vis = warp.unwrap(photo, face)
    visible = float((vis * layout_face).sum() / layout_face.sum())
    if visible < min_visible:
        return {"status": "skipped", "reason": "face mostly hidden",
                "detail": f"{visible:.0%} of the layout's face area visible (< {min_visible:.0%})"}
    sid = path.stem
    maps = out / "maps"
    save_png(maps / f"{sid}_albedo.png", fill_invisible(tex, vis))
    save_png(maps / f"{sid}_mask.png", vis)
    neutral = _neutral_displacement(warp.size)
    atomic_write(maps / f"{sid}_displacement.png", lambda p: p.write_bytes(neutral))
    return {"status": "ok", "au": [round(float(v), 4) for v in label.au], "score": round(face.score, 4),
            "visible": round(visible, 4), "au_source": label.source,
            "confidence": None if label.confidence is None else round(float(label.confidence), 4)}


@lru_cache(maxsize=4)
def _neutral_displacement(size: int) -> bytes:
    """PNG bytes of a zero displacement map in the default 16-bit encoding (as ``save_displacement``)."""
    from PIL import Image

    level = np.clip((0.0 - DEFAULT_DISP_OFFSET) / DEFAULT_DISP_SCALE, 0.0, 1.0) * 65535.0 + 0.5
    buf = io.BytesIO()
    Image.fromarray(np.full((size, size), level, np.float64).astype(np.uint16)).save(buf, format="PNG")
    return buf.getvalue()


def _finish(out: Path, photos: list[Path], done: dict[str, dict], au_names: tuple[str, ...], size: int,
            state: dict, label_problems: list[str]) -> dict:
    """Write manifest.csv, dataset.json and report.json from the progress records of every photo."""
    ok = [done[p.name] for p in photos if done.get(p.name, {}).get("status") == "ok"]
    skipped = [{"photo": r["photo"], "reason": r["reason"], **({"detail": r["detail"]} if "detail" in r else {})}
               for p in photos if (r := done.get(p.name)) and r["status"] != "ok"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "albedo", "displacement", "mask", *au_names, "photo", "detector_score", "visible"])
    for r in ok:
        sid = r["id"]
        writer.writerow([sid, f"maps/{sid}_albedo.png", f"maps/{sid}_displacement.png", f"maps/{sid}_mask.png",
                         *r["au"], r["photo"], r["score"], r["visible"]])
    atomic_write_text(out / "manifest.csv", buf.getvalue())
    card = {"format": FORMAT, "format_version": 1, "layout": canonical_layout().name, "size": [size, size],
            "maps": {"albedo": "photo texture unwrapped into the layout (hidden parts filled)",
                     "displacement": "neutral (0): photos carry no displacement", "mask": "visibility 0..1"},
            "displacement": {"scale": DEFAULT_DISP_SCALE, "offset": DEFAULT_DISP_OFFSET},
            "au_names": list(au_names), "photos": state["photos"], "aus": state["aus"]}
    atomic_write_text(out / "dataset.json", json.dumps(card, indent=1))
    report = {"photos": len(photos), "prepared": len(ok), "skipped": skipped,
              "skipped_by_reason": dict(Counter(s["reason"] for s in skipped)), "au_file_problems": label_problems}
    atomic_write_text(out / "report.json", json.dumps(report, indent=1))
    return report
