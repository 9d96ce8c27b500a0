"""End to end: train two tiny runs, `aucgan eval` them (every metric), `aucgan compare` them."""

from __future__ import annotations

import json
import math
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch

from aucgan.cli import main
from aucgan.config.loading import load_config
from aucgan.training.loop import training_loop

from tests.tiny import TINY

ALL = ["paired_fidelity", "au_control", "locality", "identity", "realism", "disc_awareness", "sensitivity"]
FAST = ["--samples", "8", "--sweep-samples", "1", "--batch-size", "16"]


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.src: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.src.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def runs(tiny_bench, tiny_aunet, tmp_path_factory):
    root = tmp_path_factory.mktemp("evalruns")
    out = []
    for preset in ("baseline", "improved"):
        cfg = load_config(preset, [*TINY, "steps=2", f"aunet.checkpoint={tiny_aunet}"])
        training_loop(cfg, tiny_bench, root / preset, progress=False)
        out.append(root / preset)
    return out


def test_eval_scores_every_metric_and_appends_lines(runs, tiny_bench, tiny_aunet, capsys):
    run = runs[0]
    code = main(["eval", str(run), "--data", str(tiny_bench), "--judge", str(tiny_aunet),
                 "--features", str(tiny_aunet), *FAST])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "warning: the judge" in printed          # the fixture judge is the run's own training AUNet
    for name in ALL:
        lines = [json.loads(x) for x in (run / f"metric-{name}.jsonl").read_text().splitlines()]
        assert len(lines) == 1 and lines[0]["step"] == 2 and lines[0]["metric"] == name
        assert lines[0]["data"] == str(tiny_bench) and "summary" in lines[0]["results"]
        assert lines[0]["judge_independent"] is False
        assert name in printed
    realism = json.loads((run / "metric-realism.jsonl").read_text())["results"]["summary"]
    assert all(math.isfinite(realism[k]) for k in ("swd", "swd_floor", "fid", "fid_floor", "kid", "kid_floor"))
    assert realism["swd_excess"] == pytest.approx(realism["swd"] - realism["swd_floor"])
    # the held-out reference is other faces than the test sources, and the edits change the maps
    assert realism["swd_floor"] > 0 and realism["fid_floor"] > 0
    assert realism["swd"] != realism["swd_floor"] and realism["fid"] != realism["fid_floor"]
    paired = json.loads((run / "metric-paired_fidelity.jsonl").read_text())["results"]["summary"]
    for name in ("displacement", "albedo"):
        assert 0 < paired[f"l1_footprint/{name}"] < 2 and math.isfinite(paired[f"psnr_footprint/{name}"])
        assert 0 < paired[f"source_l1_footprint/{name}"] != paired[f"l1_footprint/{name}"]
    sens = json.loads((run / "metric-sensitivity.jsonl").read_text())
    assert (run / sens["arrays"]).is_file()


def test_a_generator_that_edits_nothing_scores_as_the_unedited_sources(runs, tiny_bench, tiny_aunet, tmp_path, capsys):
    """The no-edit reference: with its per-AU and per-attribute residual heads and its flow head zeroed, the
    improved generator returns its input, so every distance to the real maps equals its real-vs-real floor and every
    error the unedited source's."""
    import torch

    from aucgan.rundir.checkpoints import CKPT_DIR, save_checkpoint
    from aucgan.rundir.files import CONFIG_FILE
    from aucgan.runs import load_generator

    G, cfg, step = load_generator(runs[1])
    assert cfg.generator.head == "au_residual"
    with torch.no_grad():
        for head in (G.head, G.attr_head, G.flow_head):
            head.weight.zero_()
            head.bias.zero_()
    still = tmp_path / "still"
    still.mkdir()
    (still / CONFIG_FILE).write_text((runs[1] / CONFIG_FILE).read_text())
    save_checkpoint(still / CKPT_DIR, {"G_ema": G}, {}, {"step": step}, rng=False)
    code = main(["eval", str(still), "--data", str(tiny_bench), "--features", str(tiny_aunet),
                 "--metrics", "realism,paired_fidelity", *FAST])
    assert code == 0, capsys.readouterr().err
    realism = json.loads((still / "metric-realism.jsonl").read_text())["results"]["summary"]
    for key in ("swd", "fid", "kid"):
        assert realism[key] == realism[f"{key}_floor"], key
    assert realism["swd_excess"] == 0.0
    paired = json.loads((still / "metric-paired_fidelity.jsonl").read_text())["results"]["summary"]
    for name in ("displacement", "albedo"):
        assert paired[f"l1_footprint/{name}"] == paired[f"source_l1_footprint/{name}"] > 0


