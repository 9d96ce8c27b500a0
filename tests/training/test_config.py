import dataclasses

import pytest

from aucgan.training.config import (
    AUNetTrainConfig,
    ConfigError,
    TrainConfig,
    load_config,
    preset_names,
    replace_path,
    to_dict,
)


def test_presets_load_and_are_frozen():
    assert {"baseline", "ganimation", "improved", "aunet"} <= set(preset_names())
    for name in preset_names():
        schema = AUNetTrainConfig if name.startswith("aunet") else TrainConfig
        cfg = load_config(name, schema=schema)
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.seed = 3


def test_baseline_is_the_existing_design():
    cfg = load_config("baseline")
    assert cfg.generator.conditioning == ("concat_latent",)
    assert cfg.generator.architecture == "bottleneck"
    assert cfg.discriminator.kind == "concat"
    assert cfg.loss.au_loss == "bce" and cfg.loss.au_source == "aunet"


def test_overrides_are_typed():
    cfg = load_config("improved", ["loss.w_au=3", "generator.conditioning=[adain, film]", "generator.cond_levels=[0,1]",
                                   "data.size=32", "aunet.checkpoint=runs/x"])
    assert cfg.loss.w_au == 3.0 and isinstance(cfg.loss.w_au, float)
    assert cfg.generator.conditioning == ("adain", "film")
    assert cfg.generator.cond_levels == (0, 1)
    assert cfg.data.size == 32 and cfg.aunet.checkpoint == "runs/x"
    assert load_config("improved", ["optim.lr_g=1e-4"]).optim.lr_g == 1e-4


@pytest.mark.parametrize("override, fragment", [
    ("loss.nope=1", "valid keys: adversarial"),
    ("steps=abc", "expected an integer"),
    ("tensorboard=maybe", "expected true/false"),
    ("loss.w_au", "key=value"),
    ("steps.x=1", "steps: expected an integer"),
])
def test_bad_overrides_are_clear(override, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config("baseline", [override])


def test_unknown_preset_lists_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="valid presets: .*baseline"):
        load_config("nonexistent")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(str(bad))


def test_yaml_file_with_extends(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("extends: improved\nloss:\n  w_au: 7\n")
    cfg = load_config(str(path))
    assert cfg.loss.w_au == 7.0 and cfg.generator.conditioning == ("adain", "spade_au")


def test_round_trip_through_dict_and_replace():
    cfg = load_config("ganimation")
    d = to_dict(cfg)
    assert d["generator"]["conditioning"] == ["concat_input"]
    cfg2 = replace_path(cfg, "loss.w_cycle", 3)
    assert cfg2.loss.w_cycle == 3.0 and cfg.loss.w_cycle == 10.0
    with pytest.raises(ConfigError, match="valid keys"):
        replace_path(cfg, "loss.bogus", 1)
