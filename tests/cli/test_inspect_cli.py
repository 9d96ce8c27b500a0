"""`aucgan inspect` end to end: one JSON object, the histogram plot, problems listed, bad paths exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from aucgan.au import AU_NAMES, AU_SETS
from aucgan.cli import main

from tests.data.test_folder import write_synth_folder
from tests.data.test_ganimation import write_ganimation_folder

REQUIRED = {"samples", "au_mean", "au_max", "identities", "kind", "problems"}


def test_json_is_one_object_with_the_documented_fields(tmp_path, capsys):
    truth = write_synth_folder(tmp_path / "bench", identities=2, expressions=3)
    assert main(["inspect", str(tmp_path / "bench"), "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)
    assert REQUIRED <= set(report) and out.strip().count("\n") == 0
    assert report["samples"] == 6 and report["identities"] == 2 and report["kind"] == "synth"
    au = np.stack(list(truth["au"].values()))
    assert list(report["au_mean"]) == list(AU_NAMES)
    np.testing.assert_allclose([report["au_mean"][c] for c in AU_NAMES], au.mean(0), atol=1e-5)
    np.testing.assert_allclose([report["au_max"][c] for c in AU_NAMES], au.max(0), atol=1e-5)
    assert report["problems"] == []


def test_plot_is_written_and_not_overwritten(tmp_path, capsys):
    write_synth_folder(tmp_path / "bench", identities=2, expressions=2)
    plot = tmp_path / "hist.png"
    assert main(["inspect", str(tmp_path / "bench"), "--json", "--plot", str(plot), "--aus", "disfa12"]) == 0
    captured = capsys.readouterr()
    assert list(json.loads(captured.out)["au_mean"]) == list(AU_SETS["disfa12"])
    assert "wrote" in captured.err
    with Image.open(plot) as img:
        assert img.format == "PNG" and min(img.size) > 100
    assert main(["inspect", str(tmp_path / "bench"), "--plot", str(plot)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["inspect", str(tmp_path / "bench"), "--plot", str(plot), "--force"]) == 0


def test_text_report_lists_problems_and_exits_0(tmp_path, capsys):
    folder = write_ganimation_folder(tmp_path / "ga", {"a": np.ones(17), "b": np.full(17, 2.0)},
                                     train=["a.jpg", "b.jpg", "c.jpg"], images=["a"])
    assert main(["inspect", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "kind: ganimation" in out and "samples     2" in out
    assert "id 'c' has no AU entry" in out and "1 sample(s) have no image" in out


def test_bad_paths_and_options_exit_2_with_one_line(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "absent"), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert captured.err.startswith("aucgan inspect: error:") and "no such file or folder" in captured.err
    assert main(["inspect", str(tmp_path)]) == 2
    assert "not a recognised data set folder" in capsys.readouterr().err
    write_synth_folder(tmp_path / "bench", identities=2, expressions=1)
    assert main(["inspect", str(tmp_path / "bench"), "--aus", "AU99"]) == 2
    assert "--aus" in capsys.readouterr().err


def test_subprocess_prints_one_json_object(tmp_path):
    write_synth_folder(tmp_path / "bench", identities=2, expressions=2)
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root / "src")}
    proc = subprocess.run([sys.executable, "-m", "aucgan", "inspect", str(tmp_path / "bench"), "--json"],
                          capture_output=True, text=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert REQUIRED <= set(report) and report["samples"] == 4 and report["identities"] == 2
