"""``python -m benchmarks --quick`` in-process: every figure is produced and the JSON has its keys."""

from __future__ import annotations

import json
import time

import pytest
from benchmarks.__main__ import main
from benchmarks.suite import PeakRSS, available_presets, timed


def test_quick_suite_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "results.json"
    assert main(["--quick", "--presets", "improved", "ganimation", "--sizes", "32", "--batch", "2",
                 "--threads", "1", "--skip-other", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert set(res) >= {"machine", "peak", "training", "data", "other", "seconds", "memory_method"}
    assert res["machine"].startswith("machine:") and res["peak"]["gflops_median"] > 0
    rows = {r["preset"]: r for r in res["training"]}
    assert set(rows) == {"improved", "ganimation"}
    for r in rows.values():
        assert r["size"] == 32 and r["batch"] == 2
        # images/s is the loop's definition: batch x (1 + n_critic) images per timed step
        images_per_step = r["batch"] * (1 + r["n_critic"])
        assert r["train_images_per_s"] == pytest.approx(images_per_step / (r["train_step_ms"] / 1000), rel=0.01)
        # achieved GFLOP/s: the counted FLOPs of a step over its time (not derived from the MFU)
        assert r["achieved_gflops"] == pytest.approx(r["flops_per_image"] * r["train_images_per_s"] / 1e9,
                                                     rel=0.02, abs=0.01)
        # small convolutions stay below the matmul peak measured around them (the run's first peak may read
        # low under load: mfu itself can pass 1 then)
        assert r["mfu"] > 0 and 0 < r["mfu_local"] < 1
        assert r["G_params_M"] > 0 and r["D_params_M"] > 0 and r["peak_mem_mb"] > 0
        assert r["infer_ms_per_map_b1"] > 0 and r["infer_ms_per_map_b16"] > 0
    assert rows["ganimation"]["n_critic"] == 5  # 1 + 5 batches per step enter its images/s
    # a step runs at least the generator's forward and its weight gradients (as many FLOPs again) on the batch
    for preset, r in rows.items():
        step_flops = r["flops_per_image"] * r["batch"] * (1 + r["n_critic"])
        assert step_flops >= 2 * r["batch"] * _generator_forward_flops(preset), preset
    (d,) = res["data"]
    assert d["synth_samples_per_s"] > 0 and d["batch_samples_per_s"] > 0
    assert d["synth_vs_improved_training"] == pytest.approx(
        d["synth_samples_per_s"] / rows["improved"]["train_images_per_s"], rel=0.05, abs=0.05)
    table = capsys.readouterr().out
    assert "MFU" in table and "improved" in table and f"wrote {out}" in table


def _generator_forward_flops(preset: str) -> int:
    """FLOPs of one generator forward pass on one 32 px map (the --quick networks), counted by torch's own
    FlopCounterMode."""
    import torch
    from benchmarks.suite import QUICK_OVERRIDES, build_setup
    from torch.utils.flop_counter import FlopCounterMode

    setup = build_setup(preset, 32, 2, QUICK_OVERRIDES)
    b = setup.batch
    one = lambda t: None if t is None else t[:1]  # noqa: E731
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        setup.G(one(b.x), one(b.target), one(b.fp), source_au=one(b.au), extra=one(b.target_extra))
    return counter.get_total_flops()


def test_helpers():
    assert {"baseline", "ganimation", "improved"} <= set(available_presets())
    calls = []
    times = timed(lambda: calls.append(1), warmup=2, repeats=4)
    assert len(times) == 4 and len(calls) == 6
    assert len(timed(lambda: None, warmup=0, repeats=10, budget_s=0.0)) == 2  # budget stops after two
    assert len(timed(lambda: time.sleep(0.01), warmup=1, repeats=10, budget_s=0.001)) == 1  # slow: after one
    with PeakRSS() as mem:
        block = bytearray(64 * 2 ** 20)
        block[::4096] = b"x" * len(block[::4096])
    assert mem.mb > 32
