"""diagnose: known answers (AU input columns zeroed -> exactly 0 and the verdict; random columns -> non-zero),
the variation shares, the paired figure (a decoder made like the data -> explained 1; ignoring the AUs -> 0;
reading the expression code -> codes only 1) and the causes the verdict names."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from aucgan.au import AU_NAMES
from aucgan.cli import main
from aucgan.cli.diagnose import pairs_mask
from aucgan.deca import DetailDecoder, uv_footprints
from aucgan.deca.build import load_decoder
from aucgan.deca.data import DecaData, open_deca_data
from aucgan.deca.diagnose import (
    AU_SPREAD_LOW,
    au_jacobian,
    au_spread,
    diagnose,
    pair_rows,
    paired_scores,
    sweep,
    verdict,
)
from aucgan.deca.edits import SCORES
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
    for cols, expected in (("zero", "verdict: ignores the AUs"), ("random", "verdict: follows the AUs"),
                           ("plain", "verdict: ignores the AUs")):
        out = tmp_path / cols
        assert main(["diagnose", str(setup / f"{cols}.tar"), "--deca", "--data", str(setup / "data"),
                     "--out", str(out), "--samples", "3", "--sweeps", "1"]) == 0
        printed = capsys.readouterr().out
        assert expected in printed
        report = json.loads((out / "diagnosis.json").read_text())
        assert report["verdict"] in printed and (out / "sensitivity.png").is_file()
        assert len(report["pictures"]) == 2 and all((out / p).is_file() for p in report["pictures"])
        assert "canonical layout" in report["notes"][0]
        assert "pairs: none - no identity has two images (6 images of 6 identities)" in printed
        assert report["pairs"]["pairs"] == 0 and "another image" not in report["verdict"]
    assert main(["diagnose", str(setup / "zero.tar"), "--deca", "--data", str(setup / "data"),
                 "--out", str(tmp_path / "zero")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["diagnose", str(setup / "zero.tar"), "--data", str(setup / "data"), "--out", str(tmp_path / "x")]) == 2
    assert "pass --deca" in capsys.readouterr().err
    assert main(["diagnose", str(setup / "random.tar"), "--deca", "--au-set", "disfa12", "--data",
                 str(setup / "data"), "--out", str(tmp_path / "y")]) == 2
    assert "181 + 12" in capsys.readouterr().err


@pytest.fixture(scope="module")
def people(setup):
    """The same images prepared as three people with two images each."""
    csv = setup / "people.csv"
    csv.write_text("name,identity\n" + "".join(f"{n},p{i // 2}\n" for i, n in enumerate(NAMES)))
    prepare_deca(setup / "people", setup / "of", codes=setup / "codes", decoder=setup / "plain.tar", identities=csv)
    return setup / "people"


def test_cli_pairs(setup, people, tmp_path, capsys):
    args = ["diagnose", str(setup / "random.tar"), "--deca", "--data", str(people), "--samples", "2", "--sweeps", "0"]
    assert main([*args, "--pairs", "5", "--out", str(tmp_path / "five")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "five" / "diagnosis.json").read_text())
    dec, _ = load_decoder(setup / "random.tar", deca=True)
    pairs = paired_scores(dec, open_deca_data(people), None, num_pairs=5, seed=0)
    assert report["pairs"] == pairs and pairs["pairs"] == 5 and pairs["mask"] == "the whole map"
    e, c = pairs["edit"], pairs["codes_only"]
    assert (f"pairs (5 pairs of {pairs['people']} people, another image of the same person): AU edits explained / "
            f"cosine / amplitude {e['explained']:.3f} / {e['cosine']:.3f} / {e['amplitude']:.3f}; codes only "
            f"{c['explained']:.3f} / {c['cosine']:.3f} / {c['amplitude']:.3f}; not editing 0") in printed
    assert "of the change to another image of the same person (0: not editing)" in report["verdict"]
    assert main([*args, "--pairs", "0", "--out", str(tmp_path / "none")]) == 0
    assert "pairs: none - not measured (0 pairs asked for)" in capsys.readouterr().out
    assert main([*args, "--pairs", "-1", "--out", str(tmp_path / "bad")]) == 2
    assert "--pairs -1: expected a count of pairs, 0 or more (0: skip)" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_pairs_mask_of_a_run_whose_layout_is_gone(tmp_path):
    """A run's recorded layout that cannot be read: the pairs are scored over the whole map, and a note says so."""
    args = argparse.Namespace(layout=None, mask=None, data="set")
    mask, note = pairs_mask(args, {"layout": str(tmp_path / "gone.json"), "mask": None}, None, 32)
    assert mask is None and note.startswith("pairs scored over the whole map: the run's layout or mask cannot be "
                                            f"read ({tmp_path / 'gone.json'}")
    assert pairs_mask(args, {"kind": "deca checkpoint"}, None, 32) == (None, None)


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


