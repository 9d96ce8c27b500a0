"""Data set summaries: counts and per-AU statistics from annotations; problems listed rather than raised."""

from __future__ import annotations

import numpy as np
import pytest

from aucgan.au import AU_NAMES
from aucgan.data.datasets import open_dataset
from aucgan.data.errors import DataError
from aucgan.data.inspect import format_report, histogram_figure, inspect_dataset

from tests.data.test_folder import write_images, write_synth_folder
from tests.data.test_ganimation import write_ganimation_folder
from tests.data.test_openface import write_openface_csv


def test_synth_summary_statistics(tmp_path):
    truth = write_synth_folder(tmp_path / "b", identities=3, expressions=3)
    report = inspect_dataset(tmp_path / "b")
    au = np.stack(list(truth["au"].values()))
    assert report["kind"] == "synth" and report["samples"] == 9 and report["identities"] == 3
    assert report["splits"] == {"train": 6, "test": 3}
    assert report["maps"] == ["albedo", "displacement", "normal"]
    assert report["image_sizes"] == {"32x32": 27} and report["landmarks"] == 9
    for k, code in enumerate(AU_NAMES):
        assert report["au_mean"][code] == pytest.approx(au[:, k].mean(), abs=1e-5)
        assert report["au_max"][code] == pytest.approx(au[:, k].max(), abs=1e-5)
        assert report["au_active"][code] == pytest.approx((au[:, k] >= 1).mean())
        assert sum(report["au_hist"]["counts"][code]) == 9
    assert report["attributes"] == {"age": 9, "gender": 9, "emotion": 9, "valence": 9}
    assert report["problems"] == []
    text = format_report(report)
    assert "samples     9 (splits: train 6, test 3)" in text and "problems    none" in text


def test_openface_problems_are_listed_not_raised(tmp_path):
    csv_path = tmp_path / "clip.csv"
    au = dict(zip(AU_NAMES, np.ones(17)))
    write_openface_csv(csv_path, [{"frame": 1, "au": au}, {"frame": 2, "confidence": 0.1},
                                  {"frame": 3, "au": {**au, "AU25": "nan"}},
                                  {"frame": 4, "au": {**au, "AU04": 8}}, {"frame": 5, "au": au}])
    write_images(tmp_path / "clip_aligned", ["frame_det_00_000001.bmp"])
    with pytest.raises(DataError, match="line 4, field 'AU25_r': NaN"):
        open_dataset(csv_path)
    report = inspect_dataset(csv_path, min_confidence=0.5)
    assert report["samples"] == 2 and report["identities"] == 1
    problems = "\n".join(report["problems"])
    assert "1 of 5 rows dropped: confidence < 0.5" in problems
    assert "line 4, field 'AU25_r': NaN" in problems
    assert "line 5, field 'AU04_r': 8 is outside 0..5" in problems
    assert "samples without an image: 1" in problems and "frame 5" in problems
    assert report["au_mean"]["AU01"] == pytest.approx(1.0)


def test_ganimation_problems(tmp_path):
    rng = np.random.default_rng(0)
    entries = {f"img{k}": rng.uniform(0, 5, 17) for k in range(4)}
    folder = write_ganimation_folder(tmp_path / "ga", entries, train=["img0.jpg", "img1.jpg", "lost.jpg"],
                                     test=["img2.jpg", "img3.jpg"], images=["img0", "img1", "img2"])
    report = inspect_dataset(folder)
    assert report["kind"] == "ganimation" and report["samples"] == 4 and report["identities"] == 0
    assert report["splits"] == {"train": 2, "test": 2}
    problems = "\n".join(report["problems"])
    assert "train_ids.csv: line 3: id 'lost' has no AU entry" in problems and "img3" in problems
    assert report["au_max"]["AU45"] == pytest.approx(max(v[-1] for v in entries.values()))


def test_au_subset_and_histogram_figure(tmp_path):
    write_synth_folder(tmp_path / "b", identities=2, expressions=2, test_ids=())
    report = inspect_dataset(tmp_path / "b", au_names=["AU06", "AU12"])
    assert list(report["au_mean"]) == ["AU06", "AU12"]
    fig = histogram_figure(report)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2 and titles[0].startswith("AU06  mean")
