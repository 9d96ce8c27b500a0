"""The Editor: edits, batches, encode once / decode many, sweeps, extra conditions, relative-mode source AUs,
footprints, batched network calls; each against the direct generator call it replaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aucgan.au import AU_NAMES, au_indices
from aucgan.data.codec import MapCodec
from aucgan.data.conditions import MissingAttributeError, extra_dim, extra_vector
from aucgan.errors import AucganError
from aucgan.inference import Editor
from aucgan.layout.atlas import au_footprints
from aucgan.layout.landmarks import canonical_layout
from aucgan.models.generator import MapGenerator
from aucgan.models.regional import RegionalGenerator

S, K = 16, len(AU_NAMES)
CODEC = MapCodec(("displacement", "albedo"), disp_scale=0.02)
SMALL = dict(num_aus=K, base_channels=8, max_channels=16, num_down=2, image_size=S, cond_hidden=8)
ATTRS = ("emotion", "age")


def _generator(extra: tuple[str, ...] = (), **kw) -> MapGenerator:
    torch.manual_seed(0)
    return MapGenerator(4, 4, extra_dim=extra_dim(extra), **{**SMALL, **kw}).eval()


def _improved(extra: tuple[str, ...] = ()) -> MapGenerator:
    """``improved``'s design: adain + spade_au, relative AUs, per-AU residual head."""
    return _generator(extra, conditioning=["adain", "spade_au"], head="au_residual", au_mode="relative")


def _maps(seed: int = 0, size: int = S) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"displacement": 0.004 * torch.randn(1, size, size, generator=g),
            "albedo": torch.rand(3, size, size, generator=g)}


def _landmarks(seed: int = 0) -> np.ndarray:
    g = np.random.default_rng(seed)
    return (canonical_layout().landmarks + 0.01 * g.standard_normal((68, 2))).astype(np.float32)


def _au(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 5, K).astype(np.float32).round(2)


def _direct(G, maps, target, landmarks, source_au, extra=None) -> dict[str, torch.Tensor]:
    """The call sites' old way: marshal everything by hand and call G."""
    x = CODEC.encode({k: v[None] for k, v in maps.items()})
    lm = torch.as_tensor(landmarks, dtype=torch.float32).reshape(1, 68, 2)
    fp = au_footprints(lm, (S, S), AU_NAMES)
    t = torch.as_tensor(np.asarray(target, np.float32))[None] / 5.0
    src = torch.as_tensor(np.asarray(source_au, np.float32))[None] / 5.0
    with torch.inference_mode():
        out = G(x, t, fp, source_au=src, **({} if extra is None else {"extra": extra[None]}))
    return CODEC.decode(out["out"])


def test_edit_equals_the_direct_generator_call():
    editor = Editor(_improved(ATTRS), CODEC, AU_NAMES, S, ATTRS)
    maps, lm, src, target = _maps(), _landmarks(), _au(1), _au(2)
    attrs = {"emotion": "happiness", "age": 40}
    out = editor.edit(maps, target, lm, src, attrs=attrs)
    ref = _direct(editor.G, maps, target, lm, src, extra_vector(ATTRS, {**attrs, "landmarks": lm}))
    assert set(out) == {"displacement", "albedo"} and out["albedo"].shape == (3, S, S)
    for k in ref:
        assert torch.equal(out[k], ref[k][0]), k
    resized = editor.edit(_maps(size=2 * S), target, lm, src, attrs=attrs)      # maps of another size are resized
    assert resized["albedo"].shape == (3, S, S)


def test_edit_batch_shares_one_source_and_matches_single_edits():
    editor = Editor(_improved(), CODEC, AU_NAMES, S)
    maps, src = _maps(), _au(1)
    targets = np.stack([_au(2), _au(3), src])
    outs = editor.edit_batch(editor.prepare(maps), targets, source_au=src[None])
    assert len(outs) == 3
    for t, o in zip(targets, outs):
        single = editor.edit(maps, t, source_au=src)
        assert all(torch.allclose(o[k], single[k], atol=1e-6) for k in single)
    # the source's own AUs reproduce it (au_residual head: G(x, a_x, a_x) = x)
    assert torch.allclose(outs[2]["albedo"], maps["albedo"], atol=1e-6)
    with pytest.raises(AucganError, match="2 map sets for 3 AU targets"):
        editor.edit_batch(editor.prepare(maps).expand(2, -1, -1, -1), targets)


