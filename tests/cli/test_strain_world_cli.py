"""``aucgan synth --world strain`` and ``aucgan atlas --changes``."""

import json

from aucgan.cli import main


def test_synth_world_strain_is_recorded_and_atlas_changes_measures_it(tmp_path, capsys):
    strain, default = tmp_path / "strain", tmp_path / "default"
    base = ["--identities", "3", "--expressions", "3", "--size", "32", "--seed", "1", "--quiet"]
    assert main(["synth", "--out", str(strain), "--world", "strain", *base]) == 0
    assert main(["synth", "--out", str(default), *base]) == 0
    assert "world strain" in capsys.readouterr().out
    card = json.loads((strain / "dataset.json").read_text())
    assert card["world"] == "strain" and "tracker_sigma" in card["world_params"]
    assert not {"world", "world_params", "world_version"} & set(json.loads((default / "dataset.json").read_text()))

    shares = {}
    for name, bench in (("strain", strain), ("default", default)):
        fig = tmp_path / f"{name}.png"
        assert main(["atlas", "--changes", str(bench), "--out", str(fig), "--identities", "2"]) == 0
        printed = capsys.readouterr().out
        assert "outside the changed AUs' footprints" in printed and fig.is_file()
        result = json.loads(fig.with_suffix(".json").read_text())
        assert result["world"] == name and len(result["identities"]) == 2 and result["expressions"] == 3
        assert set(result["single"]) >= {"AU01", "AU45"}
        shares[name] = result["overall"]["displacement"]["outside"]
    assert shares["strain"] > 0.25 > 0.08 > shares["default"]

    before = (tmp_path / "strain.json").read_text()
    assert main(["atlas", "--changes", str(strain), "--out", str(tmp_path / "strain.png")]) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "Traceback" not in err
    assert (tmp_path / "strain.json").read_text() == before


def test_bad_world_and_a_folder_that_is_no_benchmark_exit_2(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--world", "wrinkly", "--quiet"]) == 2
    (tmp_path / "notbench").mkdir()
    (tmp_path / "notbench" / "dataset.json").write_text('{"format": "photos"}')
    assert main(["atlas", "--changes", str(tmp_path / "notbench"), "--out", str(tmp_path / "c.png")]) == 2
    assert main(["atlas", "--changes", str(tmp_path / "notbench"), "--size", "64", "--out",
                 str(tmp_path / "c.png")]) == 2
    (tmp_path / "noseed").mkdir()
    (tmp_path / "noseed" / "dataset.json").write_text('{"format": "aucgan-synth", "params": {}}')
    assert main(["atlas", "--changes", str(tmp_path / "noseed"), "--out", str(tmp_path / "c.png")]) == 2
    err = capsys.readouterr().err
    assert "drop --layout and --size" in err
    assert "noseed/dataset.json: field 'seed' missing" in err
    assert "--world must be one of default, strain, got 'wrinkly'" in err
    assert "notbench/dataset.json: not a synthetic benchmark card" in err and "Traceback" not in err
    assert not (tmp_path / "x").exists() and not (tmp_path / "c.png").exists()
