"""The strain world of the synthetic benchmark, and the default world left as it was."""

import json
import math
from dataclasses import replace

import pytest
import torch

from aucgan.au import AU_NAMES, NUM_AUS
from aucgan.data.synth import (
    StrainParams,
    SynthConfig,
    SynthError,
    SyntheticDataset,
    config_from_card,
    identity_expressions,
    make_identities,
    render,
    write_dataset,
)
from aucgan.data.synth.changes import footprint_changes
from aucgan.data.synth.strain import StrainIdentities, strain, wrinkle_depth

STRAIN = SynthConfig(size=32, world="strain")


@pytest.fixture(scope="module")
def ids():
    return make_identities([0, 1, 2], seed=7, config=STRAIN)


def _au(**values: float) -> torch.Tensor:
    vec = torch.zeros(NUM_AUS)
    for code, v in values.items():
        vec[AU_NAMES.index(code)] = v
    return vec


def test_default_world_renders_as_before():
    """Figures recorded from the renderer before the strain world existed (same seed, identities, AUs)."""
    before = {"albedo": (2193.2546172998846, 884.532128843536),
              "displacement": (-0.19492442508143504, 0.0008540040914019427),
              "normal": (2047.7125443584077, 2048.000049898075),
              "landmarks": (147.16235446184874, 90.5783529135546)}
    ident = make_identities([0, 3], 7, SynthConfig(size=32))
    au = torch.stack([_au(AU01=3.0, AU12=5.0), _au(AU23=2.5, AU26=4.0)])
    out = render(ident, au, torch.tensor([1, 5]), torch.tensor([0.5, -0.4]))
    for key, (total, squares) in before.items():
        x = out[key].double()
        assert float(x.sum()) == pytest.approx(total, rel=1e-6, abs=1e-9), key
        assert float((x * x).sum()) == pytest.approx(squares, rel=1e-6, abs=1e-12), key
    assert not {"world", "strain"} & set(SynthConfig().to_dict())      # the card's params as before
    assert SynthConfig().world_card() == {}


def test_world_is_validated_and_read_back_from_a_card():
    with pytest.raises(SynthError, match="unknown world 'wrinkly'; valid: default, strain"):
        SynthConfig(world="wrinkly")
    with pytest.raises(SynthError, match="threshold_min must not exceed"):
        StrainParams(threshold_min=0.2, threshold_max=0.1)
    card = {"params": SynthConfig(size=48).to_dict()}
    assert config_from_card(card) == SynthConfig(size=48)                 # an old card: the default world
    card.update(replace(STRAIN, size=48, strain=StrainParams(tracker_sigma=0.05)).world_card())
    back = config_from_card(json.loads(json.dumps(card)))
    assert back.world == "strain" and back.strain.tracker_sigma == 0.05 and back.size == 48


def test_strain_render_outputs_and_tracked_landmarks(ids):
    assert isinstance(ids, StrainIdentities)
    ex = identity_expressions(7, 0, 3)
    out = render(ids, ex["au"], ex["emotion"], ex["valence"])
    assert out["albedo"].shape == (3, 3, 32, 32) and out["displacement"].shape == (3, 1, 32, 32)
    assert float(out["albedo"].min()) >= 0 and float(out["albedo"].max()) <= 1
    torch.testing.assert_close(out["normal"].norm(dim=1), torch.ones(3, 32, 32))
    assert float(out["displacement"].abs().max()) < 0.05
    # the landmarks handed out are the anatomy plus a tracker error of about tracker_sigma * s
    torch.testing.assert_close(out["landmarks"], ids.landmarks)
    err = (ids.landmarks - ids.anatomy) / ids.scale.view(-1, 1, 1)
    assert float(err.std()) == pytest.approx(STRAIN.strain.tracker_sigma, rel=0.25)
    # the same people as in the default world
    default = make_identities([0, 1, 2], seed=7, config=SynthConfig(size=32))
    assert ids.params == default.params
    torch.testing.assert_close(ids.anatomy, default.landmarks)


