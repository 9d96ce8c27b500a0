"""The DECA-code world: written in the real tools' formats, exact truth, the recorded knobs do what they say."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.data.openface import read_openface_csv
from aucgan.data.synth import identity_expressions
from aucgan.deca.world import (
    AU_NOISE_LEVELS,
    CODE_LENGTHS,
    UV_Z_LIMIT,
    WorldConfig,
    WorldError,
    au_noise_level,
    open_world,
    write_world,
)
from aucgan.fsutil import OutputExistsError
from aucgan.layout.flame import read_flame_layout

from tests.flame_data import write_deca_data


@pytest.fixture(scope="module")
def flame(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deca_data")
    write_deca_data(folder)
    return read_flame_layout(folder)


@pytest.fixture(scope="module")
def world(tmp_path_factory, flame):
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(out, WorldConfig(identities=3, expressions=4, size=32, au_noise=AU_NOISE_LEVELS["judge"], mat=True),
                flame)
    return out


def test_written_as_emoca_openface_and_deca_write(world):
    w = open_world(world)
    assert len(w) == 12 and w.size == 32
    model_dirs = sorted(p.name for p in (world / "emoca").iterdir())
    assert model_dirs == ["EMOCA"]
    folders = sorted(p.name for p in (world / "emoca" / "EMOCA").iterdir())
    assert folders == sorted(f"{n}00" for n in w.names)                      # image name + face index 00
    for key, length in CODE_LENGTHS.items():
        arr = np.load(world / "emoca" / "EMOCA" / "id0001_e000200" / f"{key}.npy", allow_pickle=False)
        assert arr.shape == (length,) and arr.dtype == np.float32
    table = read_openface_csv(world / "openface" / "id0001_e0002.csv")
    assert table.layout == "FaceLandmarkImg" and len(table.records) == 1
    header = (world / "openface" / "id0001_e0002.csv").read_text().splitlines()[0]
    assert header.startswith("face, confidence, AU01_r") and "AU28_c" in header
    ids = (world / "identities.csv").read_text().splitlines()
    assert ids[0] == "name,identity" and "id0002_e0003,id0002" in ids
    # the true AUs are the benchmark's expressions of each identity, before the OpenFace noise
    np.testing.assert_allclose(w.true_au[w.row("id0002_e0001")], identity_expressions(0, 2, 4)["au"][1].numpy())
    card = json.loads((world / "world.json").read_text())
    assert card["world"]["exp_info"] == 0.9 and card["world"]["detail_leak"] == 0.5
    assert card["benchmark"]["params"]["size"] == 32 and card["benchmark"]["params"]["eye_recess"] == 0.0
    assert (world / "layout.json").is_file()


def test_truth_is_what_the_mat_files_hold(world):
    w = open_world(world)
    fixed = np.load(world / "fixed_displacement_32.npy", allow_pickle=False)
    assert fixed.shape == (32, 32) and fixed.dtype == np.float64 and np.abs(fixed).max() < 1e-3
    for name in ("id0000_e0000", "id0002_e0003"):
        mat = scipy.io.loadmat(world / "deca" / name / f"{name}.mat")
        assert mat["displacement_map"].shape == (1, 1, 32, 32)
        r = w.row(name)
        truth = w.uv_z(w.identities[r], w.true_au[r][None])[0, 0].numpy()
        np.testing.assert_allclose(mat["displacement_map"][0, 0] - fixed, truth, rtol=0, atol=1e-7)  # float32 files
        assert np.abs(truth).max() <= UV_Z_LIMIT and np.abs(truth).max() > 1e-5        # metres, DECA's range
    # any AU vector: AU12 raised changes the identity's uv_z, and only where the layout's face mask is
    au = np.zeros((2, 17), np.float32)
    au[1, AU_NAMES.index("AU12")] = 5.0
    uv = w.uv_z(1, au)
    change = (uv[1] - uv[0]).abs()[0]
    assert float(change.max()) > 1e-4
    assert float((change * (1 - w.face_mask())).max()) < 1e-7


def test_same_seed_same_world(tmp_path, flame):
    cfg = WorldConfig(identities=2, expressions=3, size=16, au_noise=0.3)
    a = write_world(tmp_path / "a", cfg, flame)
    b = write_world(tmp_path / "b", cfg, flame)
    c = write_world(tmp_path / "c", WorldConfig(identities=2, expressions=3, size=16, au_noise=0.3, seed=1), flame)
    assert a == b
    for rel in ("emoca/EMOCA/id0001_e000200/exp.npy", "emoca/EMOCA/id0001_e000200/detail.npy",
                "openface/id0001_e0002.csv", "samples.csv"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert (tmp_path / "a" / "emoca/EMOCA/id0001_e000200/exp.npy").read_bytes() != \
        (tmp_path / "c" / "emoca/EMOCA/id0001_e000200/exp.npy").read_bytes()
    assert c["world"]["seed"] == 1


def test_au_noise(tmp_path, flame):
    write_world(tmp_path / "clean", WorldConfig(identities=2, expressions=6, size=16), flame)
    clean = open_world(tmp_path / "clean")
    for name in clean.names:
        np.testing.assert_allclose(clean.observed_au(name), clean.true_au[clean.row(name)], atol=1e-6)
    card = write_world(tmp_path / "noisy", WorldConfig(identities=2, expressions=6, size=16, au_noise=0.5), flame)
    noisy = open_world(tmp_path / "noisy")
    seen = np.stack([noisy.observed_au(n) for n in noisy.names])
    err = np.abs(seen - noisy.true_au)
    assert seen.min() >= 0 and seen.max() <= 5 and np.allclose(seen, np.round(seen, 2))
    assert err.mean() == pytest.approx(0.5, abs=0.1)                # the level is the readings' mean error
    assert card["au_noise_sigma"] > 0.5                             # clipping at 0 halves absent AUs' errors
    assert card["au_noise_measured_mae"] == pytest.approx(err.mean(), abs=1e-3)
    assert au_noise_level("judge") == AU_NOISE_LEVELS["judge"] and au_noise_level("0.3") == 0.3


@pytest.mark.parametrize("exp_info", [0.0, 0.5, 0.9])
def test_a_linear_read_out_of_exp_recovers_exp_info(tmp_path, flame, exp_info):
    write_world(tmp_path / "w", WorldConfig(identities=30, expressions=24, size=16, exp_info=exp_info), flame)
    w = open_world(tmp_path / "w")
    exp = np.stack([w.codes(n)["exp"] for n in w.names]).astype(np.float64)
    au = w.true_au.astype(np.float64)
    x = np.concatenate([exp, np.ones((len(exp), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(x, au, rcond=None)
    r2 = 1.0 - ((au - x @ coef) ** 2).sum() / ((au - au.mean(0)) ** 2).sum()
    n, p = x.shape
    adjusted = 1.0 - (1.0 - r2) * (n - 1) / (n - p)           # least squares over 51 regressors fits noise too
    assert adjusted == pytest.approx(exp_info, abs=0.05)


def test_detail_code_is_static_plus_leaked_expression_detail(tmp_path, flame):
    def detail(leak):
        out = tmp_path / f"leak{leak}"
        write_world(out, WorldConfig(identities=2, expressions=5, size=32, detail_leak=leak, detail_noise=0.0), flame)
        w = open_world(out)
        return w, np.stack([w.codes(n)["detail"] for n in w.names])

    w, static = detail(0.0)
    rows = [r for r in range(len(w)) if w.identities[r] == 1]
    assert np.ptp(static[rows], axis=0).max() == 0.0                # no leak, no noise: one code per person
    assert np.abs(static[0] - static[rows[0]]).max() > 0.1         # and people differ
    _, leaky = detail(0.8)
    moved = np.abs(leaky - static).max(axis=1)
    changed = np.abs(w.true_au).sum(axis=1) > 0
    assert (moved[changed] > 1e-3).all() and (moved[~changed] < 1e-6).all()   # the leak is the expression's detail
    _, full = detail(0.4)
    np.testing.assert_allclose(full - static, 0.5 * (leaky - static), atol=1e-4)   # linear in detail_leak


def test_latent_and_jaw(world):
    w = open_world(world)
    c = w.codes("id0000_e0001")
    lat = w.latent("id0000_e0001")
    assert lat.shape == (181,)
    np.testing.assert_array_equal(lat[:3], c["pose"][3:6])
    np.testing.assert_array_equal(lat[3:53], c["exp"])
    np.testing.assert_array_equal(lat[53:], c["detail"])


def test_bad_input(tmp_path, flame, world):
    with pytest.raises(WorldError, match="exp_info must lie in 0..1"):
        WorldConfig(exp_info=1.5)
    with pytest.raises(WorldError, match="judge"):
        au_noise_level("loud")
    with pytest.raises(WorldError, match="model_name"):
        WorldConfig(model_name="a/b")
    with pytest.raises(OutputExistsError):
        write_world(world, WorldConfig(identities=1, expressions=1, size=16), flame)
    with pytest.raises(WorldError, match="not a DECA world"):
        open_world(tmp_path)
    (tmp_path / "world.json").write_text("{")
    with pytest.raises(WorldError, match="not a readable DECA world card"):
        open_world(tmp_path)
    (tmp_path / "world.json").write_text(json.dumps({"format": "aucgan-synth", "format_version": 1}))
    with pytest.raises(WorldError, match="format must be 'aucgan-deca-world'"):
        open_world(tmp_path)
    card = json.loads((world / "world.json").read_text())
    card["world"]["exp_info"] = 3
    (tmp_path / "world.json").write_text(json.dumps(card))
    with pytest.raises(WorldError, match=r"world.json: not a readable DECA world card \(WorldError: exp_info"):
        open_world(tmp_path)


def test_cli(tmp_path, flame, capsys):
    layout = tmp_path / "flame.json"
    layout.write_text(json.dumps(flame.to_json()))
    out = tmp_path / "w"
    rc = main(["synth-deca", "--layout", str(layout), "--out", str(out), "--identities", "2", "--expressions", "2",
               "--size", "16", "--exp-info", "0.5", "--detail-leak", "0", "--au-noise", "judge", "--mat", "--quiet",
               "--synth", "wrinkle_depth=0.006"])
    assert rc == 0
    assert "wrote 4 images" in capsys.readouterr().out
    card = json.loads((out / "world.json").read_text())
    assert card["benchmark"]["params"]["wrinkle_depth"] == 0.006
    assert open_world(out).bench.wrinkle_depth == 0.006                  # the truth renders with it
    assert card["world"]["au_noise"] == AU_NOISE_LEVELS["judge"] and card["world"]["mat"] is True
    assert (out / "deca" / "id0001_e0001" / "id0001_e0001.mat").is_file()
    assert main(["synth-deca", "--layout", str(layout), "--out", str(out), "--quiet"]) == 2       # no overwrite
    rc = main(["synth-deca", "--layout", str(layout), "--out", str(tmp_path / "x"), "--exp-info", "2"])
    err = capsys.readouterr().err
    assert rc == 2 and "exp_info must lie in 0..1" in err and "Traceback" not in err
    rc = main(["synth-deca", "--layout", str(layout), "--out", str(tmp_path / "y"), "--synth", "wrinkles=3"])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown benchmark parameter(s) wrinkles; valid:" in err and "wrinkle_depth" in err


def test_strain_world_truth_is_what_its_mat_files_hold(tmp_path, flame):
    """A world rendered in the benchmark's strain world records it, and its truth re-renders that world (not the
    default one) - the .mat files and the truth agree to float32 precision."""
    out = tmp_path / "strain"
    write_world(out, WorldConfig(identities=2, expressions=3, size=32, mat=True), flame, synth={"world": "strain"})
    card = json.loads((out / "world.json").read_text())
    assert card["benchmark"]["world"] == "strain" and "world_params" in card["benchmark"]
    w = open_world(out)
    assert w.bench.world == "strain"
    fixed = np.load(out / "fixed_displacement_32.npy", allow_pickle=False)
    for name in ("id0000_e0001", "id0001_e0002"):
        mat = scipy.io.loadmat(out / "deca" / name / f"{name}.mat")
        r = w.row(name)
        truth = w.uv_z(w.identities[r], w.true_au[r][None])[0, 0].numpy()
        np.testing.assert_allclose(mat["displacement_map"][0, 0] - fixed, truth, rtol=0, atol=1e-7)