# ------------------------------------------------------------------ pairs: another image of the same person
S, PEOPLE, IMAGES = 8, 4, 3
PARTS = [["jaw", 3], ["exp", 50], ["detail", 128]]


def _patterns(seed: int, rows: int) -> torch.Tensor:
    return torch.randn(rows, S * S, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


class Additive(nn.Module):
    """A stand-in decoder: uv_z = (detail code @ P + w_au * AUs @ G + w_exp * AUs read from the expression code
    @ G) * 1e-3, float64 inside. The AUs are read from the expression code by the pseudo-inverse of the code
    map of :func:`pair_data` (exact there); ``au_pattern`` seeds G (the data's own is seed 2)."""

    au_names, latent_dim, needs_source_au = AU_NAMES, 181, False
    output_size = S

    def __init__(self, w_au: float = 1.0, w_exp: float = 0.0, w_detail: float = 1.0, au_pattern: int = 2) -> None:
        super().__init__()
        self.w_au, self.w_exp, self.w_detail = w_au, w_exp, w_detail
        self.p, self.g = _patterns(1, 128), _patterns(au_pattern, 17)
        self.read = torch.linalg.pinv(_code_map())

    @property
    def num_aus(self) -> int:
        return 17

    def forward(self, latent, au, source_au=None):
        assert source_au is None
        lat = latent.double()
        au_from_exp = lat[:, 3:53] @ self.read
        out = self.w_detail * lat[:, 53:] @ self.p + (self.w_au * au.double() + self.w_exp * au_from_exp) @ self.g
        return (out * 1e-3).view(-1, 1, S, S).to(latent.dtype)


def _code_map() -> torch.Tensor:
    """(17, 50): the expression code of AUs a is a @ E."""
    return torch.randn(17, 50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)


def pair_data(people: int = PEOPLE, images: int = IMAGES, au_scale: float = 5.0, exp_from_aus: bool = True,
              seed: int = 0) -> DecaData:
    """``people`` x ``images``: one detail code per person, AUs uniform in 0..au_scale per image, the expression
    code made from the AUs (``exp_from_aus``, else random), uv_z = the data's own additive decoder (w_au 1)."""
    rng = np.random.default_rng(seed)
    n = people * images
    detail = np.repeat(rng.normal(size=(people, 128)), images, axis=0)
    au = rng.uniform(0, au_scale, size=(n, 17))
    exp = au @ _code_map().numpy() if exp_from_aus else rng.normal(size=(n, 50)) * 10
    latents = np.concatenate([rng.normal(size=(n, 3)) * 0.1, exp, detail], axis=1).astype(np.float32)
    au = au.astype(np.float32)
    with torch.no_grad():
        uv = Additive()(torch.from_numpy(latents).double(), torch.from_numpy(au).double()).float().numpy()
    return DecaData(root=Path("pairs"), names=[f"im{i}" for i in range(n)],
                    identities=[f"p{i // images}" for i in range(n)], au_names=tuple(AU_NAMES), au=au,
                    latents=latents, uv_z=uv, card={"latent_parts": PARTS})


def test_pairs_are_seeded_images_of_one_person():
    data = pair_data()
    ident = data.identity_index()
    pairs = pair_rows(data, 10, seed=0)
    assert len(pairs) == 10 and len({a for a, _ in pairs}) == 10          # 12 images: each source distinct
    assert all(a != b and ident[a] == ident[b] for a, b in pairs)
    assert pair_rows(data, 10, seed=0) == pairs and pair_rows(data, 10, seed=1) != pairs
    more = pair_rows(data, 30, seed=0)                                      # more pairs than images: drawn again
    assert len(more) == 30 and len({a for a, _ in more}) == 12
    dec = Additive(w_au=0.5)
    assert paired_scores(dec, data, None, num_pairs=10, seed=4) == paired_scores(dec, data, None, num_pairs=10,
                                                                                  seed=4)


def test_pairs_known_answers():
    data = pair_data()
    # the decoder is how the data was made: its edit is the true change, exactly
    right = paired_scores(Additive(), data, None, num_pairs=12, seed=0)
    assert right["pairs"] == 12 and right["sources"] == 12 and right["people"] == PEOPLE
    assert abs(right["edit"]["explained"] - 1) < 1e-5 and abs(right["edit"]["cosine"] - 1) < 1e-5
    assert abs(right["edit"]["amplitude"] - 1) < 1e-5 and right["no_edit"] == dict.fromkeys(SCORES, 0.0)
    assert right["reconstruction_l1"] < 1e-9 < right["true_change_l1"] and right["mask"] == "the whole map"
    # ignoring the AUs: not editing
    deaf = paired_scores(Additive(w_au=0.0), data, None, num_pairs=12, seed=0)
    assert deaf["edit"]["explained"] == 0.0 and deaf["edit"]["amplitude"] == 0.0
    # reading the expression from the expression code: codes only carries the change, the AU edits nothing
    exp = paired_scores(Additive(w_au=0.0, w_exp=1.0), data, None, num_pairs=12, seed=0)
    assert abs(exp["codes_only"]["explained"] - 1) < 1e-5 and abs(exp["codes_only"]["cosine"] - 1) < 1e-5
    assert exp["edit"]["explained"] == 0.0 and exp["edit"]["amplitude"] == 0.0
    # the right amount of change in the wrong pattern: worse than not editing
    wrong = paired_scores(Additive(au_pattern=7), data, None, num_pairs=12, seed=0)
    assert wrong["edit"]["explained"] < 0 and abs(wrong["edit"]["cosine"]) < 0.3


def test_pairs_inside_the_mask():
    """Outside the mask the decoder's edit is wrong; inside it is right: scored inside, explained 1."""
    data = pair_data()
    mask = torch.zeros(S, S)
    mask[:, : S // 2] = 1.0

    class HalfWrong(Additive):
        def forward(self, latent, au, source_au=None):
            out = super().forward(latent, au, source_au).clone()
            out[..., S // 2:] = out[..., S // 2:] * 3.0
            return out

    inside = paired_scores(HalfWrong(), data, mask, num_pairs=12, seed=0)
    whole = paired_scores(HalfWrong(), data, None, num_pairs=12, seed=0)
    assert abs(inside["edit"]["explained"] - 1) < 1e-5 and inside["mask"] == "the layout's face mask"
    assert whole["edit"]["explained"] < 0.9


def test_pairs_absent_without_two_images_of_a_person():
    data = pair_data(images=1)
    res = paired_scores(Additive(), data, None, num_pairs=8, seed=0)
    assert res["pairs"] == 0 and "edit" not in res
    assert res["absent"].startswith("no identity has two images (4 images of 4 identities)")
    figures, _ = diagnose(Additive(), data, uv_footprints(None, AU_NAMES, S), num_samples=2)
    assert figures["pairs"] == res and "another image" not in figures["verdict"]
    figures, _ = diagnose(Additive(), pair_data(), uv_footprints(None, AU_NAMES, S), num_samples=2, num_pairs=0)
    assert figures["pairs"] == {"pairs": 0, "absent": "not measured (0 pairs asked for)"}


def test_verdict_names_the_expression_code():
    """The AUs move uv_z a little, the expression code (random, independent of the AUs) a lot."""
    data = pair_data(exp_from_aus=False)
    figures, _ = diagnose(Additive(w_au=0.01, w_exp=1.0, w_detail=0.0), data, uv_footprints(None, AU_NAMES, S),
                          num_samples=4)
    v = figures["variation"]
    ratio = (v["var_expression_m2"] / v["var_au_m2"]) ** 0.5
    assert ratio > 10 and figures["variation"]["au_share"] < 0.05
    assert figures["verdict"].startswith("barely follows the AUs")
    assert f"likely cause: the expression code moves uv_z {ratio:,.0f}x as much as the AUs" in figures["verdict"]
    assert "detail code" not in figures["verdict"] and "span little" not in figures["verdict"]
    assert "of the change to another image of the same person (0: not editing)" in figures["verdict"]


def test_verdict_names_the_detail_code():
    """No expression code path (AU share 1: "follows"), but the AU edits are in the wrong pattern (paired
    explained below 0) and the detail code moves uv_z far more than the AUs."""
    data = pair_data()
    figures, _ = diagnose(Additive(w_au=0.05, au_pattern=7), data, uv_footprints(None, AU_NAMES, S), num_samples=4)
    v = figures["variation"]
    assert figures["verdict"].startswith("follows the AUs") and figures["pairs"]["edit"]["explained"] < 0.05
    ratio = (v["var_detail_m2"] / v["var_au_m2"]) ** 0.5
    assert ratio > 10
    assert f"likely cause: the detail code moves uv_z {ratio:,.0f}x as much as the AUs" in figures["verdict"]
    assert "expression code moves" not in figures["verdict"]
    # the decoder the data was made with follows the AUs, its edits are right: no cause named
    good, _ = diagnose(Additive(), data, uv_footprints(None, AU_NAMES, S), num_samples=4)
    assert "explain 1.00 of the change to another image" in good["verdict"] and "likely cause" not in good["verdict"]


def test_verdict_names_the_au_scale():
    data = pair_data(au_scale=1.0)                      # AUs written on a 0..1 scale
    spread = au_spread(data)
    assert spread["mean"] < AU_SPREAD_LOW and set(spread["per_au"]) == set(AU_NAMES)
    assert abs(spread["mean"] - float(np.asarray(data.au, np.float64).std(axis=0).mean())) < 1e-12
    figures, _ = diagnose(Additive(w_au=0.01, w_exp=1.0, w_detail=0.0), data, uv_footprints(None, AU_NAMES, S),
                          num_samples=4)
    assert f"the data's AUs span little (standard deviation {spread['mean']:.2g} intensity points" \
        in figures["verdict"]
    # the line itself, from figures given: both codes named, joined
    line = verdict(np.ones(17), np.ones(17), 0.01, AU_NAMES,
                   variation={"var_au_m2": 1.0, "var_expression_m2": 100.0, "var_detail_m2": 9.0}, spread=2.0)
    assert line.endswith("likely cause: the expression code moves uv_z 10x as much as the AUs and the detail code "
                         "moves uv_z 3.0x as much as the AUs")
    line = verdict(np.ones(17), np.ones(17), 0.01, AU_NAMES,
                   variation={"var_au_m2": 1.0, "var_expression_m2": 3.0, "var_detail_m2": 3.0}, spread=2.0)
    assert line.startswith("barely follows the AUs") and line.endswith(
        "; no likely cause in these figures (neither code moves uv_z 2x as much as the AUs, the data's AUs span "
        "enough)")
    # edits no better than not editing, the AUs followed: the cause is named after the paired explained
    pairs = {"pairs": 8, "edit": {"explained": -0.004}}
    line = verdict(np.ones(17), np.ones(17), 0.5, AU_NAMES, pairs=pairs, spread=2.0,
                   variation={"var_au_m2": 1.0, "var_expression_m2": 0.0, "var_detail_m2": 25.0})
    assert line.startswith("follows the AUs") and line.endswith(
        "its AU edits explain 0.00 of the change to another image of the same person (0: not editing); likely "
        "cause: the detail code moves uv_z 5.0x as much as the AUs")
