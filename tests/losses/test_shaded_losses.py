import pytest
import torch

from aucgan.config.schema import LossConfig
from aucgan.data.codec import MapCodec
from aucgan.losses.objective import GANObjective
from aucgan.models.aunet import AUNet
from aucgan.models.shaded import ShadedAUNet
from aucgan.render.shaded import Renderer

CODEC = MapCodec(("displacement", "albedo"), disp_scale=0.02)


def test_shaded_reconstruction_and_shaded_au_reading():
    torch.manual_seed(0)
    aunet = ShadedAUNet(AUNet(3, 17, base_channels=8, depth=2), CODEC, Renderer()).eval().requires_grad_(False)
    cfg = LossConfig(w_shaded_rec=1.0, w_au=1.0, au_source="aunet")
    obj = GANObjective(None, None, aunet, cfg, renderer=Renderer(), codec=CODEC)
    x = torch.rand(2, 4, 16, 16) * 2 - 1
    loss, stats = obj.shaded_reconstruction(x, x)
    assert float(loss) == 0.0 and stats["G/shaded_rec"] == 0.0
    rec = x.clone().requires_grad_(True)
    bumped = rec + torch.nn.functional.pad(torch.ones(2, 1, 4, 4), (6, 6, 6, 6, 0, 3))   # a bump in the displacement
    loss, _ = obj.shaded_reconstruction(bumped, x)
    loss.backward()
    assert float(loss.detach()) > 0 and float(rec.grad[:, 0].abs().sum()) > 0
    # the frozen shaded estimator sees new random lighting at every read, even in eval mode
    assert not torch.allclose(obj.read_aus(x), obj.read_aus(x))
    with pytest.raises(ValueError, match="renderer"):
        GANObjective(None, None, aunet, cfg)
