import csv
import json

from aucgan.au import AU_NAMES
from aucgan.cli import main


def test_synth_writes_a_valid_folder_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "bench"
    args = ["synth", "--out", str(out), "--identities", "3", "--expressions", "2", "--size", "32",
            "--seed", "5", "--test-fraction", "0.34", "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "wrote 6 samples" in printed and "preview.png" in printed
    card = json.loads((out / "dataset.json").read_text())
    assert card["format"] == "aucgan-synth" and card["seed"] == 5 and card["size"] == 32
    with open(out / "manifest.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6 and all(c in rows[0] for c in AU_NAMES)
    assert {r["split"] for r in rows} == {"train", "test"}
    assert (out / "preview.png").is_file() and len(list((out / "maps").glob("*.png"))) == 18

    before = (out / "manifest.csv").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--force" in err and "Traceback" not in err
    assert (out / "manifest.csv").read_bytes() == before
    assert main([*args, "--force"]) == 0


def test_synth_bad_arguments_exit_2(tmp_path, capsys):
    base = ["synth", "--out", str(tmp_path / "x"), "--quiet"]
    assert main([*base, "--identities", "0"]) == 2
    assert main([*base, "--test-fraction", "1.5"]) == 2
    assert main([*base, "--size", "4"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 3 and "Traceback" not in err
    assert not (tmp_path / "x").exists()
