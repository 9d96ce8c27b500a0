import pytest
import torch
from torch import nn

from aucgan.nn.conditioning import CONDITIONING, INJECTIONS, ModulationLayer, injection_of
from aucgan.nn.layers import NetworkConfigError, ShapeError
from aucgan.nn.registry import UnknownNameError

from tests.nn.blobs import blob_footprints

K, E, F, B, S = 5, 2, 8, 3, 16
LEVELWISE = [n for n in CONDITIONING.names() if injection_of(n) in ("norm", "spatial")]


def build(name: str, extra: int = E) -> nn.Module:
    cls, cond = CONDITIONING.get(name), K + extra
    if cls.injection == "latent":
        return cls(latent_dim=6, cond_dim=cond, embed_dim=4)
    if cls.injection == "input":
        return cls(in_channels=3, cond_dim=cond)
    if cls.injection == "spatial":
        return cls(num_features=F, num_aus=K, cond_dim=cond, hidden=8)
    return cls(num_features=F, cond_dim=cond, hidden=8)


def inputs(name: str, seed: int = 0) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    kind = injection_of(name)
    x = torch.randn(B, 6, generator=gen) if kind == "latent" else \
        torch.randn(B, 3 if kind == "input" else F, S, S, generator=gen)
    return x, torch.rand(B, K + E, generator=gen)


def run(layer: nn.Module, x: torch.Tensor, c: torch.Tensor, fp: torch.Tensor | None = None) -> torch.Tensor:
    if layer.injection in ("latent", "input"):
        return layer(x, c)
    return layer(x, c, fp if fp is not None else blob_footprints(B, K, S))


def test_registry_contents():
    assert set(CONDITIONING.names()) == {"concat_latent", "concat_input", "adain", "cbn", "film", "spade_au"}
    assert all(CONDITIONING.get(n).injection in INJECTIONS for n in CONDITIONING.names())
    assert all(issubclass(CONDITIONING.get(n), ModulationLayer) for n in LEVELWISE)
    with pytest.raises(UnknownNameError, match="adain, cbn"):
        injection_of("stylegan")


@pytest.mark.parametrize("name", CONDITIONING.names())
def test_shapes(name):
    layer = build(name)
    x, c = inputs(name)
    out = run(layer, x, c)
    expected = {"latent": (B, 6 + 4), "input": (B, 3 + K + E, S, S)}.get(layer.injection, (B, F, S, S))
    assert out.shape == expected


@pytest.mark.parametrize("name", CONDITIONING.names())
def test_condition_changes_output_and_gradients_reach_parameters(name):
    torch.manual_seed(0)
    layer = build(name)
    x, c = inputs(name)
    c.requires_grad_(True)
    out = run(layer, x, c)
    other = run(layer, x, torch.rand(B, K + E, generator=torch.Generator().manual_seed(9)))
    assert (out - other).abs().max() > 1e-4
    (out * torch.randn_like(out)).sum().backward()
    assert c.grad is not None and c.grad.abs().sum() > 0
    for pname, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, pname


@pytest.mark.parametrize("name", LEVELWISE)
def test_levelwise_layers_start_near_identity_modulation(name):
    torch.manual_seed(0)
    layer = build(name)
    x, c = inputs(name)
    fp = blob_footprints(B, K, S)
    base = layer.normalize(x)
    out = layer(x, c, fp)
    assert 0 < (out - base).abs().mean() < 0.2 * base.abs().mean()


def test_concat_layers_known_answers():
    x, c = inputs("concat_input")
    out = build("concat_input")(x, c)
    assert torch.equal(out[:, :3], x)
    assert torch.equal(out[:, 3:], c[:, :, None, None].expand(-1, -1, S, S))
    z, c = inputs("concat_latent")
    lat = build("concat_latent")
    assert torch.equal(lat(z, c)[:, :6], z) and lat.out_dim == 10


def test_film_does_not_normalise_and_adain_does():
    x, c = inputs("film")
    x = x * 5 + 3
    film, adain = build("film"), build("adain")
    assert torch.equal(film.normalize(x), x)
    n = adain.normalize(x)
    assert n.mean(dim=(2, 3)).abs().max() < 1e-4 and (n.std(dim=(2, 3)) - 1).abs().max() < 0.05


def test_cbn_uses_running_statistics_in_eval():
    layer = build("cbn")
    x, c = inputs("cbn")
    layer.train()
    layer(x * 3 + 1, c)
    assert layer.norm.running_mean.abs().sum() > 0
    layer.eval()
    single = layer(x[:1], c[:1])
    assert single.shape == (1, F, S, S) and torch.isfinite(single).all()


def test_spade_au_change_of_one_au_stays_inside_its_footprint():
    torch.manual_seed(0)
    layer = build("spade_au", extra=0)
    x, _ = inputs("spade_au")
    fp = blob_footprints(B, K, S, seed=3)
    au = torch.rand(B, K, generator=torch.Generator().manual_seed(4))
    for k in range(K):
        au2 = au.clone()
        au2[:, k] = 1.0 - au2[:, k]
        delta = (layer(x, au, fp) - layer(x, au2, fp)).abs().amax(dim=1)          # (B, S, S)
        support = (fp[:, k] > 0).float()[:, None]
        near = torch.nn.functional.max_pool2d(support, 5, stride=1, padding=2)[:, 0] > 0  # 2 px reach
        assert delta[~near].max() < 1e-6, k
        assert delta[fp[:, k] > 0.5].mean() > 1e-3, k


def test_spade_au_equals_unconditioned_path_away_from_all_footprints():
    layer = build("spade_au", extra=0)
    x, c = inputs("spade_au")
    fp = blob_footprints(B, K, S, seed=5)
    fp[:, :, :, : S // 2] = 0.0                                   # left half: no footprint at all
    out, plain = layer(x, c[:, :K], fp), layer.normalize(x)
    assert torch.allclose(out[..., : S // 2 - 2], plain[..., : S // 2 - 2], atol=1e-6)
    assert not torch.allclose(out[..., S // 2:], plain[..., S // 2:], atol=1e-4)


def test_spade_au_extra_attributes_act_everywhere_and_footprints_any_resolution():
    layer = build("spade_au")
    x, c = inputs("spade_au")
    fp = blob_footprints(B, K, S, seed=5)
    fp[:, :, :, : S // 2] = 0.0
    c2 = c.clone()
    c2[:, K:] += 1.0
    delta = (layer(x, c, fp) - layer(x, c2, fp)).abs()
    assert delta[..., : S // 2 - 2].mean() > 1e-4                # attributes are not tied to footprints
    big = torch.nn.functional.interpolate(fp, scale_factor=2, mode="nearest")
    assert layer(x, c, big).shape == (B, F, S, S)


def test_spade_au_input_errors():
    layer = build("spade_au")
    x, c = inputs("spade_au")
    with pytest.raises(ShapeError, match="footprints"):
        layer(x, c)
    with pytest.raises(ShapeError, match="footprints"):
        layer(x, c, blob_footprints(B, K + 1, S))
    with pytest.raises(NetworkConfigError, match="num_aus"):
        CONDITIONING.get("spade_au")(num_features=F, num_aus=K + 1, cond_dim=K)


@pytest.mark.parametrize("name", CONDITIONING.names())
def test_wrong_condition_shape_is_a_clear_error(name):
    layer = build(name)
    x, c = inputs(name)
    with pytest.raises(ShapeError, match=r"condition c.*expected shape"):
        run(layer, x, c[:, :-1])
