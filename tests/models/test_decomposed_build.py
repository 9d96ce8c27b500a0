import pytest
import torch

from aucgan.config.loading import load_config
from aucgan.config.schema import AUNetTrainConfig, ConfigError, TrainConfig
from aucgan.models.build import build_generator
from aucgan.models.decomposed import DecomposedGenerator
from aucgan.models.shaded import ShadedAUNet
from aucgan.runs import load_aunet
from aucgan.training.aunet_loop import train_aunet

from tests.tiny import TINY, TINY_AUNET


def test_decomposed_preset_builds_the_split_generator():
    cfg = load_config("decomposed", TINY)
    G = build_generator(cfg)
    assert isinstance(G, DecomposedGenerator) and G.extra_dim > 0
    assert G.appearance.num_aus == len(cfg.generator.decomposed.albedo_aus)
    narrow = build_generator(load_config("decomposed", [*TINY, "generator.decomposed.albedo_aus=[AU25]",
                                                        "generator.decomposed.albedo_channels=4"]))
    assert narrow.albedo_aus == ("AU25",) and narrow.appearance.num_aus == 1
    assert narrow.appearance.stem[0].out_channels == 4
    with pytest.raises(ConfigError, match="exactly"):
        build_generator(load_config("decomposed", [*TINY, "data.maps=[displacement,albedo,normal]"]))
    assert not isinstance(build_generator(TrainConfig()), DecomposedGenerator)


def test_train_au_on_shaded_renders(tiny_bench, tmp_path):
    cfg = load_config("aunet", ["steps=3", *TINY_AUNET, "aunet.input=shaded", "render.cavity_strength=30"],
                      schema=AUNetTrainConfig)
    metrics = train_aunet(cfg, tiny_bench, tmp_path / "aunet", progress=False)
    assert metrics["steps"] == 3
    net, loaded = load_aunet(tmp_path / "aunet")
    assert isinstance(net, ShadedAUNet) and loaded.aunet.input == "shaded"
    assert net.renderer.cavity_strength == 30
    x = torch.rand(2, 4, 32, 32) * 2 - 1
    assert net.predict(x).shape == (2, 17)
    # the au_control metric's judge reads shaded renders the same way (through the codec adapter)
    from aucgan.au import AU_NAMES
    from aucgan.data.codec import MapCodec
    from aucgan.metrics.evaluate import load_judge

    judge = load_judge(tmp_path / "aunet", MapCodec(("displacement", "albedo")), AU_NAMES, torch.device("cpu"))
    torch.testing.assert_close(judge.predict(x), net.predict(x))
    with pytest.raises(ConfigError, match="aunet.input: 'photo' is not valid"):
        load_config("aunet", [*TINY_AUNET, "aunet.input=photo"], schema=AUNetTrainConfig)
