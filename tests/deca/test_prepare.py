"""prepare-deca on EMOCA's and DECA's outputs as the tools write them: EMOCA's model folder and face-index
suffix, names with dots, identities (folders, CSV), the one-identity warning, the decoder check of .mat maps
against codes, and per-sample progress."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aucgan.data.errors import DataError
from aucgan.deca.data import CARD, open_deca_data
from aucgan.deca.prepare import FACE_LEFT, MISMATCH_LIMIT, prepare_deca

from tests.deca.fakes import (
    TINY_ARCH,
    au_values,
    codes,
    fixed_displacement,
    reference,
    uv_z_of,
    write_deca_mats,
    write_deca_mats_from,
    write_deca_tar,
    write_emoca_codes,
    write_emoca_image_demo,
    write_openface_faces,
    write_openface_per_image,
)

IMAGES = {"img_0001.jpg": 1, "img_0002.png": 2, "img.v2.jpg": 1, "img_0004.jpg": 1}   # img_0002 has two faces


def _latent(i):
    c = codes(i)
    return np.concatenate([c["pose"][3:6], c["exp"], c["detail"]])


@pytest.fixture
def emoca(tmp_path):
    ref = reference(seed=2, **TINY_ARCH)
    write_deca_tar(tmp_path / "deca_model.tar", ref)
    folders = write_emoca_image_demo(tmp_path / "emoca_out", IMAGES)
    write_openface_faces(tmp_path / "of", IMAGES)
    return tmp_path, ref, folders


@pytest.mark.parametrize("point_at", ["output folder", "model folder"])
def test_emoca_image_demo_layout(emoca, point_at):
    t, ref, folders = emoca
    codes_dir = t / "emoca_out" if point_at == "output folder" else t / "emoca_out" / "EMOCA_v2_lr_mse_20"
    report = prepare_deca(t / "out", t / "of", codes=codes_dir, decoder=t / "deca_model.tar")
    data = open_deca_data(t / "out")
    assert data.names == ["img", "img_0001", "img_0002", "img_0004"]          # DECA's names: before the first dot
    assert data.identities == data.names                                       # the model folder is no person
    assert report["identities"] == 4 and report["warnings"] == []
    assert report["emoca_faces"]["img_0002"] == {"kept": "img_000200", "others": ["img_000201"]}
    assert report["emoca_faces"]["img"] == {"kept": "img00", "others": []}
    assert list(report["skipped_samples"]) == ["img_000201"]
    assert report["skipped_samples"]["img_000201"] == FACE_LEFT
    kept = [folders["img00"], folders["img_000100"], folders["img_000200"], folders["img_000400"]]
    np.testing.assert_allclose(data.latents, np.stack([_latent(k) for k in kept]), rtol=1e-6)
    order = list(IMAGES)                                                       # the AU rows: face 0 of each image
    want_au = [au_values(order.index(f)) for f in ("img.v2.jpg", "img_0001.jpg", "img_0002.png", "img_0004.jpg")]
    np.testing.assert_allclose(data.au, np.stack(want_au), atol=1e-4)
    with torch.no_grad():
        np.testing.assert_allclose(data.uv_z, ref(torch.from_numpy(np.array(data.latents))).numpy(), atol=1e-7)
    assert report["sources"]["img_0002"]["codes"].endswith("img_000200")


def test_presence_gate_is_applied_and_recorded(emoca):
    t, _, _ = emoca
    prepare_deca(t / "plain", t / "of", codes=t / "emoca_out", decoder=t / "deca_model.tar")
    prepare_deca(t / "gated", t / "of", codes=t / "emoca_out", decoder=t / "deca_model.tar", presence_gate=True)
    plain, gated = open_deca_data(t / "plain"), open_deca_data(t / "gated")
    assert plain.names == gated.names
    a, g = np.asarray(plain.au), np.asarray(gated.au)
    assert (a <= 1).any() and (a > 1).any()
    np.testing.assert_allclose(g, np.where(a > 1, a, 0.0), atol=1e-4)
    assert json.loads((t / "gated" / CARD).read_text())["au_presence_gate"] is True
    assert json.loads((t / "plain" / CARD).read_text())["au_presence_gate"] is False


def test_person_folders_above_the_model_folder(tmp_path):
    write_deca_tar(tmp_path / "deca_model.tar", reference(seed=2, **TINY_ARCH))
    write_emoca_image_demo(tmp_path / "codes" / "anna", {"a1.jpg": 1, "a2.jpg": 1}, model="EMOCA")
    write_emoca_image_demo(tmp_path / "codes" / "ben", {"b1.jpg": 1, "b2.jpg": 2}, model="EMOCA", offset=2)
    write_openface_faces(tmp_path / "of", {"a1.jpg": 1, "a2.jpg": 1, "b1.jpg": 1, "b2.jpg": 1})
    report = prepare_deca(tmp_path / "out", tmp_path / "of", codes=tmp_path / "codes",
                          decoder=tmp_path / "deca_model.tar")
    data = open_deca_data(tmp_path / "out")
    assert data.names == ["a1", "a2", "b1", "b2"] and data.identities == ["anna", "anna", "ben", "ben"]
    assert report["emoca_faces"]["b2"]["others"] == ["b201"]


def test_identities_csv_keyed_by_image_name(emoca):
    t, _, _ = emoca
    (t / "ids.csv").write_text("name,identity\nimg_0001.jpg,p1\nimg_0002,p1\nimg.v2.jpg,p2\nimg_0004,p2\n")
    prepare_deca(t / "out", t / "of", codes=t / "emoca_out", decoder=t / "deca_model.tar", identities=t / "ids.csv")
    assert open_deca_data(t / "out").identities == ["p2", "p1", "p1", "p2"]
    (t / "bad.csv").write_text("name,identity\nimg_000100,p1\nimg_000200,p1\nimg00,p2\nimg_000400,p2\n")
    with pytest.raises(DataError, match=r"no identity for image 'img'.*'img00' is EMOCA's folder for one face"):
        prepare_deca(t / "o2", t / "of", codes=t / "emoca_out", decoder=t / "deca_model.tar",
                     identities=t / "bad.csv")
    assert not (t / "o2").exists()


def test_one_identity_for_every_image_warns(tmp_path):
    write_deca_tar(tmp_path / "deca_model.tar", reference(seed=2, **TINY_ARCH))
    names = ["p1", "p2", "p3", "p4"]                       # four people, one output folder above them all
    write_emoca_codes(tmp_path / "codes" / "batch_1", names)
    write_openface_per_image(tmp_path / "of", names)
    report = prepare_deca(tmp_path / "out", tmp_path / "of", codes=tmp_path / "codes",
                          decoder=tmp_path / "deca_model.tar")
    assert report["identities"] == 1 and len(report["warnings"]) == 1
    assert "all 4 images have one identity, 'batch_1'" in report["warnings"][0]
    assert str(tmp_path / "codes" / "batch_1") in report["warnings"][0]


def test_names_with_dots_join_openface_rows(tmp_path):
    write_deca_tar(tmp_path / "deca_model.tar", reference(seed=2, **TINY_ARCH))
    write_emoca_codes(tmp_path / "codes", ["face", "other"])
    write_openface_per_image(tmp_path / "of", ["face.cropped", "other.v1", "other.v2"])    # 2 images named other
    report = prepare_deca(tmp_path / "out", tmp_path / "of", codes=tmp_path / "codes",
                          decoder=tmp_path / "deca_model.tar")
    assert open_deca_data(tmp_path / "out").names == ["face"]
    assert report["skipped_samples"] == {"other": "no OpenFace AU row for this image"}
    assert any("both get DECA's name 'other'" in p for p in report["au_file_problems"])


def test_nothing_to_prepare_says_how_names_join(emoca):
    t, _, _ = emoca
    write_openface_per_image(t / "of2", ["unrelated"])
    with pytest.raises(DataError, match=r"nothing to prepare.*before the first dot.*face index"):
        prepare_deca(t / "out", t / "of2", codes=t / "emoca_out", decoder=t / "deca_model.tar")


@pytest.fixture
def mats(tmp_path):
    names = ["m0", "m1", "m2", "m3"]
    ref = reference(seed=4, **TINY_ARCH)
    write_deca_tar(tmp_path / "deca_model.tar", ref)
    fixed = fixed_displacement(32)
    np.save(tmp_path / "fixed.npy", fixed)
    write_openface_per_image(tmp_path / "of", names)
    latents = np.stack([_latent(i) for i in range(4)])
    write_deca_mats_from(tmp_path / "same", names, latents, ref, fixed, save_codes=True)   # one model's pairs
    write_deca_mats(tmp_path / "other", names, size=32, fixed=fixed)                      # another encoder's maps
    write_emoca_codes(tmp_path / "codes", names)
    return tmp_path


def test_decoder_check_passes_one_models_pairs(mats):
    t = mats
    report = prepare_deca(t / "out", t / "of", mat=t / "same", fixed_displacement=t / "fixed.npy",
                          decoder=t / "deca_model.tar")
    check = report["decoder_check"]
    assert set(check["per_sample"]) == {"m0", "m1", "m2", "m3"}
    assert check["median_relative"] < 1e-4 and check["median_abs_m"] < 1e-8
    assert open_deca_data(t / "out").card["uv_z_source"] == "mat"


def test_decoder_check_refuses_two_encoders(mats):
    t = mats
    kw = dict(mat=t / "other", codes=t / "codes", fixed_displacement=t / "fixed.npy", decoder=t / "deca_model.tar")
    with pytest.raises(DataError, match=r"two different encoders.*--allow-mismatch"):
        prepare_deca(t / "out", t / "of", **kw)
    assert not (t / "out").exists()                                   # refused before anything is written
    report = prepare_deca(t / "out", t / "of", allow_mismatch=True, **kw)
    assert report["decoder_check"]["median_relative"] > MISMATCH_LIMIT
    data = open_deca_data(t / "out")
    np.testing.assert_allclose(data.uv_z[2, 0], uv_z_of(2, 32), atol=1e-7)   # uv_z still the .mat's
    assert report["decoder_check"]["per_sample"]["m2"]["mean_abs_m"] > 0


def test_mat_with_codes_without_decoder_notes_the_pairing(mats):
    t = mats
    lines = []
    report = prepare_deca(t / "out", t / "of", mat=t / "other", codes=t / "codes",
                          fixed_displacement=t / "fixed.npy", log=lines.append)
    assert report["decoder_check"] is None
    assert any("pass --decoder to measure" in line for line in lines)


def test_progress_per_sample(emoca, capsys):
    t, _, _ = emoca
    prepare_deca(t / "out", t / "of", codes=t / "emoca_out", decoder=t / "deca_model.tar", progress="lines")
    err = capsys.readouterr().err
    assert "prepare-deca: sample 4/4 (100%)" in err
    prepare_deca(t / "out", t / "of", codes=t / "emoca_out", decoder=t / "deca_model.tar", force=True)
    assert capsys.readouterr().err == ""


def test_mat_with_emoca_face_folders(tmp_path):
    fixed = fixed_displacement(32)
    np.save(tmp_path / "fixed.npy", fixed)
    names = ["img_0001", "img_0002"]
    write_deca_mats(tmp_path / "mat", names, size=32, fixed=fixed)
    folders = write_emoca_image_demo(tmp_path / "emoca_out", {"img_0001.jpg": 1, "img_0002.jpg": 2, "extra.jpg": 1})
    write_openface_per_image(tmp_path / "of", names)
    report = prepare_deca(tmp_path / "out", tmp_path / "of", mat=tmp_path / "mat", codes=tmp_path / "emoca_out",
                          fixed_displacement=tmp_path / "fixed.npy")
    data = open_deca_data(tmp_path / "out")
    assert data.names == names and data.identities == names
    np.testing.assert_allclose(data.latents[1], _latent(folders["img_000200"]), rtol=1e-6)
    np.testing.assert_allclose(data.uv_z[1, 0], uv_z_of(1, 32), atol=1e-7)
    assert report["skipped_samples"] == {"extra00": "EMOCA codes but no DECA .mat", "img_000201": FACE_LEFT}


def test_a_bare_folder_and_face_folders_of_one_image(tmp_path):
    write_deca_tar(tmp_path / "deca_model.tar", reference(seed=2, **TINY_ARCH))
    write_emoca_codes(tmp_path / "codes" / "EMOCA", ["img", "img00"], offset=0)
    write_openface_per_image(tmp_path / "of", ["img"])
    report = prepare_deca(tmp_path / "out", tmp_path / "of", codes=tmp_path / "codes",
                          decoder=tmp_path / "deca_model.tar")
    assert report["emoca_faces"] == {"img": {"kept": "img", "others": ["img00"]}}
    assert report["skipped_samples"] == {"img00": FACE_LEFT}