@pytest.mark.parametrize("design", ["improved", "direct-extra", "cascade"])
def test_encode_once_decode_many_equals_edit(design):
    if design == "cascade":
        torch.manual_seed(0)
        G = RegionalGenerator(_improved(), AU_NAMES, local_channels=8, local_num_down=2, cascade_steps=2).eval()
        editor, attrs = Editor(G, CODEC, AU_NAMES, S), None
    elif design == "direct-extra":
        editor, attrs = Editor(_generator(ATTRS, conditioning="adain"), CODEC, AU_NAMES, S, ATTRS), {"age": 30}
    else:
        editor, attrs = Editor(_improved(), CODEC, AU_NAMES, S), None
    maps, lm, src = _maps(), _landmarks(), _au(1)
    enc = editor.encode(maps, lm)
    assert enc.x.shape == (1, 4, S, S) and enc.footprints.shape == (1, K, S, S)
    for i, target in enumerate([_au(2), _au(3), src]):
        emotion = {"emotion": ["anger", "fear", "neutral"][i]} if attrs else {}
        full = {**(attrs or {}), **emotion} or None
        decoded = editor.to_maps(editor.decode(enc, target, src, full))[0]
        edited = editor.edit(maps, target, lm, src, attrs=full)
        for k in edited:
            assert torch.equal(decoded[k], edited[k]), (design, i, k)
    with pytest.raises(AucganError, match="encode takes one source"):
        editor.encode(editor.prepare(maps).expand(2, -1, -1, -1))


def test_sweep_moves_one_au_through_the_levels():
    editor = Editor(_improved(), CODEC, AU_NAMES, S)
    maps, src = _maps(), _au(1)
    k = au_indices(["AU12"])[0]
    strip = editor.sweep(maps, src, "AU12", values=(0, 2.5, 5), landmarks=_landmarks())
    targets = np.repeat(src[None], 3, axis=0)
    targets[:, k] = [0, 2.5, 5]
    ref = editor.edit_batch(editor.prepare(maps), targets, _landmarks(), src[None])
    assert len(strip) == 3 and all(torch.equal(a[m], b[m]) for a, b in zip(strip, ref) for m in a)
    assert not torch.equal(strip[0]["displacement"], strip[2]["displacement"])
    with pytest.raises(AucganError, match="AU24 is not in this AU set"):
        editor.sweep(maps, src, "AU24")


def test_extra_conditions_are_named_and_checked():
    G = _generator(ATTRS, conditioning="adain")
    editor = Editor(G, CODEC, AU_NAMES, S, ATTRS)
    maps, t = _maps(), _au(2)
    a = editor.edit(maps, t, attrs={"emotion": "happiness", "age": 20})
    b = editor.edit(maps, t, attrs={"emotion": "anger", "age": 70})
    assert not torch.equal(a["albedo"], b["albedo"])
    with pytest.raises(MissingAttributeError, match=r"conditions on 'age' but the edit does not give it"):
        editor.edit(maps, t, attrs={"emotion": "anger"})
    with pytest.raises(MissingAttributeError, match="'emotion', 'age'.*give them"):
        editor.edit(maps, t)
    with pytest.raises(AucganError, match="unknown emotion 'bored'"):
        editor.edit(maps, t, attrs={"emotion": "bored", "age": 20})
    with pytest.raises(AucganError, match="takes 8 extra condition values but the editor was made without"):
        Editor(G, CODEC, AU_NAMES, S).edit(maps, t)
    with pytest.raises(AucganError, match=r"extra attributes \['age'\] make 1 values, the generator takes 8"):
        Editor(G, CODEC, AU_NAMES, S, ("age",))
    with pytest.raises(AucganError, match="3 AU names for a generator with 17 AUs"):
        Editor(G, CODEC, AU_NAMES[:3], S, ATTRS)


def test_relative_models_take_the_source_aus():
    editor = Editor(_improved(), CODEC, AU_NAMES, S)
    maps, src = _maps(), _au(1)
    same = editor.edit(maps, src, source_au=src)
    neutral = editor.edit(maps, src)                              # no source AUs: the source counts as neutral
    roundtrip = CODEC.decode(CODEC.encode({k: v[None] for k, v in maps.items()}))
    assert all(torch.allclose(same[k], roundtrip[k][0], atol=1e-6) for k in same)
    assert not torch.allclose(neutral["displacement"], same["displacement"], atol=1e-6)
    ref = _direct(editor.G, maps, src, canonical_layout().landmarks, np.zeros(K, np.float32))
    assert torch.equal(neutral["displacement"], ref["displacement"][0])


