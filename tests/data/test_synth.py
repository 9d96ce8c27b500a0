from dataclasses import replace

import pytest
import torch

from aucgan.au import AU_NAMES, EMOTIONS, NUM_AUS
from aucgan.data.synth import (
    SynthConfig,
    SynthError,
    SyntheticDataset,
    identity_expressions,
    make_identities,
    render,
    sample_expressions,
    sample_identity,
    split_identities,
)
from aucgan.layout.atlas import au_footprints

CFG = SynthConfig(size=32)


@pytest.fixture(scope="module")
def ids():
    return make_identities([0, 1, 2], seed=7, config=CFG)


def _au(**values: float) -> torch.Tensor:
    vec = torch.zeros(NUM_AUS)
    for code, v in values.items():
        vec[AU_NAMES.index(code)] = v
    return vec


def test_render_outputs(ids):
    ex = sample_expressions(3, seed=1)
    out = render(ids, ex["au"], ex["emotion"], ex["valence"])
    assert out["albedo"].shape == (3, 3, 32, 32) and out["displacement"].shape == (3, 1, 32, 32)
    assert out["normal"].shape == (3, 3, 32, 32) and out["landmarks"].shape == (3, 68, 2)
    assert float(out["albedo"].min()) >= 0 and float(out["albedo"].max()) <= 1
    torch.testing.assert_close(out["normal"].norm(dim=1), torch.ones(3, 32, 32))
    assert float(out["displacement"].abs().max()) < 0.05        # inside the stored 16-bit range
    torch.testing.assert_close(out["landmarks"], ids.landmarks)


def test_determinism_by_seed():
    a = make_identities([0, 4], seed=3, config=CFG)
    b = make_identities([0, 4], seed=3, config=CFG)
    c = make_identities([0, 4], seed=4, config=CFG)
    au = torch.stack([_au(AU12=3.0), _au(AU04=2.0)])
    ra, rb, rc = (render(x, au) for x in (a, b, c))
    for key in ("albedo", "displacement", "normal", "landmarks"):
        assert torch.equal(ra[key], rb[key]), key
        assert not torch.allclose(ra[key], rc[key]), key
    assert sample_identity(4, 3) == sample_identity(4, 3) != sample_identity(4, 4)


def test_identity_does_not_depend_on_its_companions():
    alone = make_identities([5], seed=2, config=CFG)
    crowd = make_identities([9, 0, 5, 3], seed=2, config=CFG).take([2])
    assert alone.params == crowd.params
    for name in ("landmarks", "skin", "eye", "static", "basis", "eye_fields", "mouth_fields", "flush"):
        torch.testing.assert_close(getattr(alone, name), getattr(crowd, name), atol=1e-6, rtol=0, msg=name)


def test_identities_differ_in_layout_and_colour():
    big = make_identities(range(6), seed=0, config=SynthConfig(size=128))
    lm = big.landmarks * 128
    spread = (lm - lm.mean(0)).norm(dim=-1).amax(dim=1)           # per identity, largest landmark offset (px)
    assert float(spread.max()) > 3.0
    skin = big.skin[:, :, 70, 30]                                   # a cheek pixel
    assert float(skin.std(0).max()) > 0.03


@pytest.mark.parametrize("k", range(NUM_AUS), ids=AU_NAMES)
def test_au_amplitude_grows_inside_its_footprint_and_nothing_changes_outside(ids, k):
    levels = torch.arange(6, dtype=torch.float32)
    au = torch.zeros(6 * len(ids), NUM_AUS)
    au[:, k] = levels.repeat_interleave(len(ids))
    out = render(ids, au, index=torch.arange(len(ids)).repeat(6))
    disp = out["displacement"].view(6, len(ids), 32, 32)
    albedo = out["albedo"].view(6, len(ids), 3, 32, 32)
    fp = au_footprints(ids.landmarks, (32, 32))[:, k]
    change = (disp - disp[0]).abs()
    amplitude = torch.stack([change[i][fp > 0.5].mean() for i in range(6)])
    assert bool((amplitude[1:] > amplitude[:-1]).all()), amplitude
    outside = fp <= 0
    assert bool(outside.any())
    assert float(change[:, outside].max()) < 1e-7
    assert float((albedo - albedo[0]).abs().amax(dim=2)[:, outside].max()) < 1e-6