def test_strain_world_is_deterministic_and_per_identity(ids):
    au = torch.stack([_au(AU12=3.0, AU06=2.0), _au(AU04=4.0), _au(AU26=5.0)])
    again = render(make_identities([0, 1, 2], seed=7, config=STRAIN), au)
    first = render(ids, au)
    for key in first:
        assert torch.equal(first[key], again[key]), key
    alone = render(make_identities([1], seed=7, config=STRAIN), au[1:2])
    for key in first:
        torch.testing.assert_close(alone[key][0], first[key][1], rtol=0, atol=1e-6)
    other = render(make_identities([0, 1, 2], seed=8, config=STRAIN), au)
    assert not torch.allclose(other["displacement"], first["displacement"])
    paired = render(ids, au, index=torch.tensor([2, 2, 0]))
    taken = render(ids.take([2, 2, 0]), au)
    for key in first:
        torch.testing.assert_close(paired[key], taken[key], rtol=0, atol=1e-6)


def test_nothing_in_the_strain_world_reads_the_atlas_footprints(monkeypatch):
    import aucgan.data.synth.identity as identity_module
    import aucgan.layout.atlas as atlas

    def refuse(*args, **kwargs):
        raise AssertionError("the strain world read the atlas footprints")

    for module, name in ((atlas, "footprints_on"), (atlas, "au_footprints"), (identity_module, "footprints_on")):
        monkeypatch.setattr(module, name, refuse)
    strain_ids = make_identities([4], seed=1, config=STRAIN)
    out = render(strain_ids, _au(AU01=5.0, AU12=5.0)[None])
    assert out["displacement"].shape == (1, 1, 32, 32)
    with pytest.raises(AssertionError, match="atlas footprints"):
        make_identities([4], seed=1, config=SynthConfig(size=32))


def test_strain_mechanics():
    # a uniform compression along x: strain -a, across-direction angle 0; a rotation compresses nothing
    n = 16
    xs = (torch.arange(n) + 0.5) / n
    y, x = torch.meshgrid(xs, xs, indexing="ij")
    squeeze = torch.stack([-0.1 * x, torch.zeros_like(x)])[None]
    comp, stretch, area, angle = strain(squeeze)
    torch.testing.assert_close(comp, torch.full_like(comp, 0.1))
    torch.testing.assert_close(area, torch.full_like(area, -0.1))
    assert float(stretch.abs().max()) < 1e-6
    assert float(torch.cos(2 * angle).min()) > 0.999                     # compression direction along x
    comp, _, _, _ = strain(torch.stack([-0.05 * y, 0.05 * x])[None])
    assert float(comp.abs().max()) < 1e-6
    # wrinkles: nothing up to the threshold, then growing and saturating at the identity's depth
    traits = torch.tensor([[0.05, 0.004, 0.05]])
    c = torch.tensor([0.0, 0.05, 0.1, 0.2, 0.4, 0.8]).view(1, 1, -1)
    d = wrinkle_depth(c, traits, 0.12)[0, 0]
    assert float(d[0]) == 0.0 and float(d[1]) == 0.0
    steps = d[1:] - d[:-1]
    assert bool((steps[1:] > 0).all()) and float(d.max()) <= 0.004 * (1 + 1e-6) and float(d[-1]) > 0.00399
    assert float(steps[-1] / (c[0, 0, -1] - c[0, 0, -2])) < float(steps[1] / (c[0, 0, 2] - c[0, 0, 1]))


def _line_depth(ids: StrainIdentities, field: torch.Tensor) -> torch.Tensor:
    return wrinkle_depth(strain(field)[0], ids.traits, STRAIN.strain.saturation).flatten(1).sum(1)