def test_eval_uses_the_recorded_data_and_skips_what_it_cannot_run(runs, tiny_bench, capsys):
    run = runs[1]
    (run / "data.json").write_text(json.dumps({"path": str(tiny_bench)}))
    assert main(["eval", str(run), *FAST]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "skipping au_control" in out and "--judge" in out
    assert (run / "metric-locality.jsonl").is_file() and not (run / "metric-au_control.jsonl").is_file()


def test_eval_errors_are_one_line(runs, tiny_bench, tmp_path, capsys):
    assert main(["eval", str(runs[0]), "--data", str(tiny_bench), "--metrics", "au_control", *FAST]) == 2
    assert "--judge" in capsys.readouterr().err
    assert main(["eval", str(runs[0]), "--data", str(tiny_bench), "--metrics", "nope", *FAST]) == 2
    assert "valid metrics" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["eval", str(tmp_path / "empty"), "--data", str(tiny_bench)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_compare_writes_a_report_over_the_runs(runs, tiny_bench, tiny_aunet, tmp_path, capsys):
    main(["eval", str(runs[1]), "--data", str(tiny_bench), "--judge", str(tiny_aunet), *FAST])
    out = tmp_path / "report"
    code = main(["compare", *map(str, runs), "--out", str(out), "--data", str(tiny_bench),
                 "--sweep-faces", "1"])
    assert code == 0, capsys.readouterr().err
    page = _Images()
    page.feed((out / "index.html").read_text())
    assert page.src and all((out / s).is_file() for s in page.src)
    text = " ".join(page.text)
    assert "baseline" in text and "improved" in text
    assert sum(s.split("/")[-1].startswith("sweep-") for s in page.src) == 2
    md = (out / "summary.md").read_text()
    assert "| baseline |" in md and "| improved |" in md
    assert main(["compare", str(runs[0]), "--out", str(out)]) == 2        # refuses to overwrite


def test_learning_curve_scores_every_checkpoint_and_the_report_plots_it(tiny_bench, tmp_path, capsys):
    """`eval --checkpoint all` scores each checkpoint in step order with the images seen; `compare` then draws the
    learning curves, and the add/remove picture against the ground truth of the synthetic benchmark."""
    run = tmp_path / "curve"
    cfg = load_config("improved", [*TINY, "steps=4", "keep_ckpts=0", "loss.w_au=0", "loss.w_d_au=0",
                                   "loss.w_adv=0"])
    training_loop(cfg, tiny_bench, run, progress=False)
    code = main(["eval", str(run), "--checkpoint", "all", "--metrics", "paired_fidelity,locality", *FAST])
    err = capsys.readouterr().err
    assert code == 0, err
    # progress over checkpoints x metrics (a log, not a terminal: labelled lines, the last one at the end)
    assert "eval curve: metric 4/4 (100%)" in err and "done in" in err
    assert main(["eval", str(run), "--checkpoint", "all", "--metrics", "paired_fidelity", "--no-progress",
                 *FAST]) == 0
    assert "eval curve:" not in capsys.readouterr().err
    lines = [json.loads(x) for x in (run / "metric-paired_fidelity.jsonl").read_text().splitlines()][2:]
    assert [x["step"] for x in lines] == [2, 4] and [x["images"] for x in lines] == [8, 16]
    assert all(-50 < x["results"]["summary"]["explained/displacement/add"] < 1 for x in lines)
    assert main(["eval", str(run), "--checkpoint", "2", "--metrics", "paired_fidelity", *FAST]) == 0
    assert json.loads((run / "metric-paired_fidelity.jsonl").read_text().splitlines()[-1])["step"] == 2
    assert main(["eval", str(run), "--checkpoint", "3", *FAST]) == 2
    assert "no checkpoint at step 3" in capsys.readouterr().err
    assert main(["eval", str(run), "--checkpoint", "best", *FAST]) == 2
    out = tmp_path / "report"
    assert main(["compare", str(run), "--out", str(out), "--sweep-faces", "0"]) == 0
    page = _Images()
    page.feed((out / "index.html").read_text())
    names = [s.split("/")[-1] for s in page.src]
    assert "learning-curves.png" in names and "truth-edits.png" in names
    assert all((out / s).is_file() for s in page.src)
    assert "doing nothing" in (out / "summary.md").read_text()


def test_ablate_plans_variants_and_validates_keys(tiny_bench, capsys):
    from aucgan.cli.ablate import split_values

    assert split_values("concat,[adain,spade_au], mse") == ["concat", "[adain,spade_au]", "mse"]
    args = ["ablate", "--base", "improved", "--vary", "generator.conditioning=[adain],[adain,spade_au]",
            "--study", "au_loss", "--steps", "3", "--data", str(tiny_bench), "--out", "unused", "--dry-run"]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("au_loss=bce__conditioning=adain:")
    assert any(x.startswith("au_loss=mse__conditioning=adain+spade_au:") for x in lines)
    assert all("steps=3" in x for x in lines)
    bad = ["ablate", "--base", "baseline", "--vary", "loss.au_los=bce,mse", "--steps", "2", "--data", "d",
           "--out", "o", "--dry-run"]
    assert main(bad) == 2 and "valid keys" in capsys.readouterr().err


def test_ablate_compares_whole_presets(tiny_bench, capsys):
    args = ["ablate", "--base", "improved", "--vary", "preset=baseline,ganimation", "--vary", "loss.w_au=1,2",
            "--steps", "3", "--data", str(tiny_bench), "--out", "unused", "--dry-run"]
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("preset=baseline__w_au=1: baseline ") and "preset=" not in lines[0].split(":", 1)[1]
    assert any(x.startswith("preset=ganimation__w_au=2: ganimation ") and "loss.w_au=2" in x for x in lines)
    bad = ["ablate", "--base", "improved", "--vary", "preset=baseline,nosuch", "--steps", "2", "--data", "d",
           "--out", "o", "--dry-run"]
    assert main(bad) == 2 and "nosuch" in capsys.readouterr().err


@pytest.mark.slow
def test_ablate_trains_evaluates_and_reports(tiny_bench, tiny_aunet, tmp_path, capsys):
    out = tmp_path / "ablation"
    code = main(["ablate", "--base", "baseline", "--vary", "loss.au_loss=bce,mse", "--steps", "2",
                 "--data", str(tiny_bench), "--aunet", str(tiny_aunet), "--judge", str(tiny_aunet),
                 "--out", str(out), "--no-progress", *FAST, *sum((["--set", s] for s in TINY), [])])
    assert code == 0, capsys.readouterr().err
    for name in ("au_loss=bce", "au_loss=mse"):
        assert (out / "runs" / name / "metric-au_control.jsonl").is_file()
    md = (out / "report" / "summary.md").read_text()
    assert "| au_loss=bce |" in md and "| au_loss=mse |" in md
    # a second call reuses the trained variants and re-scores them
    assert main(["ablate", "--base", "baseline", "--vary", "loss.au_loss=bce,mse", "--steps", "2",
                 "--data", str(tiny_bench), "--aunet", str(tiny_aunet), "--out", str(out), "--no-progress",
                 *FAST, *sum((["--set", s] for s in TINY), [])]) == 0
    assert "trained already" in capsys.readouterr().out


def test_ablate_jobs_trains_variants_in_parallel_processes_with_the_same_result(tiny_bench, tiny_aunet, tmp_path,
                                                                               capsys):
    from safetensors.torch import load_file

    out = tmp_path / "parallel"
    sets = [*TINY, "threads=1", f"aunet.checkpoint={tiny_aunet}"]
    code = main(["ablate", "--base", "improved", "--vary", "loss.w_detail=0,5", "--steps", "2", "--jobs", "2",
                 "--data", str(tiny_bench), "--out", str(out), "--no-progress", *FAST,
                 *sum((["--set", s] for s in sets), [])])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.count("trained to step 2") == 2
    for w in (0, 5):
        cfg = load_config("improved", [*sets, "steps=2", f"loss.w_detail={w}"])
        training_loop(cfg, tiny_bench, tmp_path / f"alone{w}", progress=False)
        a = load_file(str(out / "runs" / f"w_detail={w}" / "checkpoints" / "step-000002" / "G_ema.safetensors"))
        b = load_file(str(tmp_path / f"alone{w}" / "checkpoints" / "step-000002" / "G_ema.safetensors"))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert main(["ablate", "--base", "improved", "--vary", "loss.w_detail=0,5", "--steps", "2", "--jobs", "0",
                 "--data", str(tiny_bench), "--out", str(out)]) == 2


class _Trained:
    step = 2


def test_ablate_jobs_show_labelled_progress_lines_unless_quiet(tiny_bench, tmp_path, monkeypatch, capsys):
    """Spawned trainings share one terminal: each gets progress="lines" (labelled with its run directory's
    name); one at a time, "auto" (a bar on a terminal); --no-progress / --quiet: "off". The parent says which
    variants start and finish."""
    import aucgan.training.loop
    import aucgan.training.parallel
    from aucgan.cli import build_parser
    from aucgan.cli.ablate import train_variants

    got = []

    def fake_loop(cfg, data, run_dir, resume=False, progress=True):
        got.append((cfg.name, progress, cfg.threads))
        return _Trained()

    def here(fn, argsets, workers, on_done=None, on_start=None):       # the spawned processes, in this one
        out = []
        for i, args in enumerate(argsets):
            if on_start is not None:
                on_start(i)
            out.append(fn(*args))
            if on_done is not None:
                on_done(i, out[-1])
        return out

    monkeypatch.setattr(aucgan.training.loop, "training_loop", fake_loop)
    monkeypatch.setattr(aucgan.training.parallel, "run_spawned", here)
    jobs = [(n, load_config("improved", [*TINY, "steps=2", f"name={n}"]), tmp_path / n, False) for n in ("a", "b")]
    train_variants(jobs, str(tiny_bench), 2, quiet=False)
    assert [(n, p) for n, p, _ in got] == [("a", "lines"), ("b", "lines")] and all(t >= 1 for *_, t in got)
    out = capsys.readouterr().out
    assert "a: started (2 steps)" in out and "b: trained to step 2" in out
    got.clear()
    train_variants(jobs, str(tiny_bench), 2, quiet=True)
    assert [p for _, p, _ in got] == ["off", "off"]
    got.clear()
    train_variants(jobs, str(tiny_bench), 1, quiet=False)
    assert [p for _, p, _ in got] == ["auto", "auto"]
    for flag in ("--quiet", "--no-progress"):
        args = build_parser().parse_args(["ablate", "--base", "improved", "--steps", "2", "--data", "d",
                                          "--out", "o", flag])
        assert args.no_progress is True


def test_demo_estimators_show_labelled_progress_lines_unless_quiet(tiny_bench, tmp_path, monkeypatch):
    import aucgan.training.aunet_loop
    import aucgan.training.parallel
    from aucgan.cli import build_parser
    from aucgan.cli.demo import train_estimators
    from aucgan.config.schema import AUNetTrainConfig

    got = []

    def fake_train(cfg, data, run_dir, progress=True, holdout_fraction=0.2):
        got.append((Path(run_dir).name, progress))
        return {"mean": {}}

    def here(fn, argsets, workers, on_done=None, on_start=None):
        assert workers == 2
        for i, args in enumerate(argsets):
            on_start(i)
            on_done(i, fn(*args))
        return [{"mean": {}} for _ in argsets]

    monkeypatch.setattr(aucgan.training.aunet_loop, "train_aunet", fake_train)
    monkeypatch.setattr(aucgan.training.parallel, "run_spawned", here)
    plans = [(n, load_config(p, ["steps=3"], schema=AUNetTrainConfig)) for n, p in (("aunet", "aunet"),
                                                                                   ("judge", "aunet-judge"))]
    said = []
    assert set(train_estimators(plans, tiny_bench, tmp_path, 2, say=said.append)) == {"aunet", "judge"}
    assert got == [("aunet", "lines"), ("judge", "lines")]
    assert said == ["    aunet: started (3 steps)", "    aunet: trained", "    judge: started (3 steps)",
                    "    judge: trained"]
    got.clear()
    train_estimators(plans, tiny_bench, tmp_path, 2, quiet=True, say=said.append)
    assert [p for _, p in got] == ["off", "off"]
    assert build_parser().parse_args(["demo", "--quiet"]).no_progress is True
