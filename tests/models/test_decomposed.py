import pytest
import torch

from aucgan.au import AU_NAMES
from aucgan.data.codec import MapCodec
from aucgan.models.aunet import AUNet
from aucgan.models.decomposed import DecomposedGenerator
from aucgan.models.generator import MapGenerator
from aucgan.models.shaded import ShadedAUNet
from aucgan.nn.layers import NetworkConfigError
from aucgan.render.shaded import Renderer

CODEC = MapCodec(("displacement", "albedo"), disp_scale=0.02)


def _heads(extra_dim=3, albedo_aus=("AU25", "AU45"), conditioning=("adain", "spade_au"), **kw):
    geo = MapGenerator(4, 1, num_aus=17, conditioning=list(conditioning), base_channels=8, max_channels=16,
                       num_down=2, image_size=16, **kw)
    app = MapGenerator(4, 3, num_aus=max(1, len(albedo_aus)), extra_dim=extra_dim, conditioning="adain",
                       base_channels=8, max_channels=16, num_down=2, image_size=16)
    return geo, app


def _inputs(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, 4, 16, 16, generator=g) * 2 - 1, torch.rand(b, 17, generator=g),
            torch.rand(b, 17, 16, 16, generator=g), torch.rand(b, 3, generator=g))


def test_aus_drive_geometry_and_attributes_drive_albedo():
    torch.manual_seed(0)
    G = DecomposedGenerator(*_heads(), AU_NAMES, slice(0, 1), slice(1, 4), albedo_aus=("AU25", "AU45"))
    x, au, fp, extra = _inputs()
    out = G(x, au, fp, extra)
    assert out["out"].shape == (2, 4, 16, 16)
    torch.testing.assert_close(out["out"][:, :1], out["geometry"])
    # a wrinkle AU (AU12) changes the displacement only; the albedo is bit-identical
    au2 = au.clone()
    au2[:, AU_NAMES.index("AU12")] = 1.0 - au2[:, AU_NAMES.index("AU12")]
    out2 = G(x, au2, fp, extra)
    assert torch.equal(out2["out"][:, 1:], out["out"][:, 1:])
    assert float((out2["out"][:, :1] - out["out"][:, :1]).abs().max().item()) > 1e-4
    # an aperture AU (AU25) reaches the albedo head
    au3 = au.clone()
    au3[:, AU_NAMES.index("AU25")] = 1.0 - au3[:, AU_NAMES.index("AU25")]
    assert float((G(x, au3, fp, extra)["out"][:, 1:] - out["out"][:, 1:]).abs().max().item()) > 1e-4
    # attributes change the albedo only
    out4 = G(x, au, fp, 1.0 - extra)
    assert torch.equal(out4["out"][:, :1], out["out"][:, :1])
    assert float((out4["out"][:, 1:] - out["out"][:, 1:]).abs().max().item()) > 1e-4
    # encode/decode equals forward; gradients reach both heads
    torch.testing.assert_close(G.decode(G.encode(x), au, fp, extra)["out"], out["out"])
    G(x, au, fp, extra)["out"].square().mean().backward()
    assert all(p.grad is not None for p in G.parameters() if p.requires_grad)


def test_relative_geometry_head_and_albedo_first_layout():
    geo, app = _heads(extra_dim=0, albedo_aus=("AU45",), au_mode="relative")
    G = DecomposedGenerator(geo, app, AU_NAMES, slice(3, 4), slice(0, 3), albedo_aus=("AU45",))
    x, au, fp, _ = _inputs()
    assert G.needs_source_au
    out = G(x, au, fp, source_au=au * 0.5)
    torch.testing.assert_close(out["out"][:, 3:], out["geometry"])
    with pytest.raises(Exception, match="source_au"):
        G(x, au, fp)


def test_invalid_decompositions_fail_loudly():
    geo, app = _heads(extra_dim=0, albedo_aus=())
    with pytest.raises(NetworkConfigError, match="no condition"):
        DecomposedGenerator(geo, app, AU_NAMES, slice(0, 1), slice(1, 4), albedo_aus=())
    geo, app = _heads()
    with pytest.raises(NetworkConfigError, match="split"):
        DecomposedGenerator(geo, app, AU_NAMES, slice(0, 3), slice(3, 4), albedo_aus=("AU25", "AU45"))
    spatial = MapGenerator(4, 3, num_aus=2, extra_dim=3, conditioning="spade_au", base_channels=8, max_channels=16,
                           num_down=2, image_size=16)
    with pytest.raises(NetworkConfigError, match="spatial"):
        DecomposedGenerator(geo, spatial, AU_NAMES, slice(0, 1), slice(1, 4), albedo_aus=("AU25", "AU45"))


def test_shaded_aunet_reads_renders():
    torch.manual_seed(0)
    net = ShadedAUNet(AUNet(3, 17, base_channels=8, depth=2), CODEC, Renderer())
    x = (torch.rand(3, 4, 16, 16) * 2 - 1).requires_grad_(True)
    net.eval()
    a, b = net(x), net(x)
    assert a.shape == (3, 17) and torch.equal(a, b)              # eval: a fixed lighting sequence
    assert float(net.predict(x.detach()).max()) <= 5.0
    net.train()
    assert not torch.allclose(net(x), net(x))                    # training: random lighting each call
    net(x).sum().backward()
    assert float(x.grad[:, 0].abs().sum()) > 0 and float(x.grad[:, 1:].abs().sum()) > 0
    with pytest.raises(ValueError, match="in_channels must be 3"):
        ShadedAUNet(AUNet(4, 17, base_channels=8, depth=2), CODEC, Renderer())
