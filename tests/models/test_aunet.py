import pytest
import torch

from aucgan.models.aunet import ARCHS, AUNet
from aucgan.models.generator import count_parameters
from aucgan.nn.layers import NetworkConfigError, ShapeError

K, C = 6, 4


def make(arch, **kw):
    torch.manual_seed(0)
    return AUNet(C, num_aus=K, **{**dict(base_channels=8, depth=3, arch=arch), **kw})


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("size", [32, 48])
def test_logits_and_predict_range(arch, size):
    net = make(arch)
    x = torch.randn(5, C, size, size) * 3
    logits = net(x)
    assert logits.shape == (5, K)
    net.eval()
    pred = net.predict(x)
    assert pred.shape == (5, K) and pred.min() >= 0 and pred.max() <= 5
    assert torch.allclose(pred, 5 * torch.sigmoid(net(x)))
    with torch.no_grad():
        net.out.bias.fill_(50.0)
    assert torch.allclose(net.predict(x), torch.full((5, K), 5.0))


@pytest.mark.parametrize("arch", ARCHS)
def test_trains_on_a_tiny_regression(arch):
    net = make(arch)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(16, C, 32, 32, generator=gen)
    y = torch.sigmoid(x.mean(dim=(2, 3)) * 4).repeat(1, 2)[:, :K]
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(torch.sigmoid(net(x)), y)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.5 * first


def test_architectures_differ_and_end_in_a_linear_head():
    cnn, res = make("cnn"), make("resnet")
    assert count_parameters(cnn) != count_parameters(res)
    assert {type(m) for m in cnn.modules()} != {type(m) for m in res.modules()}
    for net in (cnn, res):
        linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
        assert linears[-1] is net.out and net.out.in_features == 128


def test_errors():
    with pytest.raises(NetworkConfigError, match="cnn, resnet"):
        make("vit")
    with pytest.raises(NetworkConfigError, match="depth"):
        make("cnn", depth=0)
    with pytest.raises(ShapeError, match="AUNet"):
        make("cnn")(torch.randn(2, C + 1, 32, 32))