def test_wrinkles_are_thresholded_and_aus_that_compress_the_same_skin_interact(ids):
    fields = ids.fields[:, :, 0]
    k = {c: AU_NAMES.index(c) for c in ("AU04", "AU06", "AU12")}
    weak, strong = (_line_depth(ids, fields[:, k["AU04"]] * level / 5.0) for level in (0.5, 5.0))
    assert bool((weak == 0).all()) and bool((strong > 0).all())
    a6 = _line_depth(ids, fields[:, k["AU06"]] * 0.3)
    a12 = _line_depth(ids, fields[:, k["AU12"]] * 0.3)
    both = _line_depth(ids, (fields[:, k["AU06"]] + fields[:, k["AU12"]]) * 0.3)
    assert bool((both > 1.1 * (a6 + a12)).all())                          # more than the sum of each alone


def test_lids_and_lips_open_and_close_through_the_fields(ids):
    au = torch.stack([_au(), _au(AU26=5.0, AU25=5.0), _au(AU45=5.0), _au(AU05=5.0), _au(AU45=2.5)])
    out = render(ids.take([0] * 5), au)
    albedo = out["albedo"]
    mouth = (albedo[:, 0, 18:] < 0.3) & (albedo[:, 1, 18:] < 0.15)       # the dark mouth interior (lower face)
    assert int(mouth[0].sum()) == 0 and int(mouth[1].sum()) >= 4
    big = make_identities([0], seed=7, config=replace(STRAIN, size=64))
    out = render(big.take([0] * 5), au)
    eye, skin = big.eye, big.material[:, 1:4]
    visible = ((out["albedo"] - eye).abs().amax(1) < 0.02) & ((eye - skin).abs().amax(1) > 0.2)
    n = visible.flatten(1).sum(1).tolist()                               # pixels showing the eye interior
    assert n[3] > n[0] > n[4] > n[2] == 0                                # AU05 opens, AU45 closes


def test_true_change_outside_the_footprints_strain_vs_default():
    ids = range(3)
    strain_world = footprint_changes(7, STRAIN, ids, 4)
    default = footprint_changes(7, SynthConfig(size=32), ids, 4)
    for m in ("displacement", "albedo"):
        assert strain_world["overall"][m]["outside"] > 0.25, m
        assert strain_world["overall"][m]["beyond"] > 0.1, m
        assert default["overall"][m]["outside"] < 0.08, m
        assert default["overall"][m]["beyond"] == 0.0, m
    assert strain_world["mean_change"].shape == (NUM_AUS, 32, 32)


def test_strain_benchmark_folder_dataset_and_truth(tmp_path):
    from aucgan.data.codec import MapCodec
    from aucgan.data.datasets import open_dataset
    from aucgan.metrics.truth import SynthTruth
    from aucgan.training.data import TrainData

    out = write_dataset(tmp_path / "b", identities=3, expressions=3, size=32, seed=2, test_fraction=0.34,
                        config=STRAIN)
    card = json.loads((out / "dataset.json").read_text())
    assert card["world"] == "strain" and card["world_params"]["tracker_sigma"] == STRAIN.strain.tracker_sigma
    lm = json.loads((out / "landmarks" / "id0000.json").read_text())["landmarks"]
    ident = make_identities([0], 2, STRAIN)
    assert max(abs(a - b) for p, q in zip(lm, ident.landmarks[0].tolist()) for a, b in zip(p, q)) < 1e-5
    assert float((ident.landmarks - ident.anatomy).abs().max()) > 1e-3

    codec = MapCodec(maps=("displacement", "albedo"), disp_scale=0.02)
    ds = open_dataset(out, split=None, size=(32, 32), au_names=AU_NAMES, preload=True)
    data = TrainData(ds, codec, AU_NAMES, 32)
    truth = SynthTruth(out, codec, AU_NAMES, 32)
    assert truth.config.world == "strain"
    gt = truth.render(data.ids, data.au * 5.0, data.ids)
    assert torch.allclose(gt, data.x, atol=1e-6)                         # exact up to the stored quantisation

    on_the_fly = SyntheticDataset(3, 3, size=32, seed=2, config=STRAIN, test_fraction=0.34)
    item = on_the_fly[4]
    ex = identity_expressions(2, 1, 1, start=1)
    direct = render(make_identities([1], 2, STRAIN), ex["au"], ex["emotion"], ex["valence"])
    torch.testing.assert_close(item["maps"]["displacement"], direct["displacement"][0])
    assert math.isclose(float(item["landmarks"][0, 0]), float(direct["landmarks"][0, 0, 0]))


