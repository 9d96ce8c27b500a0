"""End to end from the command line with tiny DECA-layout fixtures: the FLAME UV layout from a DECA data/ folder,
import a DECA decoder, prepare-deca, fine-tune a few steps, diagnose (both known answers, and the fine-tuned
run), export uv_z."""

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
    au_variant,
    fixed_displacement,
    reference,
    write_deca_mats,
    write_deca_tar,
    write_emoca_codes,
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
    rand = json.loads((t / "diag_random" / "diagnosis.json").read_text())
    assert all(v["inside"] > 0 for v in rand["sensitivity"]["per_au"].values())

    assert main(["diagnose", str(t / "run"), "--data", str(t / "set"), "--out", str(t / "diag_run"),
                 "--samples", "3", "--sweeps", "1"]) == 0
    capsys.readouterr()
    run_report = json.loads((t / "diag_run" / "diagnosis.json").read_text())
    assert run_report["footprints"] == "the run's own footprints"
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
