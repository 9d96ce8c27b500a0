"""End to end from the command line with tiny DECA-layout fixtures: the FLAME UV layout from a DECA data/ folder,
import a DECA decoder, prepare-deca, fine-tune a few steps, diagnose (both known answers, and the fine-tuned
run), export uv_z; EMOCA's image-demo layout the same way, and the errors and warnings a DECA user meets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.data.mapio import load_displacement
from aucgan.deca.build import load_deca_run
from aucgan.deca.data import open_deca_data
from aucgan.deca.footprints import uv_footprints
from aucgan.layout.landmarks import load_layout

from tests.deca.fakes import (
    TINY_ARCH,
    au_values,
    au_variant,
    codes,
    fixed_displacement,
    reference,
    write_deca_mats,
    write_deca_mats_from,
    write_deca_tar,
    write_emoca_codes,
    write_emoca_image_demo,
    write_openface_faces,
    write_openface_per_image,
)
from tests.flame_data import write_deca_data

STEPS = ["--set", "data.batch_size=4", "--set", "log_every=1", "--set", "sample_every=3", "--set", "ckpt_every=3",
         "--set", "tensorboard=false", "--set", "decoder.cond_levels=[0,1]", "--set", "loss.w_adv=1",
         "--set", "loss.w_d_mismatch=1", "--set", "discriminator.num_down=3", "--set", "discriminator.base_channels=8"]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_import_prepare_finetune_diagnose_export(tmp_path, capsys):
    t = tmp_path
    names = [f"im{i}" for i in range(8)]
    people = {"anna": names[:4], "ben": names[4:]}
    fixed = fixed_displacement(32)
    np.save(t / "fixed_displacement_256.npy", fixed)
    for person, group in people.items():
        write_deca_mats(t / "deca_out" / person, group, size=32, fixed=fixed)
        write_emoca_codes(t / "emoca_codes", group, offset=names.index(group[0]))
    write_openface_per_image(t / "openface", names)
    write_deca_data(t / "DECA" / "data")                          # head_template.obj, landmark embedding, mask
    write_deca_tar(t / "DECA" / "data" / "deca_model.tar", reference(seed=8, **TINY_ARCH))
    for cols in ("zero", "random"):
        write_deca_tar(t / f"au_{cols}.tar", au_variant(num_aus=17, au_columns=cols, **TINY_ARCH))
    assert main(["layout", "flame", "--deca-data", str(t / "DECA" / "data"), "--out", str(t / "flame.json")]) == 0
    capsys.readouterr()
    flame = ["--layout", str(t / "flame.json")]

    assert main(["prepare-deca", "--mat", str(t / "deca_out"), "--fixed-displacement",
                 str(t / "fixed_displacement_256.npy"), "--codes", str(t / "emoca_codes"), "--aus",
                 str(t / "openface"), "--out", str(t / "set"), "--quiet"]) == 0
    assert "prepared 8 samples (2 identities)" in capsys.readouterr().out
    assert main(["inspect", str(t / "set")]) == 0                 # an ordinary manifest data set as well
    capsys.readouterr()

    assert main(["train-deca", "--decoder", str(t / "DECA" / "data" / "deca_model.tar"), "--data", str(t / "set"),
                 "--run-dir", str(t / "run"), "--steps", "3", "--no-progress", *flame, *STEPS]) == 0
    out = capsys.readouterr().out
    assert "step 3:" in out and "G/detail" in out
    dec, cfg, step = load_deca_run(t / "run")
    assert step == 3 and cfg.decoder.checkpoint == str((t / "DECA" / "data" / "deca_model.tar").resolve())
    fp = uv_footprints(load_layout(t / "flame.json"), AU_NAMES, 32)  # FLAME UV footprints, masked
    assert torch.equal(dec.footprints, fp) and float(fp.sum()) > 0

    for cols, verdict in (("zero", "verdict: ignores the AUs"), ("random", "verdict: follows the AUs")):
        assert main(["diagnose", str(t / f"au_{cols}.tar"), "--deca", "--data", str(t / "set"), "--out",
                     str(t / f"diag_{cols}"), "--samples", "3", "--sweeps", "1", *flame]) == 0
        assert verdict in capsys.readouterr().out
    zero = json.loads((t / "diag_zero" / "diagnosis.json").read_text())
    assert zero["footprints"] == str(t / "flame.json") and zero["notes"] == []
    assert all(v["inside"] == 0.0 and v["outside"] == 0.0 for v in zero["sensitivity"]["per_au"].values())
    assert zero["pairs"]["pairs"] == 48 and zero["pairs"]["people"] == 2            # two people, four images each
    assert zero["pairs"]["mask"] == "the layout's face mask"                       # --layout: FLAME's face mask
    assert zero["pairs"]["edit"]["explained"] == 0.0 and zero["pairs"]["edit"]["amplitude"] == 0.0
    rand = json.loads((t / "diag_random" / "diagnosis.json").read_text())
    assert all(v["inside"] > 0 for v in rand["sensitivity"]["per_au"].values())

    assert main(["diagnose", str(t / "run"), "--data", str(t / "set"), "--out", str(t / "diag_run"),
                 "--samples", "3", "--sweeps", "1"]) == 0
    capsys.readouterr()
    run_report = json.loads((t / "diag_run" / "diagnosis.json").read_text())
    assert run_report["footprints"] == "the run's own footprints"
    assert run_report["pairs"]["mask"] == "the layout's face mask"                 # the run's own layout's mask
    assert run_report["sensitivity"]["mean_inside"] > 0          # three steps moved the zero-started paths

    assert main(["export-deca", str(t / "run"), "--data", str(t / "set"), "--sample", "im5", "--au", "AU12=4",
                 "--out", str(t / "export")]) == 0
    capsys.readouterr()
    uv = np.load(t / "export" / "im5_uv_z.npy", allow_pickle=False)
    data = open_deca_data(t / "set")
    i = data.index("im5")
    au = torch.from_numpy(data.au[i].copy())
    au[AU_NAMES.index("AU12")] = 4.0
    with torch.no_grad():
        want = dec(torch.from_numpy(np.array(data.latents[i]))[None], au[None])[0, 0].numpy()
    assert uv.shape == (32, 32) and uv.dtype == np.float32 and np.array_equal(uv, want)
    side = json.loads((t / "export" / "export.json").read_text())
    assert side["samples"]["im5"]["au"]["AU12"] == 4.0
    png = load_displacement(t / "export" / "im5_uv_z.png", side["preview"]["scale"], side["preview"]["offset"])
    assert float(np.abs(png[0].numpy() - uv).max()) <= side["preview"]["scale"] / 65535
    assert main(["export-deca", str(t / "run"), "--data", str(t / "set"), "--all", "--out", str(t / "export")]) == 2
    assert "--force" in capsys.readouterr().err


EMOCA_IMAGES = {"anna_1.jpg": 1, "anna_2.jpg": 1, "ben.smile.jpg": 1, "ben_2.jpg": 2, "cara_1.png": 1,
                "cara_2.png": 1, "dan_1.jpg": 1, "dan_2.jpg": 1}
PEOPLE = {"anna_1.jpg": "anna", "anna_2.jpg": "anna", "ben.smile.jpg": "ben", "ben_2.jpg": "ben",
          "cara_1.png": "cara", "cara_2.png": "cara", "dan_1.jpg": "dan", "dan_2.jpg": "dan"}


def test_emoca_layout_end_to_end(tmp_path, capsys):
    """EMOCA's image demo as it writes: <output>/<model name>/<image name><face:02d>/, four people, an image with
    two faces, a name with dots; --identities keyed by image file names; prepare-deca -> train-deca -> diagnose
    -> export-deca through the command line."""
    t = tmp_path
    folders = write_emoca_image_demo(t / "emoca_out", EMOCA_IMAGES)
    assert "ben00" in folders and "ben_201" in folders                    # EMOCA's folder names
    write_openface_faces(t / "openface", EMOCA_IMAGES)                     # ben.smile.csv: OpenFace's own stem
    (t / "ids.csv").write_text("name,identity\n" + "".join(f"{f},{p}\n" for f, p in PEOPLE.items()))
    write_deca_tar(t / "deca_model.tar", reference(seed=8, **TINY_ARCH))
    write_deca_tar(t / "au_zero.tar", au_variant(num_aus=17, au_columns="zero", **TINY_ARCH))
    write_deca_data(t / "DECA" / "data")
    assert main(["layout", "flame", "--deca-data", str(t / "DECA" / "data"), "--out", str(t / "flame.json")]) == 0
    capsys.readouterr()
    prepare = ["prepare-deca", "--codes", str(t / "emoca_out"), "--decoder", str(t / "deca_model.tar"),
               "--aus", str(t / "openface")]

    # without identities every image is its own: train-deca refuses detail consistency before any run folder
    assert main([*prepare, "--out", str(t / "set_noids"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "prepared 8 samples (8 identities)" in out and "1 another face of an image with several" in out
    assert main(["train-deca", "--data", str(t / "set_noids"), "--decoder", str(t / "deca_model.tar"),
                 "--run-dir", str(t / "refused"), "--steps", "2", "--no-progress", *STEPS]) == 2
    assert "no identity has two or more images" in capsys.readouterr().err
    assert not (t / "refused").exists()
    assert main(["train-deca", "--data", str(t / "set_noids"), "--decoder", str(t / "deca_model.tar"),
                 "--runs-root", str(t / "runs"), "--steps", "2", "--no-progress", *STEPS]) == 2
    assert not (t / "runs").exists() or not any((t / "runs").iterdir())
    capsys.readouterr()

    assert main([*prepare, "--identities", str(t / "ids.csv"), "--out", str(t / "set")]) == 0
    captured = capsys.readouterr()
    assert "prepared 8 samples (4 identities)" in captured.out
    assert "EMOCA faces: 8 images by their face folders, 1 with several faces" in captured.out
    assert "prepare-deca: sample 8/8 (100%)" in captured.err and "warning" not in captured.err
    report = json.loads((t / "set" / "report.json").read_text())
    assert report["emoca_faces"]["ben_2"] == {"kept": "ben_200", "others": ["ben_201"]}
    data = open_deca_data(t / "set")
    assert data.names == ["anna_1", "anna_2", "ben", "ben_2", "cara_1", "cara_2", "dan_1", "dan_2"]
    assert data.identities == ["anna", "anna", "ben", "ben", "cara", "cara", "dan", "dan"]
    i = data.index("ben")
    c = codes(folders["ben00"])
    np.testing.assert_allclose(data.latents[i], np.concatenate([c["pose"][3:6], c["exp"], c["detail"]]), rtol=1e-6)
    np.testing.assert_allclose(data.au[i], au_values(list(EMOCA_IMAGES).index("ben.smile.jpg")), atol=1e-4)

    assert main(["train-deca", "--decoder", str(t / "deca_model.tar"), "--data", str(t / "set"), "--run-dir",
                 str(t / "run"), "--steps", "3", "--no-progress", "--layout", str(t / "flame.json"), *STEPS]) == 0
    captured = capsys.readouterr()
    assert "step 3:" in captured.out and "warning" not in captured.err
    assert main(["diagnose", str(t / "run"), "--data", str(t / "set"), "--out", str(t / "diag"), "--samples", "3",
                 "--sweeps", "1"]) == 0
    capsys.readouterr()
    assert json.loads((t / "diag" / "diagnosis.json").read_text())["sensitivity"]["mean_inside"] > 0

    assert main(["export-deca", str(t / "run"), "--data", str(t / "set"), "--sample", "ben", "--au", "AU12=4",
                 "--out", str(t / "export")]) == 0
    captured = capsys.readouterr()
    assert "warning" not in captured.err
    side = json.loads((t / "export" / "export.json").read_text())
    assert side["samples"]["ben"]["au_edit_moved_max_m"] > 1e-8
    dec, _, _ = load_deca_run(t / "run")
    au = torch.from_numpy(data.au[i].copy())
    au[AU_NAMES.index("AU12")] = 4.0
    with torch.no_grad():
        want = dec(torch.from_numpy(np.array(data.latents[i]))[None], au[None])[0, 0].numpy()
    assert np.array_equal(np.load(t / "export" / "ben_uv_z.npy", allow_pickle=False), want)

    # a decoder whose AU inputs have zero weights: the edit moves nothing, and export-deca says so
    assert main(["export-deca", str(t / "au_zero.tar"), "--deca", "--data", str(t / "set"), "--sample", "ben",
                 "--sample", "dan_2", "--au", "AU12=4", "--out", str(t / "export_zero")]) == 0
    err = capsys.readouterr().err
    assert "warning: --au AU12=4 did not change the decoded uv_z of any sample" in err


def test_emoca_output_folder_with_one_identity_warns(tmp_path, capsys):
    """Four people's codes under one folder (the shape a pointed-at EMOCA output took before its model folder
    was recognised): prepare-deca and train-deca warn, naming the folder."""
    t = tmp_path
    names = ["p1", "p2", "p3", "p4"]
    write_emoca_codes(t / "codes" / "run_a", names)
    write_openface_per_image(t / "openface", names)
    write_deca_tar(t / "deca_model.tar", reference(seed=8, **TINY_ARCH))
    assert main(["prepare-deca", "--codes", str(t / "codes"), "--decoder", str(t / "deca_model.tar"), "--aus",
                 str(t / "openface"), "--out", str(t / "set"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert "prepared 4 samples (1 identities)" in captured.out
    assert f"warning: all 4 images have one identity, 'run_a' (from {t / 'codes' / 'run_a'})" in captured.err
    assert main(["train-deca", "--data", str(t / "set"), "--decoder", str(t / "deca_model.tar"), "--run-dir",
                 str(t / "run"), "--steps", "1", "--no-progress", *STEPS]) == 0
    assert "train-deca: warning: all 4 images have one identity" in capsys.readouterr().err


def test_prepare_deca_reports_the_decoder_check(tmp_path, capsys):
    t = tmp_path
    names = ["m0", "m1", "m2"]
    ref = reference(seed=8, **TINY_ARCH)
    write_deca_tar(t / "deca_model.tar", ref)
    fixed = fixed_displacement(32)
    np.save(t / "fixed.npy", fixed)
    latents = np.stack([np.concatenate([codes(i)["pose"][3:6], codes(i)["exp"], codes(i)["detail"]])
                        for i in range(3)])
    write_deca_mats_from(t / "same", names, latents, ref, fixed, save_codes=True)
    write_deca_mats(t / "other", names, size=32, fixed=fixed)
    write_openface_per_image(t / "openface", names)
    base = ["prepare-deca", "--fixed-displacement", str(t / "fixed.npy"), "--decoder", str(t / "deca_model.tar"),
            "--aus", str(t / "openface"), "--quiet"]
    assert main([*base, "--mat", str(t / "same"), "--out", str(t / "ok")]) == 0
    assert "decoder check: median |D(latent) - uv_z| 0.0000 mm" in capsys.readouterr().out
    write_emoca_codes(t / "emoca", names)
    assert main([*base, "--mat", str(t / "other"), "--codes", str(t / "emoca"), "--out", str(t / "bad")]) == 2
    assert "two different encoders" in capsys.readouterr().err and not (t / "bad").exists()
    (t / "fixed.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["prepare-deca", "--mat", str(t / "same"), "--fixed-displacement", str(t / "fixed.png"), "--aus",
                 str(t / "openface"), "--out", str(t / "png")]) == 2
    err = capsys.readouterr().err
    assert "expected DECA's data/fixed_displacement_256.npy" in err and "pickle" not in err


def test_layout_flame_without_the_mask_says_mask_none(tmp_path, capsys):
    write_deca_data(tmp_path / "data")
    (tmp_path / "data" / "uv_face_eye_mask.png").unlink()
    args = ["layout", "flame", "--deca-data", str(tmp_path / "data")]
    assert main([*args, "--out", str(tmp_path / "a.json")]) == 2
    assert "--mask none" in capsys.readouterr().err
    assert main([*args, "--mask", "none", "--out", str(tmp_path / "b.json")]) == 0


def test_every_long_job_takes_no_progress():
    """--no-progress is the project's one spelling for a quiet job (--quiet its alias where one existed)."""
    from aucgan.cli import build_parser

    parser = build_parser()
    for argv in (["prepare-deca", "--mat", "m", "--aus", "a", "--out", "o", "--no-progress"],
                 ["synth-deca", "--layout", "l", "--out", "o", "--no-progress"],
                 ["prepare", "photos", "--aus", "a", "--out", "o", "--no-progress"]):
        assert parser.parse_args(argv).quiet, argv
