import pytest
import torch
from torch.nn.utils import parametrize

from aucgan.models.discriminator import DISCRIMINATORS, DOutput, build_discriminator
from aucgan.nn.layers import NetworkConfigError, ShapeError
from aucgan.nn.registry import UnknownNameError

K, B, S, C = 5, 3, 32, 4
NAMES = DISCRIMINATORS.names()
CONDITIONED = ["concat", "projection", "projection_aux", "cond_mlp", "cond_mlp_aux", "aux_match"]
AUX = ["aux_regressor", "projection_aux", "cond_mlp_aux", "aux_match"]


def make(name, spectral_norm=False, **kw):
    torch.manual_seed(0)
    return build_discriminator(name, C, **{**dict(num_aus=K, base_channels=8, max_channels=32, num_down=3,
                                                  spectral_norm=spectral_norm, image_size=S), **kw})


def batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(B, C, S, S, generator=gen) * 2 - 1, torch.rand(B, K, generator=gen)


def test_registry_names():
    assert set(NAMES) == {"concat", "projection", "aux_regressor", "projection_aux", "cond_mlp", "cond_mlp_aux",
                          "aux_match"}
    with pytest.raises(UnknownNameError, match="valid discriminator names: concat, projection, aux_"):
        make("stylegan")


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_output_shapes(name, spectral_norm):
    D = make(name, spectral_norm)
    x, au = batch()
    out = D(x, au)
    assert isinstance(out, DOutput)
    assert out.score.shape == (B,) and out.patch.shape == (B, 1, S // 8, S // 8)
    assert torch.allclose(out.score, out.patch.mean(dim=(1, 2, 3)))
    assert out.features.shape == (B, D.feature_dim) and D.feature_dim == 32
    if name in AUX:
        assert out.au_pred.shape == out.au_logits.shape == (B, K)
        assert torch.equal(out.au_pred, torch.sigmoid(out.au_logits))
        assert out.au_pred.min() > 0 and out.au_pred.max() < 1
    else:
        assert out.au_pred is None and out.au_logits is None


@pytest.mark.parametrize("name", NAMES)
def test_condition_awareness(name):
    D = make(name)
    x, au = batch()
    au2 = torch.rand(B, K, generator=torch.Generator().manual_seed(5))
    a, b = D(x, au), D(x, au2)
    if name in CONDITIONED:
        assert (a.score - b.score).abs().max() > 1e-5
    else:                                               # aux_regressor: unconditional adversarial head
        assert torch.equal(a.score, b.score)
    if name in AUX:
        assert torch.equal(a.au_pred, b.au_pred)        # the AU head reads the maps only ...
        assert (a.au_pred - D(batch(1)[0], au).au_pred).abs().max() > 1e-5   # ... and does read them


@pytest.mark.parametrize("name", CONDITIONED)
def test_extra_attributes_condition_the_score(name):
    D = make(name, extra_dim=2)
    x, au = batch()
    extra = torch.rand(B, 2)
    assert (D(x, au, extra).score - D(x, au, extra + 1).score).abs().max() > 1e-5
    with pytest.raises(ShapeError, match="extra_dim=2"):
        D(x, au)


@pytest.mark.parametrize("name", ["aux_match", "projection_aux"])
def test_ignore_extra_drops_the_attributes_it_is_given(name):
    """Built to check the AUs only: called with the data's extra attributes it scores as without them."""
    D = make(name, ignore_extra=True)
    x, au = batch()
    a, b = D(x, au, torch.rand(B, 2)), D(x, au)
    assert torch.equal(a.score, b.score) and torch.equal(a.au_pred, b.au_pred)
    with pytest.raises(NetworkConfigError, match="extra_dim must be 0"):
        make(name, extra_dim=2, ignore_extra=True)


def test_projection_known_answer():
    D = make("projection")
    with torch.no_grad():
        D.psi.weight.zero_()
        D.psi.bias.zero_()
    x, au = batch()
    out = D(x, au)
    assert torch.allclose(out.score, (D.embed(au) * out.features).sum(dim=1), atol=1e-5)
    assert D.embed.bias is None
    assert torch.allclose(D(x, 2 * au).score, 2 * out.score, atol=1e-5)   # linear in the intensities


def test_cond_mlp_has_no_unconditional_shortcut():
    D = make("cond_mlp")
    assert D.psi is None and D.embed is None
    x, au = batch()
    with torch.no_grad():                     # a zero condition embedding zeroes every score: nothing bypasses c
        D.cmap[-1].weight.zero_()
        D.cmap[-1].bias.zero_()
    assert torch.equal(D(x, au).score, torch.zeros(B))


@pytest.mark.parametrize("name", ["projection", "cond_mlp"])
def test_mismatched_real_pairs_are_what_teach_a_discriminator_the_pairing(name):
    """Maps whose content encodes their AUs. Trained against fakes only (noise maps under their AUs), D learns
    real vs fake but not whether the AUs fit the maps (held-out AUC of matched vs mismatched real pairs near
    0.5); with real maps under other samples' AUs as negatives (matching-aware D) it learns the pairing."""
    from aucgan.losses.adversarial import fake_term
    from aucgan.metrics.discriminator import roc_auc

    def train(mismatch: bool) -> float:
        gen = torch.Generator().manual_seed(0)
        basis = torch.randn(K, C, S, S, generator=gen)

        def maps(au):
            return torch.einsum("bk,kchw->bchw", au, basis) * 0.3

        D = make(name)
        opt = torch.optim.Adam(D.parameters(), lr=2e-3)
        for _ in range(300):
            au, other = torch.rand(16, K, generator=gen), torch.rand(16, K, generator=gen)
            x = maps(au)
            negative = D(x, other) if mismatch else D(torch.randn(x.shape, generator=gen) * 0.5, au)
            loss = torch.relu(1.0 - D(x, au).score).mean() + fake_term("hinge", negative.score)
            opt.zero_grad()
            loss.backward()
            opt.step()
        au, other = torch.rand(64, K, generator=gen), torch.rand(64, K, generator=gen)
        with torch.no_grad():
            return roc_auc(D(maps(au), au).score.numpy(), D(maps(au), other).score.numpy())

    assert train(mismatch=True) > 0.8
    assert abs(train(mismatch=False) - 0.5) < 0.15


@pytest.mark.parametrize("spectral_norm", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_double_backward_for_gradient_penalties(name, spectral_norm):
    D = make(name, spectral_norm)
    x, au = batch()
    real = x.clone().requires_grad_(True)
    out = D(real, au)
    (grad,) = torch.autograd.grad(out.score.sum(), real, create_graph=True)
    penalty = grad.pow(2).flatten(1).sum(1).mean()
    if out.au_logits is not None:
        penalty = penalty + out.au_logits.pow(2).mean()
    penalty.backward()
    weights = [p for n, p in D.named_parameters() if n.endswith("weight") or n.endswith("original")]
    assert weights and all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)


def test_spectral_norm_wraps_every_conv_and_linear():
    D = make("projection_aux", spectral_norm=True)
    layers = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]
    assert len(layers) == 3 + 1 + 2 and all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(parametrize.is_parametrized(m) for m in make("projection_aux").modules())
    for _ in range(30):                                 # power iterations run in training-mode forwards
        D(*batch())
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert abs(float(sigma) - 1) < 0.05


def test_input_errors():
    x, au = batch()
    with pytest.raises(ShapeError, match="32, 32"):
        make("concat")(x[..., :16, :16], au)
    with pytest.raises(ShapeError, match="au"):
        make("projection")(x, au[:, :2])
    with pytest.raises(NetworkConfigError, match="multiple of"):
        make("concat", image_size=20)
