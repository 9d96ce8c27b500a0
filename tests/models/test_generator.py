import doctest

import pytest
import torch

import aucgan.models.generator as generator_module
from aucgan.models.generator import Encoded, MapGenerator, count_parameters
from aucgan.nn.conditioning import CONDITIONING, CondLevel, injection_of
from aucgan.nn.layers import NetworkConfigError, ShapeError
from aucgan.nn.registry import UnknownNameError

from tests.nn.blobs import blob_footprints

K, B, S, C = 5, 2, 32, 4
TINY = dict(num_aus=K, base_channels=8, max_channels=32, num_down=3, latent_dim=16, image_size=S, embed_dim=8,
            cond_hidden=8)
SINGLE = [[n] for n in CONDITIONING.names()]
COMBOS = [["adain", "spade_au"], ["concat_latent", "spade_au"], ["concat_input", "film"], ["cbn", "adain"],
          ["concat_latent", "concat_input", "adain"]]
ARCHS = ["skip", "bottleneck"]


def make(conditioning, architecture="skip", **kw) -> MapGenerator:
    torch.manual_seed(0)
    return MapGenerator(C, C, conditioning=conditioning, architecture=architecture, **{**TINY, **kw})


def batch(seed: int = 0, extra: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(B, C, S, S, generator=gen) * 2 - 1
    au = torch.rand(B, K, generator=gen)
    ex = torch.rand(B, extra, generator=gen) if extra else None
    return x, au, blob_footprints(B, K, S, seed=seed, sigma=2.0), ex


def conditioning_modules(G: MapGenerator) -> list[torch.nn.Module]:
    mods = [*G.input_layers, *G.latent_layers]
    mods += [layer for norm in G.level_norms if isinstance(norm, CondLevel) for layer in norm.layers]
    return mods


@pytest.mark.parametrize("architecture", ARCHS)
@pytest.mark.parametrize("conditioning", SINGLE + COMBOS, ids=lambda c: "+".join(c))
def test_shapes_au_dependence_and_gradients(conditioning, architecture):
    G = make(conditioning, architecture)
    x, au, fp, _ = batch()
    out = G(x, au, fp)
    assert set(out) == {"out"} and out["out"].shape == (B, C, S, S)
    assert out["out"].abs().max() < 1.0
    other = G(x, torch.rand(B, K, generator=torch.Generator().manual_seed(7)), fp)["out"]
    assert (out["out"] - other).abs().max() > 1e-5
    (out["out"] * torch.randn_like(out["out"])).sum().backward()
    mods = conditioning_modules(G)
    assert {type(m) for m in mods} == {CONDITIONING.get(n) for n in conditioning}
    for m in mods:
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, (type(m).__name__, name)


@pytest.mark.parametrize("architecture", ARCHS)
@pytest.mark.parametrize("conditioning", SINGLE + COMBOS[:2], ids=lambda c: "+".join(c))
@pytest.mark.parametrize("head", ["direct", "attention"])
def test_encode_decode_equals_forward(conditioning, architecture, head):
    G = make(conditioning, architecture, head=head).eval()
    x, au, fp, _ = batch(1)
    enc = G.encode(x)
    assert isinstance(enc, Encoded) and enc.source is x
    if any(injection_of(n) == "input" for n in conditioning):
        assert enc.code is None and enc.skips == ()
    elif architecture == "bottleneck":
        assert enc.code.shape == (B, 16) and enc.skips == ()
    else:
        assert enc.code.shape == (B, 32, S // 8, S // 8) and [s.shape[-1] for s in enc.skips] == [8, 16, 32]
    a, b = G.decode(enc, au, fp), G(x, au, fp)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key


def test_swapped_code_carries_the_other_sample():
    G = make(["concat_latent"], "bottleneck").eval()
    x, au, fp, _ = batch(2)
    x2 = batch(3)[0]
    swapped = G.decode(G.encode(x2), au, fp)["out"]
    assert torch.allclose(swapped, G(x2, au, fp)["out"], atol=1e-6)
    assert not torch.allclose(swapped, G(x, au, fp)["out"], atol=1e-4)


def test_attention_head_outputs_and_source_where_attention_is_one():
    G = make(["adain"], head="attention")
    x, au, fp, _ = batch()
    out = G(x, au, fp)
    assert out["attention"].shape == (B, 1, S, S) and out["color"].shape == (B, C, S, S)
    assert out["attention"].min() >= 0 and out["attention"].max() <= 1
    a = out["attention"]
    assert torch.allclose(out["out"], a * x + (1 - a) * out["color"], atol=1e-6)
    with torch.no_grad():
        G.head.weight[C:].zero_()
        G.head.bias[C:].fill_(40.0)                               # sigmoid(40) == 1 in float32
    out = G(x, au, fp)
    assert torch.equal(out["attention"], torch.ones_like(out["attention"]))
    assert torch.equal(out["out"], x)
    src = batch(4)[0]
    assert torch.equal(G.decode(G.encode(x), au, fp, source=src)["out"], src)


def test_attention_head_uses_first_out_channels_of_a_wider_source():
    torch.manual_seed(0)
    G = MapGenerator(C + 2, C, conditioning="adain", head="attention", **TINY)
    x = torch.rand(B, C + 2, S, S)
    with torch.no_grad():
        G.head.weight[C:].zero_()
        G.head.bias[C:].fill_(40.0)
    assert torch.equal(G(x, batch()[1])["out"], x[:, :C])
    with pytest.raises(NetworkConfigError, match="in_channels"):
        MapGenerator(C - 1, C, head="attention", **TINY)


def test_cond_levels_select_decoder_levels():
    G = make(["adain", "spade_au"], cond_levels=[0, 2])
    kinds = [isinstance(n, CondLevel) for n in G.level_norms]
    assert kinds == [True, False, True, False] and G.cond_levels == (0, 2)
    x, au, fp, _ = batch()
    assert (G(x, au, fp)["out"] - G(x, au.flip(0), fp)["out"]).abs().max() > 1e-5
    fine = make(["adain"], cond_levels=[3])
    assert [isinstance(n, CondLevel) for n in fine.level_norms] == [False, False, False, True]


@pytest.mark.parametrize("levels", [[4], [-1], [], [1, 1]])
def test_invalid_cond_levels(levels):
    with pytest.raises(NetworkConfigError, match=r"0\.\.3"):
        make(["adain"], cond_levels=levels)


def test_cond_levels_without_levelwise_layer_is_an_error():
    with pytest.raises(NetworkConfigError, match="no norm/spatial"):
        make(["concat_latent"], "bottleneck", cond_levels=[0])


def test_combined_level_normalises_once_then_modulates_in_order():
    G = make(["adain", "spade_au"])
    level = G.level_norms[1]
    adain, spade = level.layers
    h = torch.randn(B, adain.num_features, 8, 8) * 3 + 1
    _, au, fp, _ = batch()
    expected = spade.modulate(adain.modulate(adain.norm(h), au), au, fp)
    assert torch.allclose(level(h, au, fp), expected, atol=1e-6)
    assert make(["film", "cbn"]).level_norms[0].norm_index == 1
    assert make(["film"]).level_norms[0].norm_index is None


def test_extra_attributes_enter_the_condition():
    G = make(["adain", "spade_au"], extra_dim=3)
    x, au, fp, extra = batch(extra=3)
    assert G.cond_dim == K + 3
    assert (G(x, au, fp, extra)["out"] - G(x, au, fp, extra + 1)["out"]).abs().max() > 1e-5
    with pytest.raises(ShapeError, match="extra_dim=3"):
        G(x, au, fp)
    with pytest.raises(ShapeError, match="extra"):
        make(["adain"])(x, au, fp, extra)


def test_input_errors():
    x, au, fp, _ = batch()
    with pytest.raises(ShapeError, match="footprints"):
        make(["spade_au"])(x, au)
    with pytest.raises(ShapeError, match="au"):
        make(["adain"])(x, au[:, :-1], fp)
    with pytest.raises(ShapeError, match="built for 32x32"):
        make(["concat_latent"], "bottleneck")(x[..., :16, :16], au)
    with pytest.raises(ShapeError, match="multiple of"):
        make(["adain"])(x[..., :20, :20], au)
    assert make(["adain"])(x[..., :16, :24], au)["out"].shape == (B, C, 16, 24)   # skip: any multiple of 8


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(UnknownNameError, match="valid conditioning names: concat_latent, concat_input, a"):
        make(["stylegan"])
    with pytest.raises(NetworkConfigError, match="skip, bottleneck"):
        make(["adain"], "unet")
    with pytest.raises(NetworkConfigError, match="direct, attention"):
        make(["adain"], head="mask")
    with pytest.raises(NetworkConfigError, match="distinct"):
        make(["adain", "adain"])
    with pytest.raises(NetworkConfigError, match="multiple of"):
        make(["adain"], image_size=36)


def test_cbn_generator_runs_in_eval_with_batch_of_one():
    G = make(["cbn"])
    x, au, fp, _ = batch()
    G(x, au, fp)
    G.eval()
    assert G(x[:1], au[:1], fp[:1])["out"].shape == (1, C, S, S)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # from torch.func
@pytest.mark.parametrize("conditioning", SINGLE + COMBOS[:1], ids=lambda c: "+".join(c))
def test_forward_mode_jacobian_matches_finite_differences(conditioning):
    G = make(conditioning).double().eval()
    x, au, fp, _ = batch()
    x, au, fp = x.double(), au.double(), fp.double()
    tangent = torch.zeros_like(au)
    tangent[:, 1] = 1.0
    _, jvp = torch.func.jvp(lambda a: G(x, a, fp)["out"], (au,), (tangent,))
    eps = 1e-5
    fd = (G(x, au + eps * tangent, fp)["out"] - G(x, au - eps * tangent, fp)["out"]) / (2 * eps)
    assert torch.allclose(jvp, fd, atol=1e-6) and jvp.abs().max() > 0


def test_documented_parameter_counts():
    result = doctest.testmod(generator_module, verbose=False)
    assert result.attempted > 0 and result.failed == 0
    G = make(["adain"])
    assert count_parameters(G) == sum(p.numel() for p in G.parameters())
    G.head.requires_grad_(False)
    assert count_parameters(G, trainable_only=True) == count_parameters(G) - count_parameters(G.head)


def test_au_residual_head_changes_nothing_without_a_delta_and_only_inside_the_moved_au():
    G = make(["adain", "spade_au"], head="au_residual", au_mode="relative")
    x, au, fp, _ = batch(3)
    fp = (fp > 0.5).float()                    # hard footprints: change must be exactly zero outside
    assert torch.equal(G(x, au, fp, source_au=au)["out"], x)
    target = au.clone()
    target[:, 2] = 1.0 - target[:, 2]
    with torch.no_grad():
        out = G(x, target, fp, source_au=au)
    change = (out["out"] - x).abs().sum(dim=1)
    assert float(change.sum()) > 0
    assert float((change * (1 - fp[:, 2])).abs().max()) == 0.0
    assert torch.allclose(out["change"], out["out"] - x)


def test_unmasked_residual_head_acts_outside_the_footprints_and_needs_none():
    """residual_mask="none": no footprints needed (adain only), G(x, source AUs) = x still, a single-AU edit
    changes pixels outside that AU's footprint, and the head equals the footprint head under footprints of ones."""
    G = make(["adain"], head="au_residual", au_mode="relative", residual_mask="none")
    assert not G.uses_footprints and G.head.out_channels == C * K
    x, au, fp, _ = batch(3)
    fp = (fp > 0.5).float()
    assert torch.equal(G(x, au, source_au=au)["out"], x)
    target = au.clone()
    target[:, 2] = 1.0 - target[:, 2]
    with torch.no_grad():
        out = G(x, target, source_au=au)
        masked = make(["adain"], head="au_residual", au_mode="relative")
        ones = masked(x, target, torch.ones_like(fp), source_au=au)
    assert out["out"].shape == x.shape and torch.allclose(out["change"], out["out"] - x, atol=1e-6)
    outside = ((out["out"] - x).abs().sum(dim=1) * (1 - fp[:, 2]))
    assert float(outside.sum()) > 0
    assert torch.equal(out["out"], ones["out"])


def test_unmasked_attribute_residuals_act_over_the_whole_map():
    G = make(["adain"], head="au_residual", au_mode="relative", extra_dim=3, residual_extra=[0],
             residual_extra_channels=[1, 2, 3], residual_mask="none")
    x, au, fp, extra = batch(7, extra=3)
    union = (fp > 0.5).float().amax(dim=1, keepdim=True)
    src = extra.clone()
    src[:, 0] -= 0.5
    with torch.no_grad():
        for p in G.attr_head.parameters():
            p.normal_(0, 0.1)
        change = (G(x, au, None, extra, source_au=au, source_extra=src)["out"] - x).abs()
    assert float(change[:, :1].abs().max()) == 0.0
    assert float((change.sum(dim=1, keepdim=True) * (1 - union)).sum()) > 0


def test_default_residual_mask_is_the_footprint():
    x, au, fp, _ = batch(8)
    target = 1 - au
    default = make(["adain", "spade_au"], head="au_residual", au_mode="relative")
    explicit = make(["adain", "spade_au"], head="au_residual", au_mode="relative", residual_mask="footprint")
    assert default.residual_mask == "footprint" and default.uses_footprints
    with torch.no_grad():
        assert torch.equal(default(x, target, fp, source_au=au)["out"], explicit(x, target, fp, source_au=au)["out"])
    with pytest.raises(ShapeError, match="footprints"):
        make(["adain"], head="au_residual")(x, target, source_au=au)


def test_grown_residual_mask_acts_just_past_the_footprint_and_nowhere_else():
    """residual_mask="grown": a single-AU edit changes pixels outside the AU's footprint but only within it grown
    by 1/16 of the map; no change without an AU change."""
    G = make(["adain", "spade_au"], head="au_residual", au_mode="relative", residual_mask="grown")
    assert G.uses_footprints
    x, au, fp, _ = batch(5)
    fp = (fp > 0.5).float()
    assert torch.equal(G(x, au, fp, source_au=au)["out"], x)
    target = au.clone()
    target[:, 2] = 1.0 - target[:, 2]
    with torch.no_grad():
        change = (G(x, target, fp, source_au=au)["out"] - x).abs().sum(dim=1)
    grown = generator_module.grow_mask(fp)[:, 2]
    assert float((change * (1 - fp[:, 2])).sum()) > 0
    assert float((change * (1 - grown)).max()) == 0.0


def test_residual_mask_is_checked():
    with pytest.raises(NetworkConfigError, match="footprint, grown, none"):
        make("adain", head="au_residual", residual_mask="learned")
    with pytest.raises(NetworkConfigError, match="au_residual head"):
        make("adain", residual_mask="none")


def test_resample_moves_content_by_the_flow_and_is_exact_at_zero():
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(generator_module.resample(x, torch.zeros(2, 2, 8, 8)), x, atol=1e-6)
    one_right = torch.zeros(2, 2, 8, 8)
    one_right[:, 0] = 1.0 / 8                              # read one pixel to the right
    out = generator_module.resample(x, one_right)
    assert torch.allclose(out[..., :-1], x[..., 1:], atol=1e-6)
    assert torch.allclose(out[..., -1], x[..., -1], atol=1e-6)     # edges repeated


@pytest.mark.parametrize("flow_grow", [True, False])
def test_residual_flow_moves_the_source_only_where_the_moved_au_acts_and_nothing_without_a_delta(flow_grow):
    """residual_flow: zero at the start and without an AU change (exact), the source moved along the flow of the
    AUs that change, inside their footprints grown by 1/16 of the map (``flow_grow=False``: inside the footprints
    themselves), and gradients reach the flow head."""
    G = make(["adain", "spade_au"], head="au_residual", au_mode="relative", residual_flow=True, flow_grow=flow_grow)
    x, au, fp, _ = batch(4)
    fp = (fp > 0.5).float()
    target = au.clone()
    target[:, 2] = 1.0 - target[:, 2]
    with torch.no_grad():
        plain = make(["adain", "spade_au"], head="au_residual", au_mode="relative")
        assert torch.equal(G(x, target, fp, source_au=au)["out"], plain(x, target, fp, source_au=au)["out"])
        G.head.weight.zero_()
        G.head.bias.zero_()                                 # no residuals: the flow alone
        G.flow_head.bias.zero_()
        G.flow_head.bias[2 * 2] = (1.0 / S) / generator_module.FLOW_SCALE   # AU 2 moves one pixel along x per unit
        assert torch.equal(G(x, au, fp, source_au=au)["out"], x)
        one = au.clone()
        one[:, 2] = au[:, 2] + 1.0                         # a change of 1: exactly one pixel
        out = G(x, one, fp, source_au=au)
    grow = S // generator_module.MASK_GROW if flow_grow else 0
    region = torch.nn.functional.max_pool2d(fp[:, 2:3], 2 * grow + 1, stride=1, padding=grow)
    assert float(((out["out"] - x).abs().sum(1, keepdim=True) * (1 - region)).max()) == 0.0
    inner = (-torch.nn.functional.max_pool2d(-region, 3, stride=1, padding=1))[:, :, :, :-1]   # flow 1 px here
    shifted = x[..., 1:]
    assert float((inner * (out["out"][..., :-1] - shifted).abs()).max()) < 1e-5
    assert float(inner.sum()) > 0
    assert torch.allclose(out["change"], out["out"] - x) and out["flow"].shape == (B, 2, S, S)
    G2 = make(["adain", "spade_au"], head="au_residual", au_mode="relative", residual_flow=True)
    with torch.no_grad():
        G2.head.weight.normal_(0, 0.1)
    G2(x, target, fp, source_au=au)["out"].square().sum().backward()
    assert float(G2.flow_head.weight.grad.abs().sum()) > 0


def test_residual_flow_needs_the_au_residual_head():
    with pytest.raises(NetworkConfigError, match="residual_flow"):
        make("adain", residual_flow=True)
    with pytest.raises(NetworkConfigError, match="flow_grow=False keeps the flow inside the footprints"):
        make("adain", head="au_residual", flow_grow=False)
    with pytest.raises(NetworkConfigError, match="flow_grow=False keeps the flow inside the footprints"):
        make("adain", head="au_residual", residual_flow=True, residual_mask="grown", flow_grow=False)


def test_relative_mode_conditions_on_the_delta_and_needs_the_source():
    G = make("adain", au_mode="relative")
    x, au, _, _ = batch(4)
    a = G(x, au, source_au=au)["out"]
    b = G(x, au + 0.3, source_au=au + 0.3)["out"]
    assert torch.allclose(a, b, atol=1e-6)                       # same delta, same output
    assert not torch.allclose(a, G(x, au + 0.3, source_au=au)["out"])
    negative = G(x, torch.zeros_like(au), source_au=au)["out"]   # negative deltas are allowed
    assert torch.isfinite(negative).all()
    with pytest.raises(ShapeError, match="source_au"):
        G(x, au)


def test_absolute_mode_ignores_source_au():
    G = make("adain")
    x, au, _, _ = batch(5)
    assert torch.equal(G(x, au)["out"], G(x, au, source_au=torch.rand_like(au))["out"])


def test_au_residual_gradients_reach_the_network():
    G = make(["spade_au"], head="au_residual")
    x, au, fp, _ = batch(6)
    G(x, 1 - au, fp, source_au=au)["out"].square().mean().backward()
    assert G.head.weight.grad is not None and float(G.head.weight.grad.abs().sum()) > 0


def test_unknown_au_mode():
    with pytest.raises(NetworkConfigError, match="absolute, relative"):
        make("adain", au_mode="delta")


def test_attribute_residuals_follow_the_attribute_change_on_their_channels_inside_the_footprints():
    """residual_extra: an attribute change (emotion one-hot, valence) edits the maps by its own residual maps, on
    residual_extra_channels only (colour, not geometry), inside the union of the footprints; they start at zero;
    with the attributes kept (or the source's not given) nothing changes."""
    G = make(["adain", "spade_au"], head="au_residual", au_mode="relative", extra_dim=3, residual_extra=[0, 2],
             residual_extra_channels=[1, 2, 3])
    x, au, fp, extra = batch(7, extra=3)
    fp = (fp > 0.5).float()
    union = fp.amax(dim=1, keepdim=True)
    src = extra.clone()
    src[:, 0] -= 0.5                                    # a residual attribute changed
    with torch.no_grad():
        assert torch.equal(G(x, au, fp, extra, source_au=au, source_extra=src)["out"], x)   # zero at the start
        for p in G.attr_head.parameters():
            p.normal_(0, 0.1)
        assert torch.equal(G(x, au, fp, extra, source_au=au)["out"], x)                    # no source attributes
        assert torch.equal(G(x, au, fp, extra, source_au=au, source_extra=extra)["out"], x)  # attributes kept
        other = extra.clone()
        other[:, 1] += 0.5                                  # not a residual attribute: no change on its own
        assert torch.equal(G(x, au, fp, extra, source_au=au, source_extra=other)["out"], x)
        out = G(x, au, fp, extra, source_au=au, source_extra=src)["out"]
    change = (out - x).abs()
    assert float(change[:, 1:].sum()) > 0 and float(change[:, :1].abs().max()) == 0.0       # colour channels only
    assert float((change.sum(dim=1, keepdim=True) * (1 - union)).abs().max()) == 0.0
    assert G.head.out_channels == C * K and G.attr_head.out_channels == 3 * 2


def test_residual_extra_is_checked():
    with pytest.raises(NetworkConfigError, match="au_residual"):
        make("adain", extra_dim=2, residual_extra=[0])
    with pytest.raises(NetworkConfigError, match="distinct indices"):
        make("adain", head="au_residual", extra_dim=2, residual_extra=[0, 2])
    with pytest.raises(NetworkConfigError, match="distinct output channels"):
        make("adain", head="au_residual", extra_dim=2, residual_extra=[0], residual_extra_channels=[4])
