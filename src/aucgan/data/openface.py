"""OpenFace 2.x CSV output: AU intensities, landmarks and confidences, joined to image files.

Three layouts are read, told apart by their columns:

- ``FeatureExtraction`` (videos / image sequences): ``frame, face_id, timestamp, confidence, success, ...``
- ``FeatureExtraction-old`` (releases before ``face_id``): ``frame, timestamp, confidence, success, ...``
- ``FaceLandmarkImg`` (one CSV per image): ``face, confidence, ...``

OpenFace writes ``", "`` between fields (header names then carry a leading space); plain ``,`` works too.
AU intensities are the ``AUxx_r`` columns found *by name* (never by position); ``AUxx_c`` presence columns
are kept apart. The 68 2-D landmarks ``x_0..x_67, y_0..y_67`` (pixels of the processed frame) are read when
present.

Rows join to images by one of two named rules (:data:`JOIN_RULES`):

- ``"frame"``: the frame number in the file name: OpenFace's aligned faces
  ``<name>_aligned/frame_det_00_000001.bmp`` (face id, then frame), or plain ``frame_000001.png`` /
  ``000001.png`` (the trailing number).
- ``"stem"``: the CSV's own file stem (FaceLandmarkImg writes ``<image stem>.csv``): image ``<stem>.<ext>``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aucgan.au import AU_MAX, AU_MIN, AU_NAMES, AUError, au_set, canonical_au
from aucgan.data.errors import DataError, open_csv
from aucgan.data.sample import SampleMeta

LAYOUTS = ("FeatureExtraction", "FeatureExtraction-old", "FaceLandmarkImg")
JOIN_RULES = ("frame", "stem")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
NUM_LANDMARKS = 68

_INTENSITY_RE = re.compile(r"^AU(\d+)_r$")
_PRESENCE_RE = re.compile(r"^AU(\d+)_c$")
_ALIGNED_RE = re.compile(r"^frame_det_(\d+)_(\d+)$")
_TRAILING_NUMBER_RE = re.compile(r"(\d+)$")


@dataclass(frozen=True, eq=False)
class OpenFaceRecord:
    """One kept CSV row: ids, confidence, AU intensities (``au_names`` order), optional landmarks."""

    line: int
    frame: int | None
    face: int
    timestamp: float | None
    confidence: float
    success: bool
    au: np.ndarray
    presence: np.ndarray | None = None
    landmarks_px: np.ndarray | None = None

    @property
    def key(self) -> str:
        """Human-readable id of the row inside its file (``frame 12 face 0`` or ``face 1``)."""
        return f"face {self.face}" if self.frame is None else f"frame {self.frame} face {self.face}"


@dataclass(eq=False)
class OpenFaceTable:
    """The kept rows of one OpenFace CSV, with what the filters dropped and any problems met."""

    path: Path
    layout: str
    au_names: tuple[str, ...]
    presence_names: tuple[str, ...]
    records: list[OpenFaceRecord]
    rows_total: int
    filtered: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def stem(self) -> str:
        return self.path.stem

    @property
    def default_join(self) -> str:
        """``"stem"`` for FaceLandmarkImg CSVs (one per image), ``"frame"`` otherwise."""
        return "stem" if self.layout == "FaceLandmarkImg" else "frame"

    def au_matrix(self) -> np.ndarray:
        """(N, K) float32 intensities 0..5 of the kept rows."""
        if not self.records:
            return np.zeros((0, len(self.au_names)), np.float32)
        return np.stack([r.au for r in self.records]).astype(np.float32)

    def record_id(self, record: OpenFaceRecord) -> str:
        """Sample id: ``<stem>_<frame:06d>`` (videos) or ``<stem>`` (images); ``_face<N>`` added for N > 0."""
        base = self.stem if record.frame is None else f"{self.stem}_{record.frame:06d}"
        return base if record.face == 0 else f"{base}_face{record.face}"


def _parse_number(text: str, where: str, integer: bool = False) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {text!r} is not a number") from None
    if integer:
        if not math.isfinite(value) or value != int(value):
            raise DataError(f"{where}: {text!r} is not a whole number")
    return value


def _au_columns(header: list[str], pattern: re.Pattern, path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for col, name in enumerate(header):
        match = pattern.match(name)
        if not match:
            continue
        try:
            code = canonical_au(int(match.group(1)))
        except AUError:
            continue  # an AU aucgan does not model: ignored
        if code in out:
            raise DataError(f"{path}: column {name!r} appears twice in the header")
        out[code] = col
    return out


def _layout_of(columns: dict[str, int], path: Path) -> str:
    if "frame" in columns:
        return "FeatureExtraction" if "face_id" in columns else "FeatureExtraction-old"
    if "face" in columns:
        return "FaceLandmarkImg"
    raise DataError(f"{path}: not an OpenFace CSV: no 'frame' column (FeatureExtraction) and no 'face' "
                    "column (FaceLandmarkImg) in the header")


def _landmark_columns(columns: dict[str, int], path: Path) -> tuple[list[int], list[int]] | None:
    xs = [f"x_{i}" for i in range(NUM_LANDMARKS)]
    ys = [f"y_{i}" for i in range(NUM_LANDMARKS)]
    present = [c for c in xs + ys if c in columns]
    if not present:
        return None
    if len(present) != 2 * NUM_LANDMARKS:
        missing = [c for c in xs + ys if c not in columns]
        raise DataError(f"{path}: landmark columns incomplete: missing {', '.join(missing[:6])}"
                        f"{' ...' if len(missing) > 6 else ''} (expected x_0..x_67 and y_0..y_67)")
    return [columns[c] for c in xs], [columns[c] for c in ys]


def read_openface_csv(path: str | Path, au_names: Sequence[str] = AU_NAMES, min_confidence: float = 0.0,
                      success_only: bool = True, strict: bool = True) -> OpenFaceTable:
    """Read one OpenFace 2.x CSV (any of :data:`LAYOUTS`), keeping rows that pass the filters.

    ``au_names``: the AUs to read (all must have ``AUxx_r`` columns; pass a subset for data without some).
    Rows with ``success == 0`` (when ``success_only``) or ``confidence < min_confidence`` are dropped and
    counted in ``filtered``. A kept row with a non-numeric, NaN or out-of-range (0..5) AU value, or a repeated
    frame/face id, raises :class:`DataError` naming file, line (1-based) and field; with ``strict=False`` the
    row is skipped and described in ``problems`` instead.
    """
    path = Path(path)
    try:
        names = au_set(list(au_names))
    except AUError as exc:
        raise DataError(f"{path}: {exc}") from None
    handle = open_csv(path, "OpenFace CSV")
    with handle:
        reader = csv.reader(handle, skipinitialspace=True)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise DataError(f"{path}: empty file (expected an OpenFace CSV header)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a readable CSV ({exc})") from None
        columns: dict[str, int] = {}
        for col, name in enumerate(header):
            columns.setdefault(name, col)
        layout = _layout_of(columns, path)
        if "confidence" not in columns:
            raise DataError(f"{path}: OpenFace CSV without a 'confidence' column")
        intensity = _au_columns(header, _INTENSITY_RE, path)
        missing = [a for a in names if a not in intensity]
        if missing:
            have = ", ".join(sorted(intensity)) or "none"
            raise DataError(f"{path}: missing AU intensity column(s) {', '.join(a + '_r' for a in missing)} "
                            f"(found: {have}); pass an AU subset (e.g. au_names=...) to read fewer AUs")
        presence = _au_columns(header, _PRESENCE_RE, path)
        presence_names = tuple(sorted(presence, key=presence.__getitem__))  # file order
        landmark_cols = _landmark_columns(columns, path)
        au_cols = [intensity[a] for a in names]
        table = OpenFaceTable(path, layout, names, presence_names, [], 0,
                              filtered={"unsuccessful": 0, "low_confidence": 0})
        seen: dict[tuple[int | None, int], int] = {}
        try:
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                table.rows_total += 1
                line = reader.line_num
                try:
                    record = _parse_row(row, line, path, header, columns, layout, au_cols, names, presence,
                                        presence_names, landmark_cols, min_confidence, success_only, table)
                    if record is None:
                        continue
                    key = (record.frame, record.face)
                    if key in seen:
                        raise DataError(f"{path}: line {line}: {record.key} repeats line {seen[key]} "
                                        "(duplicate id)")
                    seen[key] = line
                except DataError as exc:
                    if strict:
                        raise
                    table.problems.append(f"{exc}; row skipped")
                    continue
                table.records.append(record)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: line {reader.line_num}: not readable as CSV ({exc})") from None
    dropped = table.filtered
    if dropped["unsuccessful"]:
        table.problems.insert(0, f"{path}: {dropped['unsuccessful']} of {table.rows_total} rows dropped: "
                                 "success = 0 (face not tracked)")
    if dropped["low_confidence"]:
        table.problems.insert(0, f"{path}: {dropped['low_confidence']} of {table.rows_total} rows dropped: "
                                 f"confidence < {min_confidence:g}")
    return table


def _cell(row: list[str], col: int, where: str) -> str:
    if col >= len(row):
        raise DataError(f"{where}: missing (the row has {len(row)} fields)")
    return row[col].strip()


def _parse_row(row, line, path, header, columns, layout, au_cols, names, presence, presence_names,
               landmark_cols, min_confidence, success_only, table) -> OpenFaceRecord | None:
    at = f"{path}: line {line}"
    frame = None
    if layout != "FaceLandmarkImg":
        where = f"{at}, field 'frame'"
        frame = int(_parse_number(_cell(row, columns["frame"], where), where, integer=True))
        face_col = columns.get("face_id")
    else:
        face_col = columns["face"]
    face = 0
    if face_col is not None:
        name = header[face_col]
        face = int(_parse_number(_cell(row, face_col, f"{at}, field {name!r}"), f"{at}, field {name!r}",
                                 integer=True))
    timestamp = None
    if "timestamp" in columns:
        timestamp = _parse_number(_cell(row, columns["timestamp"], f"{at}, field 'timestamp'"),
                                  f"{at}, field 'timestamp'")
    confidence = _parse_number(_cell(row, columns["confidence"], f"{at}, field 'confidence'"),
                               f"{at}, field 'confidence'")
    success = True
    if "success" in columns:
        success = _parse_number(_cell(row, columns["success"], f"{at}, field 'success'"),
                                f"{at}, field 'success'") != 0
    if success_only and not success:
        table.filtered["unsuccessful"] += 1
        return None
    if not confidence >= min_confidence:
        table.filtered["low_confidence"] += 1
        return None
    au = np.empty(len(names), np.float32)
    for k, col in enumerate(au_cols):
        where = f"{at}, field {header[col]!r}"
        value = _parse_number(_cell(row, col, where), where)
        if math.isnan(value):
            raise DataError(f"{where}: NaN (expected an AU intensity 0..5)")
        if not AU_MIN <= value <= AU_MAX:
            raise DataError(f"{where}: {value:g} is outside 0..5")
        au[k] = value
    pres = None
    if presence_names:
        pres = np.empty(len(presence_names), np.float32)
        for k, code in enumerate(presence_names):
            where = f"{at}, field {header[presence[code]]!r}"
            pres[k] = _parse_number(_cell(row, presence[code], where), where)
    landmarks = None
    if landmark_cols is not None:
        xs, ys = landmark_cols
        pts = np.empty((NUM_LANDMARKS, 2), np.float32)
        for i in range(NUM_LANDMARKS):
            for j, col in enumerate((xs[i], ys[i])):
                where = f"{at}, field {header[col]!r}"
                value = _parse_number(_cell(row, col, where), where)
                if not math.isfinite(value):
                    raise DataError(f"{where}: {value} is not a finite landmark coordinate")
                pts[i, j] = value
        landmarks = pts
    return OpenFaceRecord(line=line, frame=frame, face=face, timestamp=timestamp, confidence=confidence,
                          success=success, au=au, presence=pres, landmarks_px=landmarks)


def looks_like_openface_csv(path: str | Path) -> bool:
    """True when ``path`` starts with an OpenFace header (``frame``/``face``, ``confidence``, ``AUxx_r``)."""
    try:
        with Path(path).open(newline="", encoding="utf-8-sig") as handle:
            header = [h.strip() for h in next(csv.reader(handle, skipinitialspace=True), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return ("frame" in header or "face" in header) and "confidence" in header and any(
        _INTENSITY_RE.match(h) for h in header)


def image_dir_candidates(csv_path: str | Path, rule: str) -> list[Path]:
    """Folders searched for a CSV's images when none is given, in order.

    ``frame``: ``<stem>_aligned/`` (OpenFace's own output), ``<stem>/``, ``<stem>_frames/``, ``frames/``,
    ``images/``, ``imgs/`` beside the CSV. ``stem``: the CSV's folder, ``images/``, ``imgs/``.
    """
    csv_path = Path(csv_path)
    d, stem = csv_path.parent, csv_path.stem
    if rule == "frame":
        names = [f"{stem}_aligned", stem, f"{stem}_frames", "frames", "images", "imgs"]
        return [d / n for n in names]
    if rule == "stem":
        return [d, d / "images", d / "imgs"]
    raise DataError(f"unknown image join rule {rule!r}; valid rules: {', '.join(JOIN_RULES)}")


def find_image_dir(csv_path: str | Path, rule: str) -> Path | None:
    """The first existing folder of :func:`image_dir_candidates`, or None."""
    for d in image_dir_candidates(csv_path, rule):
        if d.is_dir():
            return d
    return None


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def frame_index(folder: str | Path) -> dict[tuple[int | None, int], Path]:
    """Map ``(face id or None, frame number)`` to the image files of ``folder``.

    ``frame_det_FF_NNNNNN.<ext>`` gives ``(FF, NNNNNN)``; any other name ending in a number gives
    ``(None, number)``. Two files with the same key raise :class:`DataError` naming both.
    """
    folder = Path(folder)
    out: dict[tuple[int | None, int], Path] = {}
    for p in _images_in(folder):
        aligned = _ALIGNED_RE.match(p.stem)
        if aligned:
            key: tuple[int | None, int] = (int(aligned.group(1)), int(aligned.group(2)))
        else:
            number = _TRAILING_NUMBER_RE.search(p.stem)
            if not number:
                continue
            key = (None, int(number.group(1)))
        if key in out:
            raise DataError(f"{folder}: images {out[key].name} and {p.name} both match frame {key[1]}; "
                            "keep one image per frame")
        out[key] = p
    return out


def join_images(table: OpenFaceTable, image_dir: str | Path, rule: str | None = None) -> list[Path | None]:
    """The image of each kept row of ``table`` (None where there is none), by ``rule`` (:data:`JOIN_RULES`).

    ``"frame"`` matches the row's (face id, frame) to :func:`frame_index` keys, falling back to the bare frame
    number for face 0; ``"stem"`` matches the CSV's stem to ``<stem>.<ext>`` in ``image_dir``.
    """
    rule = rule or table.default_join
    image_dir = Path(image_dir)
    if rule not in JOIN_RULES:
        raise DataError(f"unknown image join rule {rule!r}; valid rules: {', '.join(JOIN_RULES)}")
    if not image_dir.is_dir():
        raise DataError(f"{image_dir}: no such image folder")
    if rule == "stem":
        matches = [p for p in _images_in(image_dir) if p.stem == table.stem]
        if len(matches) > 1:
            raise DataError(f"{image_dir}: several images have the stem {table.stem!r} "
                            f"({', '.join(p.name for p in matches)}); keep one")
        image = matches[0] if matches else None
        return [image for _ in table.records]
    if any(r.frame is None for r in table.records):
        raise DataError(f"{table.path}: the 'frame' join rule needs a 'frame' column ({table.layout} CSV "
                        "has none)")
    index = frame_index(image_dir)
    out: list[Path | None] = []
    for r in table.records:
        image = index.get((r.face, r.frame))
        if image is None and r.face == 0:
            image = index.get((None, r.frame))
        out.append(image)
    return out


def openface_samples(path: Path, au_names: Sequence[str], strict: bool = True, images: str | Path | None = None,
                     join: str | None = None, min_confidence: float = 0.0, success_only: bool = True
                     ) -> tuple[list[SampleMeta], list[str]]:
    """The samples of an OpenFace CSV joined to its images (one identity per video and face id), and the
    problems noticed; rows without an image carry the reason in ``missing``."""
    table = read_openface_csv(path, au_names, min_confidence=min_confidence, success_only=success_only,
                              strict=strict)
    rule = join or table.default_join
    problems = list(table.problems)
    folder = Path(images) if images is not None else find_image_dir(path, rule)
    if folder is None:
        looked = ", ".join(str(d) for d in image_dir_candidates(path, rule))
        problems.append(f"{path}: no image folder found (looked for {looked}); pass images=DIR (--images)")
        files: list[Path | None] = [None] * len(table.records)
    else:
        files = join_images(table, folder, rule)
    samples = []
    for record, image in zip(table.records, files):
        identity = None
        if record.frame is not None:  # one video per identity (OpenFace face ids separate people)
            identity = table.stem if record.face == 0 else f"{table.stem}_face{record.face}"
        missing = None
        if image is None:
            what = f"frame {record.frame} face {record.face}" if rule == "frame" else f"stem {table.stem!r}"
            missing = f"no image for {what} ({'no image folder' if folder is None else f'in {folder}'})"
        samples.append(SampleMeta(id=table.record_id(record), au=record.au,
                                  maps={} if image is None else {"image": image}, identity=identity,
                                  landmarks_px=record.landmarks_px, source=f"{path}: line {record.line}",
                                  missing=missing))
    return samples, problems
