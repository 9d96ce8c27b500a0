"""prepare-deca: DECA .mat and EMOCA codes joined with OpenFace AUs; the prepared folder reads back."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.data.datasets import open_dataset
from aucgan.data.errors import DataError
from aucgan.deca.data import open_deca_data
from aucgan.deca.prepare import prepare_deca
from aucgan.fsutil import OutputExistsError

from tests.deca.fakes import (
    TINY_ARCH,
    au_values,
    codes,
    fixed_displacement,
    reference,
    uv_z_of,
    write_deca_mats,
    write_deca_tar,
    write_emoca_codes,
    write_openface_per_image,
    write_openface_sequence,
)

NAMES = ["img_a", "img_b", "img_c", "img_d"]


def _latent(i):
    c = codes(i)
    return np.concatenate([c["pose"][3:6], c["exp"], c["detail"]])


@pytest.fixture
def sources(tmp_path):
    fixed = fixed_displacement(32)
    np.save(tmp_path / "fixed_displacement_256.npy", fixed)
    write_deca_mats(tmp_path / "mat", NAMES, size=32, fixed=fixed)
    write_emoca_codes(tmp_path / "codes", NAMES)
    write_openface_per_image(tmp_path / "of", NAMES[:3])      # img_d has no AU row
    return tmp_path


def test_mat_plus_codes(sources):
    t = sources
    report = prepare_deca(t / "out", t / "of", mat=t / "mat", codes=t / "codes",
                          fixed_displacement=t / "fixed_displacement_256.npy")
    assert report["prepared"] == 3 and report["skipped_samples"] == {"img_d": "no OpenFace AU row for this image"}
    data = open_deca_data(t / "out")
    assert data.names == NAMES[:3] and data.latent_dim == 181 and data.size == 32
    for i in range(3):
        np.testing.assert_allclose(data.uv_z[i, 0], uv_z_of(i, 32), atol=1e-7)   # displacement_map - fixed
        np.testing.assert_allclose(data.latents[i], _latent(i), rtol=1e-6)
        np.testing.assert_allclose(data.au[i], au_values(i), atol=1e-4)
    assert data.parts == {"jaw": slice(0, 3), "exp": slice(3, 53), "detail": slice(53, 181)}
    assert data.identities == NAMES[:3]                        # no identity information: one each
    # the folder is an ordinary manifest data set too, with uv_z in its 16-bit previews
    ds = open_dataset(t / "out", au_names=AU_NAMES)
    disp = ds.sample(1).maps["displacement"]
    assert float((disp[0] - torch.from_numpy(uv_z_of(1, 32))).abs().max()) < 1e-6


def test_codes_in_the_mat_and_identity_folders(tmp_path):
    fixed = fixed_displacement(32)
    np.save(tmp_path / "fixed.npy", fixed)
    for person, names in (("anna", NAMES[:2]), ("ben", NAMES[2:])):
        write_deca_mats(tmp_path / "mat" / person, names, size=32, fixed=fixed, save_codes=True)
    write_openface_per_image(tmp_path / "of", NAMES)
    prepare_deca(tmp_path / "out", tmp_path / "of", mat=tmp_path / "mat", fixed_displacement=tmp_path / "fixed.npy")
    data = open_deca_data(tmp_path / "out", au_names="disfa12")
    assert data.identities == ["anna", "anna", "ben", "ben"]
    assert data.au.shape == (4, 12) and data.card["identities"] == 2
    np.testing.assert_allclose(data.latents[3], _latent(1), rtol=1e-6)   # ben's 2nd image is mats' index 1


def test_codes_decoded_by_the_users_decoder(tmp_path):
    ref = reference(seed=2, **TINY_ARCH)
    write_deca_tar(tmp_path / "deca_model.tar", ref)
    write_emoca_codes(tmp_path / "codes", NAMES, with_extra_dim=True)
    seq = write_openface_sequence(tmp_path / "seq.csv", NAMES)
    images = tmp_path / "images"
    images.mkdir()
    for i, name in enumerate(NAMES):
        (images / f"{name}_{i + 1:03d}.png").write_bytes(b"")   # frame i+1 <-> image name
    (tmp_path / "ids.csv").write_text("name,identity\n" + "".join(f"{n}_{i + 1:03d},p{i % 2}\n"
                                                                  for i, n in enumerate(NAMES)))
    for i, name in enumerate(NAMES):
        (tmp_path / "codes" / name).rename(tmp_path / "codes" / f"{name}_{i + 1:03d}")
    prepare_deca(tmp_path / "out", seq, codes=tmp_path / "codes", decoder=tmp_path / "deca_model.tar",
                 images=images, identities=tmp_path / "ids.csv")
    data = open_deca_data(tmp_path / "out")
    assert data.identities == ["p0", "p1", "p0", "p1"] and data.size == 32
    with torch.no_grad():
        want = ref(torch.from_numpy(np.stack([_latent(i) for i in range(4)])))
    np.testing.assert_allclose(data.uv_z, want.numpy(), atol=1e-7)


def test_clear_errors(sources, tmp_path):
    t = sources
    with pytest.raises(DataError, match="fixed-displacement"):
        prepare_deca(t / "o1", t / "of", mat=t / "mat")
    with pytest.raises(DataError, match=r"no codes \(DECA's --saveMat saves none\)"):
        prepare_deca(t / "o2", t / "of", mat=t / "mat", fixed_displacement=t / "fixed_displacement_256.npy")
    with pytest.raises(DataError, match="--decoder"):
        prepare_deca(t / "o3", t / "of", codes=t / "codes")
    (t / "codes" / "img_b" / "detail.npy").unlink()
    with pytest.raises(DataError, match=r"img_b: no detail.npy"):
        prepare_deca(t / "o4", t / "of", mat=t / "mat", codes=t / "codes",
                     fixed_displacement=t / "fixed_displacement_256.npy")
    np.save(t / "codes" / "img_b" / "detail.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="not a plain .npy"):
        prepare_deca(t / "o5", t / "of", mat=t / "mat", codes=t / "codes",
                     fixed_displacement=t / "fixed_displacement_256.npy")
    np.save(t / "small_fixed.npy", np.zeros((16, 16)))
    np.save(t / "codes" / "img_b" / "detail.npy", codes(1)["detail"])
    with pytest.raises(DataError, match="displacement_map is 32x32"):
        prepare_deca(t / "o6", t / "of", mat=t / "mat", codes=t / "codes", fixed_displacement=t / "small_fixed.npy")
    import scipy.io
    scipy.io.savemat(t / "mat" / "img_a" / "img_a.mat", {"verts": np.zeros((1, 3))})
    with pytest.raises(DataError, match="img_a.mat: no 'displacement_map'"):
        prepare_deca(t / "o7", t / "of", mat=t / "mat", codes=t / "codes",
                     fixed_displacement=t / "fixed_displacement_256.npy")


def test_refuses_to_overwrite(sources):
    t = sources
    kw = dict(mat=t / "mat", codes=t / "codes", fixed_displacement=t / "fixed_displacement_256.npy")
    prepare_deca(t / "out", t / "of", **kw)
    with pytest.raises(OutputExistsError, match="--force"):
        prepare_deca(t / "out", t / "of", **kw)
    assert prepare_deca(t / "out", t / "of", force=True, **kw)["prepared"] == 3
    with pytest.raises(DataError, match="not a DECA detail data set"):
        open_deca_data(t / "of")


def test_decoder_latent_must_match(tmp_path):
    ref = reference(seed=2, latent_dim=100, **TINY_ARCH)
    write_deca_tar(tmp_path / "deca_model.tar", ref)
    write_emoca_codes(tmp_path / "codes", NAMES)
    write_openface_per_image(tmp_path / "of", NAMES)
    with pytest.raises(Exception, match="l1.0 takes 100 inputs"):
        prepare_deca(tmp_path / "out", tmp_path / "of", codes=tmp_path / "codes", decoder=tmp_path / "deca_model.tar")
