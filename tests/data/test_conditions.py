"""Extra conditions (age, gender, emotion, valence, landmark heatmaps) and regional options, end to end
through TrainData, build and the GAN objective."""

import pytest
import torch

from aucgan.au import EMOTIONS, au_set
from aucgan.config.loading import load_config
from aucgan.config.schema import ConfigError
from aucgan.data.conditions import (
    MissingAttributeError,
    encode_attr,
    extra_dim,
    extra_slices,
    extra_vector,
    ordered_attrs,
)
from aucgan.data.datasets import open_dataset
from aucgan.errors import AucganError
from aucgan.losses.objective import GANObjective
from aucgan.models.build import build_disc, build_generator, make_codec
from aucgan.models.patch import GlobalLocalDiscriminator
from aucgan.models.regional import RegionalGenerator
from aucgan.models.sean import RegionStyleGenerator
from aucgan.training.data import TrainData

from tests.tiny import TINY

ALL = ("landmarks", "age", "gender", "emotion", "valence")


def test_extra_layout_and_encoding():
    assert ordered_attrs(ALL) == ("age", "gender", "emotion", "valence", "landmarks")
    assert extra_dim(ALL) == 1 + 1 + len(EMOTIONS) + 1 + 136
    assert extra_slices(("emotion", "age"))["age"] == slice(len(EMOTIONS), len(EMOTIONS) + 1)
    assert encode_attr("emotion", "happiness") == encode_attr("emotion", EMOTIONS.index("happiness"))
    assert sum(encode_attr("emotion", 3.0)) == 1.0 and encode_attr("age", 50) == [0.5]
    with pytest.raises(MissingAttributeError, match="sample s1: .*'valence'"):
        extra_vector(("age", "valence"), {"age": 30}, "sample s1")
    assert extra_vector(("landmarks",), {}).shape == (136,)  # canonical layout's by default


def _data(bench, attrs, size=32):
    cfg = load_config("baseline", TINY)
    names = au_set(cfg.data.au_set)
    ds = open_dataset(bench, split="train", size=(size, size), au_names=names, preload=True)
    return TrainData(ds, make_codec(cfg.data), names, size, extra_attrs=attrs)


def test_train_data_carries_extras_and_target_expression(tiny_bench):
    data = _data(tiny_bench, ("age", "emotion", "valence"))
    assert data.extra.shape == (len(data), 1 + len(EMOTIONS) + 1)
    b = data.random_batch(6, torch.Generator().manual_seed(0), mode="prototype")
    sl = extra_slices(data.extra_attrs)
    assert torch.equal(b.extra, data.extra[b.index])
    # identity attributes follow the source, expression attributes the target (a prototype's emotion)
    assert torch.equal(b.target_extra[:, sl["age"]], b.extra[:, sl["age"]])
    assert torch.equal(b.target_extra[:, sl["emotion"]].sum(dim=1), torch.ones(6))
    assert _data(tiny_bench, ()).random_batch(2, torch.Generator()).extra is None
    # the identity pair's own attributes, for edits that start from the pair (detail consistency)
    ids = data.identity
    assert torch.equal(b.extra_pair, data.extra[[int(torch.nonzero((data.x == xp).all(dim=(1, 2, 3)))[0])
                                                 for xp in b.x_pair]])
    assert all(int(ids[i]) == int(ids[j]) for i, j in zip(b.index.tolist(), [
        int(torch.nonzero((data.x == xp).all(dim=(1, 2, 3)))[0]) for xp in b.x_pair]))


def test_mismatched_aus_beyond_a_distance_quantile(tiny_bench):
    """Matching-aware negatives (Dual-NDA): with a minimum distance, mismatched AU vectors are at least that far
    from the sample's own where any candidate is; the threshold is a seeded quantile of random pairs."""
    data = _data(tiny_bench, ())
    q = data.distance_quantile(0.5)
    assert q == data.distance_quantile(0.5) and 0 < q < data.distance_quantile(0.9)
    b = data.random_batch(64, torch.Generator().manual_seed(1), mismatch_distance=q)
    dist = (b.mismatch - b.au).abs().sum(dim=1)
    assert float((dist >= q).float().mean()) > 0.95
    plain = data.random_batch(64, torch.Generator().manual_seed(1))
    assert float(((plain.mismatch - plain.au).abs().sum(dim=1) >= q).float().mean()) < 0.8


class _NoAttrs(torch.utils.data.Dataset):
    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        item = dict(self.ds[i])
        item["attrs"] = {k: v for k, v in item["attrs"].items() if k != "age"}
        return item


def test_missing_attribute_names_it(tiny_bench):
    cfg = load_config("baseline", TINY)
    names = au_set(cfg.data.au_set)
    ds = _NoAttrs(open_dataset(tiny_bench, split="train", size=(32, 32), au_names=names))
    with pytest.raises(MissingAttributeError, match="'age'"):
        TrainData(ds, make_codec(cfg.data), names, 32, extra_attrs=("age",))


