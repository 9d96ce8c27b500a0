"""The truth metric for decoders, against known answers: a decoder that ignores the AUs explains 0 of every
true change, the truth itself 1, and a decoder that reads the AUs from the expression code explains the
change through "codes only" alone."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.cli.diagnose import held_out_note
from aucgan.deca.decoder import DetailDecoder
from aucgan.deca.truth import SCORES, summary_lines, truth_scores
from aucgan.deca.world import DecaWorld, WorldConfig, WorldError, latent_of, open_world, write_world
from aucgan.layout.flame import read_flame_layout
from aucgan.rundir.files import record_data

from tests.deca.fakes import TINY_ARCH, reference, write_deca_tar
from tests.flame_data import write_deca_data


@pytest.fixture(scope="module")
def flame(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deca_data")
    write_deca_data(folder)
    return read_flame_layout(folder)


def _world(tmp_path_factory, flame, **kw) -> DecaWorld:
    out = tmp_path_factory.mktemp("world") / "w"
    write_world(out, WorldConfig(identities=4, expressions=6, size=32, test_fraction=0.5, **kw), flame)
    return open_world(out)


@pytest.fixture(scope="module")
def world(tmp_path_factory, flame):
    return _world(tmp_path_factory, flame)


class Oracle(nn.Module):
    """A "decoder" that knows the truth: the person's uv_z at the AUs it is given (the person found by the
    static part of the detail code); ``from_exp`` reads the AUs from the expression code instead (the world's
    exact linear read-out)."""

    au_names, latent_dim, needs_source_au = AU_NAMES, 181, False

    def __init__(self, world: DecaWorld, from_exp: bool = False) -> None:
        super().__init__()
        self.world, self.output_size, self.from_exp = world, world.size, from_exp
        people = sorted(set(world.identities))
        self.people = people
        self.static = torch.stack([world.model.identity_codes(i)["detail"] for i in people]).float()
        m = world.model
        self.exp_inverse = torch.linalg.pinv(m.exp_map)      # the linear read-out of the AUs (exact at exp_info 1)

    def forward(self, latent, au, source_au=None):
        assert source_au is None
        who = torch.cdist(latent[:, 53:].float(), self.static).argmin(1)
        if self.from_exp:
            m = self.world.model
            au = (m.au_mean + m.au_std * (latent[:, 3:53].double() @ self.exp_inverse.T)).clamp(0, 5).float()
        return torch.cat([self.world.uv_z(self.people[int(w)], a[None]) for w, a in zip(who, au)])


def _ignoring_decoder(seed: int = 0) -> DetailDecoder:
    ref = reference(seed, **TINY_ARCH)
    return DetailDecoder.from_deca(ref.state_dict(), conditioning="concat_latent").eval()    # AU columns zero


def test_a_decoder_that_ignores_the_aus_explains_nothing(world):
    res = truth_scores(_ignoring_decoder(), world, num_samples=8)
    assert set(res["sets"]) == {"add", "remove", "transfer"}
    for name, s in res["sets"].items():
        assert s["pairs"] > 0
        for key in SCORES:
            assert abs(s["edit"][key]) < 1e-6, (name, key, s["edit"])
        assert s["l1_target"] == pytest.approx(s["source_l1_target"], rel=1e-6)
        assert s["codes_only"]["amplitude"] > 0           # the expression code still moves its output
        assert s["no_edit"] == dict.fromkeys(SCORES, 0.0)
    assert res["sources"] and all(world.splits[world.row(n)] == "test" for n in res["sources"])


def test_the_truth_itself_explains_everything(world):
    res = truth_scores(Oracle(world), world, num_samples=8)
    for name, s in res["sets"].items():
        for key in SCORES:
            assert s["edit"][key] == pytest.approx(1.0, abs=1e-4), (name, key)
        assert s["reconstruction_l1"] < 1e-9 and s["l1_target"] < 1e-9 < s["true_change_l1"]
        # it reads no expression code: the codes-only reference does not move it
        assert s["codes_only"]["amplitude"] == pytest.approx(0.0, abs=1e-6)
    per_au = res["sets"]["add"]["per_au"]
    assert per_au and all(v["explained"] == pytest.approx(1.0, abs=1e-4) for v in per_au.values())


def test_identity_blind_pools_training_people_and_does_not_depend_on_the_decoder(world):
    """The median true change of training people for the same edit, seen from each decoder's own source: the
    same figures for the truth itself and for a decoder that ignores the AUs, short of the truth's 1."""
    oracle, ignoring = truth_scores(Oracle(world), world, num_samples=8), truth_scores(_ignoring_decoder(), world,
                                                                                      num_samples=8)
    train = {world.identities[r] for r in range(len(world)) if world.splits[r] == "train"}
    assert oracle["identity_blind_people"] and set(oracle["identity_blind_people"]) <= train
    for name in oracle["sets"]:
        a, b = oracle["sets"][name]["identity_blind"], ignoring["sets"][name]["identity_blind"]
        for key in SCORES:
            assert a[key] == pytest.approx(b[key], abs=1e-6), (name, key)
        assert a["explained"] < 0.999 and a["cosine"] > 0          # other people fold elsewhere, but alike
        assert oracle["summary"][f"identity_blind/explained/{name}"] == a["explained"]
    assert "identity-blind" in summary_lines(oracle)[0]


def test_codes_only_is_what_the_expression_code_carries(tmp_path_factory, flame):
    w = _world(tmp_path_factory, flame, exp_info=1.0)
    res = truth_scores(Oracle(w, from_exp=True), w, num_samples=8)
    for name, s in res["sets"].items():
        assert abs(s["edit"]["explained"]) < 1e-6, name                 # it ignores the AUs it is given
        assert s["codes_only"]["explained"] > 0.999, (name, s["codes_only"])   # the exp code carries the AUs


