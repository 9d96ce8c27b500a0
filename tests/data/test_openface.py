"""OpenFace 2.x CSVs in real layouts: header spellings, separators, AU columns by name, filters, joins."""

from __future__ import annotations

import re

import numpy as np
import pytest

from aucgan.au import AU_NAMES, AU_SETS
from aucgan.data.errors import DataError
from aucgan.data.openface import frame_index, join_images, looks_like_openface_csv, read_openface_csv

PRESENCE = [*AU_NAMES[:16], "AU28", "AU45"]  # OpenFace writes AU28_c but no AU28_r


def face_landmarks(shift: float = 0.0, scale: float = 100.0) -> np.ndarray:
    """68 pixel landmarks laid out on a grid (distinct values, so x/y/X mix-ups show)."""
    i = np.arange(68, dtype=np.float64)
    x = scale * (0.1 + 0.8 * (i % 17) / 16) + shift
    y = scale * (0.1 + 0.8 * (i // 17) / 4) + shift
    return np.stack([x, y], 1)


def openface_header(layout: str, au_order=AU_NAMES) -> list[str]:
    """The column names OpenFace 2.2 writes, in its order (AU columns in ``au_order``)."""
    ids = {"FeatureExtraction": ["frame", "face_id", "timestamp", "confidence", "success"],
           "FeatureExtraction-old": ["frame", "timestamp", "confidence", "success"],
           "FaceLandmarkImg": ["face", "confidence"]}[layout]
    gaze = [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
    eye = [f"eye_lmk_{a}_{i}" for a in ("x", "y", "X", "Y", "Z") for i in range(56)]
    pose = [f"pose_{a}" for a in ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")]
    lm = [f"{a}_{i}" for a in ("x", "y", "X", "Y", "Z") for i in range(68)]
    pdm = ["p_scale", "p_rx", "p_ry", "p_rz", "p_tx", "p_ty"] + [f"p_{i}" for i in range(34)]
    return (ids + gaze + eye + pose + lm + pdm + [f"{a}_r" for a in au_order] +
            [f"{a}_c" for a in PRESENCE])


def write_openface_csv(path, rows: list[dict], layout: str = "FeatureExtraction", sep: str = ", ",
                       au_order=AU_NAMES, drop: tuple[str, ...] = ()) -> list[str]:
    """Write an OpenFace-style CSV. A row: ``frame``, ``face``, ``confidence``, ``success``, ``au`` (dict or
    17 values in AU_NAMES order; a value may be a string such as ``"nan"``), ``landmarks`` (68, 2) pixels."""
    header = [h for h in openface_header(layout, au_order) if h not in drop]
    lines = [sep.join(header)]
    for k, r in enumerate(rows):
        au = r.get("au", np.zeros(17))
        au = au if isinstance(au, dict) else dict(zip(AU_NAMES, au))
        lm = r.get("landmarks", face_landmarks())
        values = {"frame": r.get("frame", k + 1), "face_id": r.get("face", 0), "face": r.get("face", 0),
                  "timestamp": 0.04 * k, "confidence": r.get("confidence", 0.98),
                  "success": r.get("success", 1)}
        for i in range(68):
            values[f"x_{i}"], values[f"y_{i}"] = lm[i]
            values[f"X_{i}"], values[f"Y_{i}"], values[f"Z_{i}"] = -999.0, -888.0, 500.0
        for i in range(56):
            values[f"eye_lmk_x_{i}"], values[f"eye_lmk_y_{i}"] = -1.0, -2.0
        for code in AU_NAMES:
            values[f"{code}_r"] = au.get(code, 0.0)
        cells = []
        for h in header:
            v = values.get(h, 0.0)
            cells.append(v if isinstance(v, str) else (f"{v:.3f}" if isinstance(v, float) else str(v)))
        lines.append(sep.join(cells))
    path.write_text("\n".join(lines) + "\n")
    return header


def test_feature_extraction_with_comma_space_separators(tmp_path):
    path = tmp_path / "clip.csv"
    rows = [{"frame": f, "au": np.linspace(0, 5, 17) * (f / 3), "landmarks": face_landmarks(shift=f)}
            for f in (1, 2, 3)]
    header = write_openface_csv(path, rows)
    assert path.read_text().startswith("frame, face_id, timestamp, confidence, success, gaze_0_x")
    assert looks_like_openface_csv(path)
    table = read_openface_csv(path)
    assert table.layout == "FeatureExtraction" and table.default_join == "frame"
    assert [r.frame for r in table.records] == [1, 2, 3] and [r.face for r in table.records] == [0, 0, 0]
    assert [r.line for r in table.records] == [2, 3, 4]
    np.testing.assert_allclose(table.au_matrix(), np.stack([r["au"] for r in rows]), atol=1e-3)
    np.testing.assert_allclose(table.records[1].landmarks_px, face_landmarks(shift=2), atol=1e-3)
    assert table.presence_names == tuple(PRESENCE)
    assert table.records[0].timestamp == pytest.approx(0.0)
    assert table.records[0].confidence == pytest.approx(0.98)
    assert table.record_id(table.records[0]) == "clip_000001"
    assert len(header) > 700 and table.filtered == {"unsuccessful": 0, "low_confidence": 0}
    assert table.problems == []


def test_au_columns_are_found_by_name_not_position(tmp_path):
    rng = np.random.default_rng(1)
    order = list(AU_NAMES)
    rng.shuffle(order)
    assert order != list(AU_NAMES)
    expected = np.round(np.arange(1, 18) * 0.25, 2)  # AU k gets a distinct value
    path = tmp_path / "shuffled.csv"
    write_openface_csv(path, [{"au": expected}], au_order=order)
    table = read_openface_csv(path)
    np.testing.assert_allclose(table.records[0].au, expected, atol=1e-6)
    subset = read_openface_csv(path, au_names=["AU12", "AU06"])
    np.testing.assert_allclose(subset.records[0].au, [expected[AU_NAMES.index("AU12")],
                                                      expected[AU_NAMES.index("AU06")]], atol=1e-6)


def test_face_landmark_img_layout_plain_commas(tmp_path):
    path = tmp_path / "portrait.csv"
    write_openface_csv(path, [{"face": 0, "au": np.full(17, 1.5)}, {"face": 1, "au": np.full(17, 0.5)}],
                       layout="FaceLandmarkImg", sep=",")
    table = read_openface_csv(path)
    assert table.layout == "FaceLandmarkImg" and table.default_join == "stem"
    assert [r.frame for r in table.records] == [None, None] and [r.face for r in table.records] == [0, 1]
    assert [table.record_id(r) for r in table.records] == ["portrait", "portrait_face1"]
    np.testing.assert_allclose(table.au_matrix()[:, 0], [1.5, 0.5])


def test_old_layout_without_face_id(tmp_path):
    path = tmp_path / "old.csv"
    write_openface_csv(path, [{"frame": 5, "au": np.full(17, 2.0)}], layout="FeatureExtraction-old")
    assert not path.read_text().startswith("frame, face_id")
    table = read_openface_csv(path)
    assert table.layout == "FeatureExtraction-old"
    assert (table.records[0].frame, table.records[0].face) == (5, 0)


def test_success_and_confidence_filters_are_counted(tmp_path):
    path = tmp_path / "filt.csv"
    rows = [{"confidence": 0.95}, {"confidence": 0.3}, {"success": 0, "confidence": 0.1}, {"confidence": 0.9}]
    write_openface_csv(path, rows)
    table = read_openface_csv(path, min_confidence=0.8)
    assert [r.frame for r in table.records] == [1, 4]
    assert table.filtered == {"unsuccessful": 1, "low_confidence": 1} and table.rows_total == 4
    assert any("confidence < 0.8" in p for p in table.problems)
    assert any("success = 0" in p for p in table.problems)
    everything = read_openface_csv(path, success_only=False)
    assert len(everything.records) == 4 and everything.records[2].success is False


def test_nan_row_error_names_file_line_and_field(tmp_path):
    path = tmp_path / "nan.csv"
    au = dict(zip(AU_NAMES, np.ones(17)))
    write_openface_csv(path, [{"au": au}, {"au": au}, {"au": {**au, "AU12": "nan"}}])
    with pytest.raises(DataError) as err:
        read_openface_csv(path)
    assert re.search(rf"{re.escape(str(path))}: line 4, field 'AU12_r': NaN", str(err.value))
    lenient = read_openface_csv(path, strict=False)
    assert len(lenient.records) == 2 and len(lenient.problems) == 1 and "line 4" in lenient.problems[0]


@pytest.mark.parametrize("rows, message", [
    ([{"au": {"AU06": 5.5}}], r"line 2, field 'AU06_r': 5.5 is outside 0..5"),
    ([{"au": {"AU06": -0.2}}], r"line 2, field 'AU06_r': -0.2 is outside 0..5"),
    ([{"au": {"AU45": "abc"}}], r"line 2, field 'AU45_r': 'abc' is not a number"),
    ([{"frame": 3}, {"frame": 3}], r"line 3: frame 3 face 0 repeats line 2 \(duplicate id\)"),
    ([{"confidence": "high"}], r"line 2, field 'confidence': 'high' is not a number"),
])
def test_bad_values_name_the_row_and_field(tmp_path, rows, message):
    path = tmp_path / "bad.csv"
    write_openface_csv(path, rows)
    with pytest.raises(DataError, match=message):
        read_openface_csv(path)


def test_missing_au_columns_are_listed_unless_a_subset_is_asked(tmp_path):
    path = tmp_path / "disfa.csv"
    order = [a for a in AU_NAMES if a in AU_SETS["disfa12"]]
    write_openface_csv(path, [{"au": np.full(17, 1.0)}], au_order=order)
    missing = r"missing AU intensity column\(s\) AU07_r, AU10_r, AU14_r, AU23_r, AU45_r"
    with pytest.raises(DataError, match=missing):
        read_openface_csv(path)
    table = read_openface_csv(path, au_names=AU_SETS["disfa12"])
    assert table.au_names == AU_SETS["disfa12"] and table.records[0].au.shape == (12,)


def test_header_problems(tmp_path):
    path = tmp_path / "nolm.csv"
    write_openface_csv(path, [{}], drop=("x_5",))
    with pytest.raises(DataError, match="landmark columns incomplete: missing x_5"):
        read_openface_csv(path)
    write_openface_csv(path, [{}], drop=tuple(f"{a}_{i}" for a in "xy" for i in range(68)))
    assert read_openface_csv(path).records[0].landmarks_px is None
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="not an OpenFace CSV"):
        read_openface_csv(tmp_path / "other.csv")
    assert not looks_like_openface_csv(tmp_path / "other.csv")


def test_join_by_frame_number_aligned_and_plain_names(tmp_path):
    path = tmp_path / "vid.csv"
    rows = [{"frame": 1}, {"frame": 2}, {"frame": 3}, {"frame": 1, "face": 1}, {"frame": 9}]
    write_openface_csv(path, rows)
    aligned = tmp_path / "vid_aligned"
    aligned.mkdir()
    for name in ("frame_det_00_000001.bmp", "frame_det_01_000001.bmp", "frame_000002.png", "000003.png",
                 "notes.txt"):
        (aligned / name).write_bytes(b"")
    images = join_images(read_openface_csv(path), aligned)
    assert [p.name if p else None for p in images] == [
        "frame_det_00_000001.bmp", "frame_000002.png", "000003.png", "frame_det_01_000001.bmp", None]
    assert frame_index(aligned)[(None, 3)].name == "000003.png"


def test_frame_index_refuses_two_images_for_one_frame(tmp_path):
    (tmp_path / "frame_7.png").write_bytes(b"")
    (tmp_path / "0007.png").write_bytes(b"")
    with pytest.raises(DataError, match="both match frame 7"):
        frame_index(tmp_path)


def test_join_by_stem_for_face_landmark_img(tmp_path):
    path = tmp_path / "portrait.csv"
    write_openface_csv(path, [{"face": 0}], layout="FaceLandmarkImg")
    (tmp_path / "portrait.jpg").write_bytes(b"")
    (tmp_path / "other.jpg").write_bytes(b"")
    table = read_openface_csv(path)
    assert [p.name for p in join_images(table, tmp_path)] == ["portrait.jpg"]
    with pytest.raises(DataError, match="needs a 'frame' column"):
        join_images(table, tmp_path, rule="frame")
    with pytest.raises(DataError, match="unknown image join rule 'name'; valid rules: frame, stem"):
        join_images(table, tmp_path, rule="name")
