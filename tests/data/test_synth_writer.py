import csv
import json

import pytest
import torch
from PIL import Image

from aucgan.au import AU_NAMES
from aucgan.data.mapio import load_displacement, load_rgb
from aucgan.data.synth import (
    FORMAT,
    GENERATOR_VERSION,
    MANIFEST_COLUMNS,
    SynthConfig,
    make_identities,
    render,
    write_dataset,
    write_preview,
)
from aucgan.fsutil import OutputExistsError
from aucgan.render.normals import decode_normal


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "bench"
    write_dataset(out, identities=5, expressions=3, size=32, seed=4, test_fraction=0.4)
    return out


def _manifest(path):
    with open(path / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_folder_contract(bench):
    card = json.loads((bench / "dataset.json").read_text())
    assert card["format"] == FORMAT and card["format_version"] == 1
    assert card["generator_version"] == GENERATOR_VERSION
    assert (card["seed"], card["size"], card["identities"], card["expressions"]) == (4, 32, 5, 3)
    assert card["au_names"] == list(AU_NAMES) and card["params"]["size"] == 32
    assert set(card["displacement"]) >= {"scale", "offset"}
    assert len(card["splits"]["test"]) == 2 and len(card["splits"]["train"]) == 3
    rows = _manifest(bench)
    assert tuple(rows[0].keys()) == MANIFEST_COLUMNS and len(rows) == 15
    assert len({r["sample_id"] for r in rows}) == 15 and rows[4]["sample_id"] == "id0001_e0001"
    for r in rows:
        assert r["split"] == ("test" if r["identity"] in card["splits"]["test"] else "train")
        for key in ("albedo", "displacement", "normal", "landmarks"):
            assert (bench / r[key]).is_file(), r[key]
        assert all(0.0 <= float(r[c]) <= 5.0 for c in AU_NAMES)
        assert -1.0 <= float(r["valence"]) <= 1.0 and r["gender"] in ("0", "1")
        assert 18 <= float(r["age"]) <= 80
    lm = json.loads((bench / "landmarks" / "id0002.json").read_text())
    assert lm["identity"] == "id0002" and len(lm["landmarks"]) == 68
    assert Image.open(bench / "maps" / "id0000_e0000_displacement.png").mode.startswith("I")
    assert Image.open(bench / "preview.png").size[0] > 18 * 32


def test_files_hold_the_ground_truth_of_seed_and_identity(bench):
    """Any sample can be re-rendered from (seed, identity number) and the manifest's AU vector."""
    card = json.loads((bench / "dataset.json").read_text())
    row = _manifest(bench)[7]                                   # id0002_e0001
    ident = make_identities([int(row["identity"][2:])], card["seed"], SynthConfig(**card["params"]))
    au = torch.tensor([[float(row[c]) for c in AU_NAMES]])
    truth = render(ident, au, torch.tensor([int(row["emotion"])]), torch.tensor([float(row["valence"])]))
    scale, offset = card["displacement"]["scale"], card["displacement"]["offset"]
    disp = load_displacement(bench / row["displacement"], scale, offset)
    assert float((disp - truth["displacement"][0]).abs().max()) <= scale / 65535
    assert float((load_rgb(bench / row["albedo"]) - truth["albedo"][0]).abs().max()) <= 0.5 / 255 + 1e-6
    normal = decode_normal(load_rgb(bench / row["normal"]))
    assert float((normal - truth["normal"][0]).abs().max()) < 0.02
    lm = json.loads((bench / row["landmarks"]).read_text())["landmarks"]
    torch.testing.assert_close(torch.tensor(lm), truth["landmarks"][0], atol=1e-6, rtol=0)


def test_refuses_to_overwrite_and_force_replaces_the_old_benchmark(bench, tmp_path):
    with pytest.raises(OutputExistsError, match="--force"):
        write_dataset(bench, identities=1, expressions=1, size=32)
    out = tmp_path / "b"
    write_dataset(out, identities=3, expressions=2, size=32, seed=1)
    (out / "notes.txt").write_text("mine")
    write_dataset(out, identities=2, expressions=1, size=32, seed=1, force=True)
    assert len(list((out / "maps").iterdir())) == 2 * 3 and len(_manifest(out)) == 2
    assert (out / "notes.txt").read_text() == "mine"        # only the benchmark's own files are replaced


def test_same_seed_same_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    write_dataset(a, identities=2, expressions=2, size=32, seed=9, test_fraction=0.0)
    write_dataset(b, identities=3, expressions=2, size=32, seed=9, test_fraction=0.0)
    for name in ("id0001_e0001_albedo.png", "id0001_e0001_displacement.png", "id0000_e0000_normal.png"):
        assert (a / "maps" / name).read_bytes() == (b / "maps" / name).read_bytes()
    assert _manifest(a)[:4] == _manifest(b)[:4]


def test_preview(tmp_path):
    png = write_preview(tmp_path / "p.png", seed=0, size=32, n_identities=2)
    w, h = Image.open(png).size
    assert w >= 18 * 64 and h >= 2 * 64