def test_strain_world_in_a_masked_layout_changes_no_displacement_outside_the_mask():
    import numpy as np

    from aucgan.data.synth.config import in_layout
    from aucgan.layout.landmarks import Layout, canonical_layout

    mask = np.zeros((64, 64), np.float32)
    mask[20:, :] = 1.0                                    # no face above row 20 (of 64)
    layout = Layout("uv", canonical_layout().landmarks, (64, 64), mask_image=mask, identity_jitter=0.25)
    cfg = replace(in_layout(layout), size=32, world="strain")
    ident = make_identities([0, 1], seed=7, config=cfg)
    au = torch.full((2, NUM_AUS), 5.0)
    change = render(ident, au)["displacement"] - render(ident, torch.zeros(2, NUM_AUS))["displacement"]
    outside = layout.mask_at((32, 32)) == 0
    assert outside[:8].all() and float(change[:, 0][:, outside].abs().max()) == 0.0
    assert float(change[:, 0][:, ~outside].abs().max()) > 1e-3


def test_sub_batches_render_the_same_maps(ids, monkeypatch):
    import aucgan.data.synth.strain as strain_module

    ex = identity_expressions(7, 1, 5)
    index = torch.tensor([0, 1, 2, 1, 0])
    whole = render(ids, ex["au"], ex["emotion"], ex["valence"], index=index)
    monkeypatch.setattr(strain_module, "CHUNK_PIXELS", 2 * 32 * 32)
    pieces = render(ids, ex["au"], ex["emotion"], ex["valence"], index=index)
    for key in whole:
        assert torch.equal(whole[key], pieces[key]), key


def test_parts_of_the_change_can_be_switched_off_for_studies(ids):
    """render_strain's parts: all by default (the benchmark's maps); each part switched off changes the AU's
    true change; with none left the displacement is the neutral face's at any AU; unknown
    parts are an error naming the valid ones."""
    from aucgan.data.synth.strain import STRAIN_PARTS, render_strain

    ex = identity_expressions(7, 1, 4)
    au = ex["au"].clone()
    au[:, AU_NAMES.index("AU04")] = 5.0
    au[:, AU_NAMES.index("AU12")] = 4.0
    index = torch.tensor([0, 1, 2, 0])
    full = render(ids, au, ex["emotion"], ex["valence"], index=index)
    same = render_strain(ids, au, ex["emotion"], ex["valence"], index, parts=STRAIN_PARTS)
    assert torch.equal(full["displacement"], same["displacement"])
    neutral = render(ids, torch.zeros_like(au), ex["emotion"], ex["valence"], index=index)["displacement"]
    change = (full["displacement"] - neutral).abs().sum()
    for part in sorted(STRAIN_PARTS):
        without = render_strain(ids, au, ex["emotion"], ex["valence"], index, parts=STRAIN_PARTS - {part})
        assert float((without["displacement"] - full["displacement"]).abs().sum()) > 0.01 * float(change), part
    nothing = render_strain(ids, au, ex["emotion"], ex["valence"], index, parts=frozenset())
    assert torch.allclose(nothing["displacement"], neutral, atol=1e-7)
    with pytest.raises(SynthError, match="valid: advection, bulges, deepening, lines"):
        render_strain(ids, au, ex["emotion"], ex["valence"], index, parts=frozenset({"pores"}))