def test_same_seed_same_scores_and_summary(world):
    dec = _ignoring_decoder(3)
    dec.l1[0].weight.data[:, 181:] = torch.randn(dec.l1[0].weight[:, 181:].shape,
                                                 generator=torch.Generator().manual_seed(1))
    stages = []

    class Stages:
        def update(self, n=1, postfix=None):
            stages.append(postfix["stage"])

    a, b = (truth_scores(dec, world, num_samples=8, seed=5, progress=Stages()) for _ in range(2))
    assert a == b
    assert stages == 2 * ["edit pairs", "add", "remove", "transfer"]
    assert any(abs(s["edit"]["amplitude"]) > 0 for s in a["sets"].values())
    lines = summary_lines(a)
    assert len(lines) == 3 and lines[0].startswith("add (") and "codes only" in lines[0]
    json.dumps(a)                                                       # JSON-ready


def test_mismatched_decoder_is_refused(world):
    dec = DetailDecoder(channels=(8, 8, 8), init_size=4)                # 16 px
    with pytest.raises(WorldError, match="32 px"):
        truth_scores(dec, world)
    with pytest.raises(WorldError, match="split"):
        truth_scores(_ignoring_decoder(), world, split="validation")


def test_deca_data_of_one_split(world):
    full, test = world.deca_data(), world.deca_data(split="test")
    rows = [r for r, s in enumerate(world.splits) if s == "test"]
    assert 0 < len(rows) < len(world) and test.names == [full.names[r] for r in rows]
    assert test.identities == [full.identities[r] for r in rows]
    np.testing.assert_array_equal(test.uv_z, full.uv_z[rows])
    np.testing.assert_array_equal(test.latents, full.latents[rows])
    np.testing.assert_array_equal(test.au, full.au[rows])
    with pytest.raises(WorldError, match="no images in split 'val'"):
        world.deca_data(split="val")


def test_latent_of_matches_the_world(world):
    name = world.names[0]
    np.testing.assert_array_equal(latent_of(world.codes(name)), world.latent(name))


def test_diagnose_truth_cli(tmp_path, world, capsys):
    tar = write_deca_tar(tmp_path / "deca_model.tar", reference(1, **TINY_ARCH))
    out = tmp_path / "diag"
    rc = main(["diagnose", str(tar), "--deca", "--truth", str(world.folder), "--out", str(out), "--samples", "2",
               "--sweeps", "0", "--truth-samples", "4"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "verdict: ignores the AUs" in printed and "truth: add (" in printed
    truth = json.loads((out / "truth.json").read_text())
    assert truth["summary"]["explained/transfer"] == pytest.approx(0.0, abs=1e-6)
    report = json.loads((out / "diagnosis.json").read_text())
    assert report["truth"] == truth["summary"]
    pairs = report["pairs"]                                         # drawn from the held-out people only
    assert "pairs drawn from the world's held-out (test) people" in report["notes"]
    assert pairs["pairs"] == 48 and pairs["people"] == len({i for i, s in zip(world.identities, world.splits)
                                                            if s == "test"})
    assert pairs["mask"] == "the layout's face mask" and pairs["edit"]["explained"] == 0.0
    assert f"pairs (48 pairs of {pairs['people']} people, another image of the same person)" in printed
    rc = main(["diagnose", str(tar), "--deca", "--out", str(tmp_path / "d2")])
    assert rc == 2 and "give --data" in capsys.readouterr().err


def test_diagnose_truth_notes_a_run_trained_on_the_held_out_people(tmp_path, world, capsys):
    tar = write_deca_tar(tmp_path / "deca_model.tar", reference(0, **TINY_ARCH))
    w = world.folder
    train_aus = tmp_path / "openface_train"
    train_aus.mkdir()
    for name, split in zip(world.names, world.splits):
        if split == "train":
            shutil.copy(w / "openface" / f"{name}.csv", train_aus)
    for aus, out in ((w / "openface", "all"), (train_aus, "train")):
        assert main(["prepare-deca", "--codes", str(w / "emoca"), "--aus", str(aus), "--decoder", str(tar),
                     "--identities", str(w / "identities.csv"), "--out", str(tmp_path / out), "--quiet"]) == 0
    test = world.splits.count("test")
    assert 0 < test < len(world)
    run = tmp_path / "run"
    assert main(["train-deca", "--decoder", str(tar), "--data", str(tmp_path / "all"), "--run-dir", str(run),
                 "--steps", "1", "--no-progress", "--set", "decoder.conditioning=[concat_latent]",
                 "--set", "decoder.head=direct", "--set", "decoder.cond_levels=null", "--set", "data.batch_size=2",
                 "--set", "tensorboard=false", "--set", "device=cpu"]) == 0
    capsys.readouterr()
    assert main(["diagnose", str(run), "--truth", str(w), "--out", str(tmp_path / "diag"), "--samples", "2",
                 "--sweeps", "0", "--truth-samples", "2", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert f"note: the run was trained on {test} of the world's {test} held-out test images" in printed
    assert any("held-out" in n for n in json.loads((tmp_path / "diag" / "diagnosis.json").read_text())["notes"])
    (run / "data.json").unlink()
    record_data(run, tmp_path / "train")
    assert held_out_note(str(run), world) is None                   # trained on the train people only
    (run / "data.json").unlink()
    record_data(run, tmp_path / "gone")
    assert "cannot be read" in held_out_note(str(run), world)
    assert held_out_note(str(tar), world) is None                   # not a run: nothing to check
