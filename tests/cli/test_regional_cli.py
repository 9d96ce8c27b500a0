"""End to end through the command line: the regional presets (cascade, sean, relative) and a generator with
extra conditions train for a few steps, then `aucgan generate` (and `aucgan eval`) use the result."""

import json

import pytest

from aucgan.cli import main
from aucgan.config.loading import preset_names

from tests.tiny import TINY

REGIONAL = {"cascade": ["discriminator.patch_size=16", "generator.regional.channels=8"],
            "sean": ["generator.sean.style_dim=8"]}
PRESETS = [p for p in ("cascade", "sean", "relative") if p in preset_names()]


def _sets(items):
    return sum((["--set", s] for s in items), [])


def _source(bench):
    return next(line.split(",")[0] for line in (bench / "manifest.csv").read_text().splitlines()[1:])


def _train(preset, bench, aunet, run, *extra):
    sets = REGIONAL.get(preset, [])
    return main(["train", "--config", preset, "--data", str(bench), "--aunet", str(aunet), "--run-dir", str(run),
                 "--steps", "2", "--no-progress", *_sets([*TINY, *sets, *extra])])


@pytest.mark.parametrize("preset", PRESETS)
def test_regional_presets_train_and_generate(preset, tiny_bench, tiny_aunet, tmp_path, capsys):
    run = tmp_path / preset
    assert _train(preset, tiny_bench, tiny_aunet, run) == 0, capsys.readouterr().err
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["name"] == preset
    stats = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    if preset == "cascade":
        assert cfg["generator"]["variant"] == "regional" and cfg["generator"]["regional"]["cascade_steps"] == 2
        assert cfg["generator"]["regional"]["channels"] == 8 and cfg["discriminator"]["patch_regions"]
        assert any("D/patch_mouth" in s for s in stats) and any("G/patch_eyes" in s for s in stats)
    out = tmp_path / "edit"
    code = main(["generate", "--checkpoint", str(run), "--data", str(tiny_bench), "--source", _source(tiny_bench),
                 "--au", "AU12=4", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert (out / "edited_albedo.png").is_file() and (out / "sweep_AU12.png").is_file()


def test_extra_conditions_train_generate_and_eval(tiny_bench, tiny_aunet, tmp_path, capsys):
    run = tmp_path / "extras"
    assert _train("improved-v1", tiny_bench, tiny_aunet, run, "generator.extra_attrs=[emotion,age,landmarks]") == 0
    assert json.loads((run / "config.json").read_text())["generator"]["extra_attrs"] == ["emotion", "age", "landmarks"]
    src = _source(tiny_bench)
    code = main(["generate", "--checkpoint", str(run), "--data", str(tiny_bench), "--source", src, "--au", "AU12=4",
                 "--attr", "emotion=happiness", "--out", str(tmp_path / "e1")])
    assert code == 0, capsys.readouterr().err
    # a file source has no attributes: the missing one is named
    code = main(["generate", "--checkpoint", str(run), "--source",
                 str(tiny_bench / "maps" / f"{src}_albedo.png"), "--au", "AU12=4", "--out", str(tmp_path / "e2")])
    err = capsys.readouterr().err
    assert code == 2 and "'emotion', 'age'" in err and "--attr emotion=" in err
    code = main(["eval", str(run), "--data", str(tiny_bench), "--judge", str(tiny_aunet), "--samples", "4",
                 "--sweep-samples", "1", "--metrics", "au_control,locality,identity,disc_awareness,sensitivity"])
    assert code == 0, capsys.readouterr().err
    assert (run / "metric-sensitivity.jsonl").is_file() and (run / "metric-disc_awareness.jsonl").is_file()


def test_editor_extra_conditions_change_the_edit(tiny_bench, tiny_aunet, tmp_path):
    import torch

    from aucgan.data.conditions import MissingAttributeError
    from aucgan.data.datasets import open_dataset
    from aucgan.inference import Editor

    run = tmp_path / "extras"
    assert _train("improved-v1", tiny_bench, tiny_aunet, run, "generator.extra_attrs=[emotion,valence]") == 0
    editor = Editor.from_run(run)
    item = open_dataset(tiny_bench, size=(32, 32), au_names=editor.au_names)[0]
    target = editor.target_vector(item["au"].numpy(), {"AU12": 4})
    a = editor.edit(item["maps"], target, attrs={"emotion": "happiness", "valence": 0.8})
    b = editor.edit(item["maps"], target, attrs={"emotion": "anger", "valence": -0.7})
    assert any((a[k] - b[k]).abs().max() > 1e-6 for k in a if isinstance(a[k], torch.Tensor))
    with pytest.raises(MissingAttributeError, match="'valence'"):
        editor.edit(item["maps"], target, attrs={"emotion": "anger"})
