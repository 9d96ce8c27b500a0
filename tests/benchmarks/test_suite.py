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
        assert r["train_images_per_s"] > 0 and r["flops_per_image"] > 0 and 0 < r["mfu"]
        assert r["achieved_gflops"] == pytest.approx(r["mfu"] * res["peak"]["gflops_median"], rel=0.02, abs=0.01)
        assert 0 < r["mfu_local"] and r["local_peak_gflops"] > 0
        assert r["peak_mem_mb"] >= 0 and r["infer_ms_per_map_b1"] > 0 and r["infer_ms_per_map_b16"] > 0
    assert rows["ganimation"]["n_critic"] == 5  # 1 + 5 batches per step enter its images/s
    (d,) = res["data"]
    assert d["synth_samples_per_s"] > 0 and d["batch_samples_per_s"] > 0 and d["synth_vs_improved_training"] > 0
    table = capsys.readouterr().out
    assert "MFU" in table and "improved" in table and f"wrote {out}" in table


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