def _objective(cfg, data):
    torch.manual_seed(0)
    G, D = build_generator(cfg), build_disc(cfg)
    return GANObjective(G, D, None, cfg.loss, disp_channels=make_codec(cfg.data).slices().get("displacement"))


def _both_phases(obj, data):
    b = data.random_batch(4, torch.Generator().manual_seed(1))
    loss_d, sd = obj.discriminator_phase(b, step=0)
    loss_d.backward()
    loss_g, sg = obj.generator_phase(b)
    loss_g.backward()
    assert torch.isfinite(loss_d) and torch.isfinite(loss_g)
    return sd, sg


def test_extra_conditions_change_the_output_and_train(tiny_bench):
    cfg = load_config("improved", [*TINY, "loss.au_source=disc", f"generator.extra_attrs=[{','.join(ALL)}]"])
    data = _data(tiny_bench, cfg.generator.extra_attrs)
    obj = _objective(cfg, data)
    _both_phases(obj, data)
    assert all(p.grad is not None for p in obj.G.parameters() if p.requires_grad)
    G = obj.G.eval()
    b = data.batch(torch.arange(2), torch.Generator().manual_seed(0))
    base = G(b.x, b.target, b.fp, source_au=b.au, extra=b.extra)["out"]
    sl = extra_slices(data.extra_attrs)
    for name in ("age", "gender", "emotion", "valence", "landmarks"):
        other = b.extra.clone()
        other[:, sl[name]] = other[:, sl[name]].roll(1, dims=1) + 0.3 if name != "emotion" else \
            torch.nn.functional.one_hot(torch.tensor([2, 5]), len(EMOTIONS)).float()
        changed = G(b.x, b.target, b.fp, source_au=b.au, extra=other)["out"]
        assert (changed - base).abs().max() > 1e-5, name
    with pytest.raises(Exception, match="extra"):
        G(b.x, b.target, b.fp, source_au=b.au)


@pytest.mark.parametrize("variant", ["cascade", "sean"])
def test_regional_options_build_and_train_through_the_objective(variant, tiny_bench):
    sets = {"cascade": ["generator.variant=regional", "generator.regional.channels=8",
                        "generator.regional.cascade_steps=2", "discriminator.patch_regions=[eyes,mouth]",
                        "discriminator.patch_size=16", "loss.au_source=disc"],
            "sean": ["generator.variant=sean", "generator.sean.style_dim=8", "loss.au_source=disc",
                     "loss.w_detail=1"]}[variant]
    cfg = load_config("improved-v1", [*TINY, *sets])
    data = _data(tiny_bench, ())
    obj = _objective(cfg, data)
    sd, sg = _both_phases(obj, data)
    if variant == "cascade":
        assert isinstance(obj.G, RegionalGenerator) and isinstance(obj.D, GlobalLocalDiscriminator)
        assert "D/patch_eyes" in sd and "G/patch_mouth" in sg and "G/patch_mouth_au" in sg
        assert obj.D.patches.discs["eyes"].trunk[0].weight.grad.abs().sum() > 0
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in obj.G.local["mouth"].parameters())
    else:
        assert isinstance(obj.G, RegionStyleGenerator)
        assert obj.G.encoder[0].weight.grad.abs().sum() > 0


def test_config_errors_for_regional_options():
    with pytest.raises(ConfigError, match="sean settings .* generator.variant is 'regional'"):
        load_config("improved", [*TINY, "generator.variant=regional", "generator.sean.style_dim=8"])
    with pytest.raises(ConfigError, match="regional settings .* generator.variant is 'map'"):
        load_config("improved", [*TINY, "generator.regional.cascade_steps=3"])
    with pytest.raises(ConfigError, match="'height' is not valid; valid values: age"):
        load_config("improved", [*TINY, "generator.extra_attrs=[height]"])
    with pytest.raises(ConfigError, match="distinct"):
        build_generator(load_config("improved", [*TINY, "generator.extra_attrs=[age,age]"]))


def test_parse_attrs():
    from aucgan.data.conditions import parse_attrs

    assert parse_attrs("emotion=happiness, valence=0.8;age=40") == {"emotion": 1.0, "valence": 0.8, "age": 40.0}
    assert parse_attrs("emotion=3") == {"emotion": 3.0}
    with pytest.raises(AucganError, match="--attr 'mood=1': expected NAME=VALUE with NAME one of age"):
        parse_attrs("mood=1")
    with pytest.raises(AucganError, match="emotion must be a number or an emotion name"):
        parse_attrs("emotion=bored")
    with pytest.raises(AucganError, match="expected NAME=VALUE"):
        parse_attrs("age=")
