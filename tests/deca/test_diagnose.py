"""diagnose: known answers (AU input columns zeroed -> exactly 0 and the verdict; random columns -> non-zero),
and the variation shares."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.deca import DetailDecoder, uv_footprints
from aucgan.deca.data import open_deca_data
from aucgan.deca.diagnose import au_jacobian, diagnose, sweep
from aucgan.deca.prepare import prepare_deca

from tests.deca.fakes import (
    TINY_ARCH,
    au_variant,
    reference,
    write_deca_tar,
    write_emoca_codes,
    write_openface_per_image,
)

NAMES = [f"im{i}" for i in range(6)]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    t = tmp_path_factory.mktemp("diag")
    for cols in ("zero", "random"):
        write_deca_tar(t / f"{cols}.tar", au_variant(num_aus=17, au_columns=cols, **TINY_ARCH))
    write_deca_tar(t / "plain.tar", reference(**TINY_ARCH))
    write_emoca_codes(t / "codes", NAMES)
    write_openface_per_image(t / "of", NAMES)
    prepare_deca(t / "data", t / "of", codes=t / "codes", decoder=t / "plain.tar")
    return t


def test_known_answers(setup):
    data = open_deca_data(setup / "data")
    fp = uv_footprints(None, AU_NAMES, 32)
    zero = DetailDecoder.from_deca(setup / "zero.tar").eval()
    figures, arrays = diagnose(zero, data, fp, num_samples=4)
    per_au = figures["sensitivity"]["per_au"]
    assert all(v["inside"] == 0.0 and v["outside"] == 0.0 and v["focus"] is None for v in per_au.values())
    assert float(arrays["sensitivity"].abs().max()) == 0.0
    assert figures["variation"]["var_au_m2"] < 1e-20 < figures["variation"]["var_expression_m2"]
    assert figures["verdict"].startswith("ignores the AUs")
    assert figures["ignored_aus"] == list(AU_NAMES)

    rand = DetailDecoder.from_deca(setup / "random.tar").eval()
    figures, arrays = diagnose(rand, data, fp, num_samples=4)
    per_au = figures["sensitivity"]["per_au"]
    assert all(v["inside"] > 0 and v["outside"] > 0 for v in per_au.values())
    assert figures["variation"]["au_share"] > 0.01
    assert not figures["verdict"].startswith("ignores") and figures["ignored_aus"] == []


def test_jacobian_matches_finite_differences(setup):
    dec = DetailDecoder.from_deca(setup / "random.tar").eval().double()
    data = open_deca_data(setup / "data")
    latent, au = torch.from_numpy(np.array(data.latents[2])).double(), torch.from_numpy(data.au[2]).double()
    jac = au_jacobian(dec, latent, au)
    k, h = AU_NAMES.index("AU12"), 1e-6
    with torch.no_grad():
        plus, minus = au.clone(), au.clone()
        plus[k] += h
        minus[k] -= h
        fd = (dec(latent[None], plus[None]) - dec(latent[None], minus[None]))[0, 0] / (2 * h)
    assert float((jac[k] - fd).abs().max()) < 1e-4 * float(fd.abs().max())


def test_sweep_starts_at_each_level(setup):
    dec = DetailDecoder.from_deca(setup / "random.tar").eval()
    data = open_deca_data(setup / "data")
    latent, au = torch.from_numpy(np.array(data.latents[0])), torch.from_numpy(data.au[0])
    uv = sweep(dec, latent, au, (0.0, 5.0))
    a = au.clone()
    a[3] = 5.0
    with torch.no_grad():
        assert float((uv[3, 1] - dec(latent[None], a[None])[0, 0]).abs().max()) < 1e-7


def test_cli_known_answers_and_errors(setup, tmp_path, capsys):
    for cols, verdict in (("zero", "verdict: ignores the AUs"), ("random", "verdict: follows the AUs"),
                          ("plain", "verdict: ignores the AUs")):
        out = tmp_path / cols
        assert main(["diagnose", str(setup / f"{cols}.tar"), "--deca", "--data", str(setup / "data"),
                     "--out", str(out), "--samples", "3", "--sweeps", "1"]) == 0
        printed = capsys.readouterr().out
        assert verdict in printed
        report = json.loads((out / "diagnosis.json").read_text())
        assert report["verdict"] in printed and (out / "sensitivity.png").is_file()
        assert len(report["pictures"]) == 2 and all((out / p).is_file() for p in report["pictures"])
        assert "canonical layout" in report["notes"][0]
    assert main(["diagnose", str(setup / "zero.tar"), "--deca", "--data", str(setup / "data"),
                 "--out", str(tmp_path / "zero")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["diagnose", str(setup / "zero.tar"), "--data", str(setup / "data"), "--out", str(tmp_path / "x")]) == 2
    assert "pass --deca" in capsys.readouterr().err
    assert main(["diagnose", str(setup / "random.tar"), "--deca", "--au-set", "disfa12", "--data",
                 str(setup / "data"), "--out", str(tmp_path / "y")]) == 2
    assert "181 + 12" in capsys.readouterr().err


def test_cli_reports_progress_over_samples_and_sweeps(setup, tmp_path, capsys):
    """3 samples (sensitivity and AU share each), the pairs and 1 sweep picture: 8 units, as labelled lines in a
    log."""
    args = ["diagnose", str(setup / "random.tar"), "--deca", "--data", str(setup / "data"), "--samples", "3",
            "--sweeps", "1"]
    assert main([*args, "--out", str(tmp_path / "shown")]) == 0
    err = capsys.readouterr().err
    assert "diagnose random.tar: sample 8/8 (100%)" in err and "done in" in err
    assert main([*args, "--out", str(tmp_path / "quiet"), "--no-progress"]) == 0
    assert "diagnose random.tar" not in capsys.readouterr().err
