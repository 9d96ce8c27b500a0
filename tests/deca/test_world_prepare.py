"""A DECA world reads back through `aucgan prepare-deca`, the path real EMOCA / OpenFace / DECA outputs take.

These tests need prepare-deca to read EMOCA's real layout (the model-name folder, the face-index suffix on each
image's folder, OpenFace rows joined by the image name, --identities keyed by the image name): issue 21's
change to prepare-deca. Before that change is merged they fail with "nothing to prepare".
"""

from __future__ import annotations

import numpy as np
import pytest

from aucgan.cli import main
from aucgan.deca.data import open_deca_data
from aucgan.deca.world import WorldConfig, open_world, write_world
from aucgan.layout.flame import read_flame_layout

from tests.deca.fakes import TINY_ARCH, reference, write_deca_tar
from tests.flame_data import write_deca_data


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("deca_data")
    write_deca_data(data)
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(out, WorldConfig(identities=3, expressions=4, size=32, au_noise=0.182, mat=True),
                read_flame_layout(data))
    return open_world(out)


def _world_row(world, name: str) -> int:
    """The world's image behind a prepared sample (named by the image, or by EMOCA's folder for face 00)."""
    return world.row(name if name in world.names else name[:-2])


def _check_codes_and_aus(world, data) -> None:
    assert len(data) == len(world)
    assert data.card["identities"] == 3
    for i, name in enumerate(data.names):
        r = _world_row(world, name)
        np.testing.assert_array_equal(data.latents[i], world.latent(world.names[r]))
        np.testing.assert_allclose(data.au[i], world.observed_au(world.names[r]), atol=1e-4)
        assert data.identities[i] == f"id{world.identities[r]:04d}"


def test_codes_and_openface_through_prepare_deca(world, tmp_path):
    tar = write_deca_tar(tmp_path / "deca_model.tar", reference(0, **TINY_ARCH))
    w = world.folder
    rc = main(["prepare-deca", "--codes", str(w / "emoca"), "--aus", str(w / "openface"), "--decoder", str(tar),
               "--identities", str(w / "identities.csv"), "--out", str(tmp_path / "set"), "--quiet"])
    assert rc == 0
    _check_codes_and_aus(world, open_deca_data(tmp_path / "set"))


def test_deca_mat_files_carry_the_truth_through_prepare_deca(world, tmp_path):
    w = world.folder
    rc = main(["prepare-deca", "--mat", str(w / "deca"), "--fixed-displacement", str(w / "fixed_displacement_32.npy"),
               "--codes", str(w / "emoca"), "--aus", str(w / "openface"), "--identities", str(w / "identities.csv"),
               "--out", str(tmp_path / "set"), "--quiet"])
    assert rc == 0
    data = open_deca_data(tmp_path / "set")
    _check_codes_and_aus(world, data)
    for i, name in enumerate(data.names):
        r = _world_row(world, name)
        truth = world.uv_z(world.identities[r], world.true_au[r][None])[0].numpy()
        np.testing.assert_allclose(data.uv_z[i], truth, rtol=0, atol=1e-7)