def test_paired_renders_differ_only_in_the_changed_aus_footprints(ids):
    one = ids.take([1, 1])
    a = _au(AU06=2.0, AU12=3.0, AU45=1.0)
    b = _au(AU06=2.0, AU12=5.0, AU45=1.0, AU01=4.0)
    out = render(one, torch.stack([a, b]))
    fp = au_footprints(one.landmarks[:1], (32, 32))[0]
    changed = torch.maximum(fp[AU_NAMES.index("AU12")], fp[AU_NAMES.index("AU01")])
    d_disp = (out["displacement"][1] - out["displacement"][0]).abs()[0]
    d_alb = (out["albedo"][1] - out["albedo"][0]).abs().amax(dim=0)
    assert float(d_disp[changed <= 0].max()) < 1e-7 and float(d_alb[changed <= 0].max()) < 1e-6
    assert float(d_disp[fp[AU_NAMES.index("AU01")] > 0.5].mean()) > 1e-5
    assert float(d_disp[fp[AU_NAMES.index("AU12")] > 0.5].mean()) > 1e-5


def test_index_pairs_like_take(ids):
    au = torch.stack([_au(AU12=4.0), _au(AU25=2.0), _au(AU01=1.0, AU45=5.0)])
    index = torch.tensor([2, 0, 2])
    by_index = render(ids, au, index=index)
    by_take = render(ids.take(index), au)
    for key in by_index:
        torch.testing.assert_close(by_index[key], by_take[key], atol=1e-6, rtol=0)


def test_emotion_flush_changes_albedo_not_geometry(ids):
    one = ids.take([0, 0])
    au = torch.stack([_au(AU04=3.0)] * 2)
    anger = EMOTIONS.index("anger")
    out = render(one, au, emotion=torch.tensor([0, anger]), valence=torch.tensor([0.0, -0.9]))
    assert torch.equal(out["displacement"][0], out["displacement"][1])
    redness = out["albedo"][:, 0] / out["albedo"][:, 1].clamp_min(1e-3)
    assert float((redness[1] - redness[0]).mean()) > 0.02


def test_lip_gap_is_dark_and_a_closed_lid_covers_the_eye():
    one = make_identities([0], seed=7, config=SynthConfig(size=64)).take([0, 0, 0])
    out = render(one, torch.stack([_au(), _au(AU26=5.0), _au(AU45=5.0)]))
    lm = one.landmarks[0] * 64
    mouth = lm[[62, 66]].mean(0).long()
    assert float(out["albedo"][1, :, mouth[1], mouth[0]].mean()) < 0.5 * float(out["albedo"][0, :, mouth[1],
                                                                                              mouth[0]].mean())
    # open: some pixels show the eye itself (sclera, iris); closed: none, the lid skin covers it
    shows_eye = ((out["albedo"] - one.eye).abs().amax(dim=1) < 1e-4).flatten(1).sum(dim=1)
    assert int(shows_eye[0]) > 10 and int(shows_eye[2]) == 0


def test_bad_inputs(ids):
    with pytest.raises(SynthError, match="shape"):
        render(ids, torch.zeros(2, NUM_AUS))
    with pytest.raises(SynthError, match="0..5"):
        render(ids, torch.full((3, NUM_AUS), 6.0))
    with pytest.raises(SynthError, match="emotion"):
        render(ids, torch.zeros(3, NUM_AUS), emotion=torch.tensor([0, 0, 9]))
    with pytest.raises(SynthError, match="config"):
        render(ids, torch.zeros(3, NUM_AUS), config=SynthConfig(size=64))
    with pytest.raises(SynthError, match="size"):
        SynthConfig(size=8)


def test_expression_sampling():
    ex = sample_expressions(400, seed=11)
    assert ex["au"].shape == (400, NUM_AUS) and ex["emotion"].dtype == torch.long
    assert float(ex["au"].min()) >= 0 and float(ex["au"].max()) <= 5
    assert torch.equal(ex["au"], torch.round(ex["au"] * 100) / 100)
    assert float(ex["valence"].abs().max()) <= 1
    assert int(ex["emotion"].min()) >= 0 and int(ex["emotion"].max()) < len(EMOTIONS)
    active = (ex["au"] > 0).sum(dim=1).float()
    assert float(active.mean()) < 4 and float((active == 0).float().mean()) > 0.02        # mostly sparse
    assert len(torch.unique(ex["emotion"])) == len(EMOTIONS)
    # correlated but not determined: happy labels mostly carry AU12, but not always
    happy = ex["emotion"] == EMOTIONS.index("happiness")
    au12 = ex["au"][:, AU_NAMES.index("AU12")] > 0
    assert float(au12[happy].float().mean()) > 2 * float(au12[~happy].float().mean())
    assert float(au12[happy].float().mean()) < 1.0
    # valence follows the emotion
    angry = ex["emotion"] == EMOTIONS.index("anger")
    assert float(ex["valence"][happy].mean()) > 0.2 > float(ex["valence"][angry].mean())
    # prefix-stable and seeded
    again = sample_expressions(10, seed=11)
    assert torch.equal(again["au"], ex["au"][:10])
    assert torch.equal(sample_expressions(5, seed=11, start=7)["au"], ex["au"][7:12])
    assert not torch.equal(sample_expressions(10, seed=12)["au"], again["au"])


