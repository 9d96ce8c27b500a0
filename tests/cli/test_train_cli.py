"""End to end through the command line: train-au, train (baseline and improved), resume, generate."""

import json
import subprocess
import sys

import pytest

from aucgan.cli import main

from tests.tiny import TINY, TINY_AUNET


def _sets(items):
    return sum((["--set", s] for s in items), [])


def test_dry_run_prints_resolved_config(capsys):
    assert main(["train", "--config", "improved", "--dry-run", "--set", "loss.w_au=2.5"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["loss"]["w_au"] == 2.5 and cfg["generator"]["conditioning"] == ["adain", "spade_au"]


def test_unknown_preset_and_key_exit_2_without_traceback(capsys):
    assert main(["train", "--config", "nope", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "valid presets" in err and "Traceback" not in err
    assert main(["train", "--config", "deca", "--dry-run"]) == 2      # the DECA decoder's preset: train-deca
    assert "aucgan train-deca" in capsys.readouterr().err
    assert main(["train", "--config", "baseline", "--dry-run", "--set", "loss.wau=1"]) == 2
    assert "valid keys" in capsys.readouterr().err


@pytest.mark.parametrize("override, fragment", [
    ("generator.head=nonsense", "generator.head: 'nonsense' is not valid; valid values: direct, attention"),
    ("loss.adversarial=foo", "loss.adversarial: 'foo' is not valid; valid values: wgan, hinge, nsgan"),
    ("data.target_mode=bar", "data.target_mode: 'bar' is not valid; valid values: shuffle, prototype, mixed"),
    ("generator.conditioning=[adain,nope]", "generator.conditioning: 'nope' is not valid; valid values: concat_latent"),
    ("generator.regional.cascade_steps=3", "regional settings (generator.regional) are given but generator.variant "
                                           "is 'map'"),
])
def test_dry_run_with_a_bad_choice_exits_2_with_one_line(override, fragment, capsys):
    assert main(["train", "--config", "improved", "--dry-run", "--set", override]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("aucgan train: error: preset improved: ") and fragment in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_dry_run_shows_the_variant_and_its_settings(capsys):
    assert main(["train", "--config", "cascade", "--dry-run", "--set", "generator.regional.cascade_steps=3"]) == 0
    gen = json.loads(capsys.readouterr().out)["generator"]
    assert gen["variant"] == "regional" and gen["regional"]["cascade_steps"] == 3
    assert gen["regional"]["regions"] == ["brows", "eyes", "nose", "mouth"] and gen["sean"] is None


def test_train_then_generate(tiny_bench, tiny_aunet, tmp_path, capsys):
    for preset in ("baseline", "improved"):
        run = tmp_path / preset
        code = main(["train", "--config", preset, "--data", str(tiny_bench), "--aunet", str(tiny_aunet),
                     "--run-dir", str(run), "--steps", "2", "--no-progress", *_sets(TINY)])
        assert code == 0
        assert (run / "checkpoints").is_dir()
    # an existing non-empty run dir is refused without --resume
    assert main(["train", "--config", "improved", "--data", str(tiny_bench), "--aunet", str(tiny_aunet),
                 "--run-dir", str(tmp_path / "improved"), "--steps", "2", "--no-progress", *_sets(TINY)]) == 2
    assert "--resume" in capsys.readouterr().err
    # users extend runs: --resume with more --steps continues to the new total; fewer steps are refused
    resume = ["train", "--config", "improved", "--data", str(tiny_bench), "--aunet", str(tiny_aunet),
              "--run-dir", str(tmp_path / "improved"), "--no-progress", "--resume", *_sets(TINY)]
    assert main([*resume, "--steps", "3"]) == 0
    assert "extending the run from 2 to 3 steps at step 2" in capsys.readouterr().out
    assert (tmp_path / "improved" / "checkpoints" / "step-000003" / "G_ema.safetensors").is_file()
    assert main([*resume, "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert "steps: 3 -> 2" in err and "may grow but not shrink" in err and err.count("\n") == 1
    source = next(line.split(",")[0] for line in (tiny_bench / "manifest.csv").read_text().splitlines()[1:])
    out = tmp_path / "edit"
    code = main(["generate", "--checkpoint", str(tmp_path / "improved"), "--data", str(tiny_bench),
                 "--source", source, "--au", "AU12=3,AU6=2", "--out", str(out)])
    assert code == 0
    for name in ("edited_albedo.png", "edited_displacement.png", "edited_normal.png", "sweep_AU12.png",
                 "sweep_AU06.png", "edited.json"):
        assert (out / name).is_file(), name
    meta = json.loads((out / "edited.json").read_text())
    assert meta["target_au"]["AU12"] == 3.0 and meta["target_au"]["AU06"] == 2.0
    # the one map-set writer: export-maps' sidecar, no turntable or EXR, the sweeps recorded beside the maps
    assert meta["format"] == "aucgan-maps" and meta["au"] == meta["target_au"] and meta["source"] == source
    assert meta["files"] == {"albedo": "edited_albedo.png", "displacement": "edited_displacement.png",
                             "normal": "edited_normal.png"}
    assert meta["sweeps"] == {"AU12": "sweep_AU12.png", "AU06": "sweep_AU06.png"}
    assert meta["layout"]["name"] == "synthetic" and len(meta["layout"]["landmarks"]) == 68
    # never overwrite silently; a file source works too
    assert main(["generate", "--checkpoint", str(tmp_path / "improved"), "--data", str(tiny_bench),
                 "--source", source, "--au", "AU12=3", "--out", str(out)]) == 2
    code = main(["generate", "--checkpoint", str(tmp_path / "improved"), "--source",
                 str(tiny_bench / "maps" / f"{source}_albedo.png"), "--au", "AU04=4", "--out", str(tmp_path / "e2")])
    assert code == 0 and (tmp_path / "e2" / "sweep_AU04.png").is_file()
    assert main(["generate", "--checkpoint", str(tmp_path / "improved"), "--data", str(tiny_bench),
                 "--source", source, "--au", "AU12=9", "--out", str(tmp_path / "e3")]) == 2
    assert "outside 0..5" in capsys.readouterr().err


def test_train_au_cli_reports_metrics(tiny_bench, tmp_path):
    run = tmp_path / "au"
    proc = subprocess.run([sys.executable, "-m", "aucgan", "train-au", "--data", str(tiny_bench), "--run-dir", str(run),
                           "--steps", "3", "--no-progress", *_sets(TINY_AUNET)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["held_out_samples"] > 0 and "mean_mae" in summary
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_au"]["mae"]) == set(json.loads((tiny_bench / "dataset.json").read_text())["au_names"])


@pytest.mark.slow
def test_demo_end_to_end_small(tmp_path):
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--identities", "6", "--expressions", "4", "--size", "32",
                 "--aunet-steps", "5", "--judge-steps", "5", "--steps", "4", "--eval-samples", "8"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["judge"]) >= {"mae", "pearson", "icc"}
    assert (out / "benchmark" / "preview.png").is_file() and (out / "edit" / "sweep_AU12.png").is_file()
    page = (out / "comparison" / "report" / "index.html").read_text()
    assert "preset=baseline" in page and "preset=improved" in page
    assert "img/truth-edits.png" in page and (out / "comparison" / "report" / "img" / "truth-edits.png").is_file()
    assert set(summary["paired_truth"]) == {"baseline", "improved"}
    assert all("explained/displacement/add" in v for v in summary["paired_truth"].values())
    assert isinstance(summary["identity_blind"]["explained/displacement/transfer"], float)   # the reference
    for name in ("baseline", "improved"):
        assert (out / "comparison" / "runs" / f"preset={name}" / "metric-au_control.jsonl").is_file()