def test_footprints_are_cached_per_landmark_set():
    editor = Editor(_improved(), CODEC, AU_NAMES, S)
    canon = editor.footprints(None)
    assert canon.shape == (1, K, S, S) and torch.equal(canon, editor.footprints(canonical_layout().landmarks))
    assert len(editor._fp_cache) == 1
    lm = _landmarks(3)
    moved = editor.footprints(lm)
    assert len(editor._fp_cache) == 2 and editor.footprints(torch.as_tensor(lm)) is editor._fp_cache[
        torch.as_tensor(lm).numpy().tobytes()]
    assert torch.equal(moved, au_footprints(torch.as_tensor(lm)[None], (S, S), AU_NAMES))
    assert not torch.equal(moved, canon)


def test_generate_batches_shares_rows_and_keeps_the_training_mode():
    G = _improved()
    editor = Editor(G, CODEC, AU_NAMES, S)
    g = torch.Generator().manual_seed(4)
    x = torch.rand(5, 4, S, S, generator=g) * 2 - 1
    au, src = torch.rand(5, K, generator=g), torch.rand(5, K, generator=g)
    fp = editor.footprints(None)
    with torch.no_grad():
        ref = G(x, au, fp.expand(5, -1, -1, -1), source_au=src)["out"]
    assert torch.equal(editor.generate(x, au, fp.expand(5, -1, -1, -1), src)["out"], ref)
    batched = editor.generate(x, au, fp, src, batch_size=2)["out"]            # footprints shared (1 row)
    assert batched.shape == ref.shape and torch.allclose(batched, ref, atol=1e-6)
    shared = editor.generate(x[:1], au, fp, src[:1])["out"]
    with torch.no_grad():
        ref1 = G(x[:1].expand(5, -1, -1, -1), au, fp.expand(5, -1, -1, -1), source_au=src[:1].expand(5, -1))["out"]
    assert torch.equal(shared, ref1)
    G.train()
    out = editor.generate(x, au, fp, src, keys=("out", "change", "nothing"))
    assert G.training and set(out) == {"out", "change"}
    G.eval()


def test_from_run_reads_the_run(tmp_path):
    from tests.ui.conftest import TINY_G, write_untrained_run

    run = write_untrained_run(tmp_path / "run", [*TINY_G, "generator.extra_attrs=[age]"])
    editor = Editor.from_run(run)
    assert editor.size == 32 and editor.au_names == tuple(AU_NAMES) and editor.step == 0
    assert editor.extra_attrs == ("age",) and editor.config.name == "improved-v1"
    assert editor.codec.maps == tuple(editor.config.data.maps) and not editor.G.training
    out = editor.edit(_maps(size=32), _au(2), attrs={"age": 50})
    assert out["albedo"].shape == (3, 32, 32)
    with pytest.raises(AucganError, match="no config.json"):
        Editor.from_run(tmp_path)


def test_source_attributes_drive_attribute_residuals():
    """A model that edits attributes relatively (``generator.expression_residuals``): the same AUs with the source's
    emotion given as another one change the maps, through decode too; without source attributes nothing does."""
    from aucgan.models.build import residual_indices

    attrs = ("emotion", "valence")
    G = _generator(attrs, conditioning=["adain", "spade_au"], head="au_residual", au_mode="relative",
                   residual_extra=residual_indices(attrs))
    with torch.no_grad():                                  # the attribute head starts at zero; as if trained
        for p in G.attr_head.parameters():
            p.normal_(0, 0.1)
    editor = Editor(G, CODEC, AU_NAMES, S, attrs)
    maps, au = _maps(3), _au(3)
    happy = {"emotion": "happiness", "valence": 0.8}
    kept = editor.edit(maps, au, source_au=au, attrs=happy)
    roundtrip = CODEC.decode(CODEC.encode({k: v[None] for k, v in maps.items()}))
    assert all(torch.allclose(kept[k], roundtrip[k][0], atol=1e-6) for k in kept)
    flushed = editor.edit(maps, au, source_au=au, attrs=happy, source_attrs={"emotion": "neutral", "valence": 0.0})
    assert not torch.allclose(flushed["albedo"], kept["albedo"], atol=1e-6)
    enc = editor.encode(maps)
    decoded = editor.to_maps(editor.decode(enc, au, au, happy, source_attrs={"emotion": "neutral", "valence": 0.0}))
    assert torch.allclose(decoded[0]["albedo"], flushed["albedo"], atol=1e-6)
    with pytest.raises(AucganError, match=r"unknown emotion 'bored'"):
        editor.edit(maps, au, source_au=au, attrs=happy, source_attrs={"emotion": "bored"})