def test_split_by_identity():
    s = split_identities(6, seed=0, test_fraction=0.34)
    assert len(s["test"]) == 2 and sorted(s["train"] + s["test"]) == list(range(6))
    assert split_identities(6, seed=0, test_fraction=0.34) == s
    assert split_identities(1, seed=0, test_fraction=0.5)["test"] == []
    assert split_identities(5, seed=0, test_fraction=0.0)["test"] == []
    with pytest.raises(SynthError):
        split_identities(5, seed=0, test_fraction=1.0)


def test_on_the_fly_dataset_matches_render():
    ds = SyntheticDataset(identities=4, expressions_per_identity=3, size=32, seed=5)
    assert len(ds) == 12
    item = ds[4]                                   # identity 1, expression 1
    assert item["id"] == "id0001_e0001" and item["identity"] == "id0001"
    assert set(item["maps"]) == {"albedo", "displacement"} and item["maps"]["albedo"].shape == (3, 32, 32)
    assert set(item["attrs"]) == {"age", "gender", "emotion", "valence"}
    assert item["landmarks"].shape == (68, 2)
    ex = identity_expressions(5, 1, 3)
    torch.testing.assert_close(item["au"], ex["au"][1])
    truth = render(make_identities([1], 5, SynthConfig(size=32)), ex["au"][1:2], ex["emotion"][1:2],
                   ex["valence"][1:2])
    torch.testing.assert_close(item["maps"]["displacement"], truth["displacement"][0])
    torch.testing.assert_close(ds[4]["maps"]["albedo"], item["maps"]["albedo"])
    test = SyntheticDataset(identities=4, expressions_per_identity=3, size=32, seed=5, split="test")
    train = SyntheticDataset(identities=4, expressions_per_identity=3, size=32, seed=5, split="train")
    assert len(test) + len(train) == 12
    assert test[0]["identity"] not in {train[i]["identity"] for i in range(len(train))}
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    assert batch["maps"]["displacement"].shape == (2, 1, 32, 32)
    with pytest.raises(SynthError, match="split"):
        SyntheticDataset(identities=4, expressions_per_identity=3, size=32, seed=5, split="val")
    with pytest.raises(IndexError):
        ds[12]


def test_layout_config_and_a_masked_layout():
    import numpy as np

    from aucgan.data.synth.config import in_layout
    from aucgan.layout.landmarks import Layout, canonical_layout

    assert in_layout(None) == SynthConfig() and "layout" not in SynthConfig().to_dict()
    base = canonical_layout()
    mask = np.zeros((64, 64), np.float32)
    mask[20:, :] = 1.0                                    # no face above row 20 (of 64)
    flame_like = Layout("uv", base.landmarks, (64, 64), mask_image=mask, identity_jitter=0.25)
    assert in_layout(flame_like).layout_jitter == 0.25 and in_layout(flame_like, 0.5).layout_jitter == 0.5
    assert in_layout(Layout("plain", base.landmarks)).layout_jitter == 1.0
    cfg = replace(in_layout(flame_like), size=32)
    assert "layout" not in cfg.to_dict()
    ids_masked = make_identities([0, 1], seed=7, config=cfg)
    ids_plain = make_identities([0, 1], seed=7, config=replace(cfg, layout=Layout("x", base.landmarks)))
    torch.testing.assert_close(ids_masked.landmarks, ids_plain.landmarks)    # same variation of the same points
    shift = (ids_masked.landmarks - torch.as_tensor(base.landmarks)).abs().amax(dim=(1, 2))
    wide = (make_identities([0, 1], 7, CFG).landmarks - torch.as_tensor(base.landmarks)).abs().amax(dim=(1, 2))
    assert (shift > 0).all() and (shift < 0.3 * wide + 1e-6).all()
    au = torch.full((2, NUM_AUS), 5.0)
    outside = flame_like.mask_at((32, 32)) == 0                          # rows above ~9 of 32
    assert outside[:8].all() and not outside[12:].any()
    change = render(ids_masked, au)["displacement"] - render(ids_masked, torch.zeros(2, NUM_AUS))["displacement"]
    assert float(change[:, 0][:, outside].abs().max()) == 0.0
    assert float(ids_masked.static[:, 0][:, outside].abs().max()) == 0.0
    plain = render(ids_plain, au)["displacement"] - render(ids_plain, torch.zeros(2, NUM_AUS))["displacement"]
    assert float(plain[:, 0][:, outside].abs().max()) > 0.0              # the forehead lines reach up there
    with pytest.raises(SynthError, match="layout must be a Layout"):
        SynthConfig(layout="flame.json")
