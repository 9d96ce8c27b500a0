"""Checkpoints: round trips, exact resume, atomicity, pruning and restricted (pickle-free) loading."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch
from torch import nn

from aucgan.errors import AucganError
from aucgan.rundir import checkpoints as ckpt_mod
from aucgan.rundir.checkpoints import (
    is_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    read_checkpoint_meta,
    save_checkpoint,
)
from aucgan.training.ema import EMA


def tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.BatchNorm1d(16), nn.Dropout(0.2), nn.Tanh(), nn.Linear(16, 1))


def train(model: nn.Module, opt: torch.optim.Optimizer, ema: EMA, steps: int) -> list[float]:
    """Steps drawing data from the global torch/numpy/python RNGs (and dropout), so RNG state matters."""
    losses = []
    for _ in range(steps):
        x = torch.randn(8, 4)
        y = x.sum(1, keepdim=True) + float(np.random.randn()) + random.random()
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(model)
        losses.append(float(loss.detach()))
    return losses


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], torch.Tensor):
            assert isinstance(b[k], torch.Tensor) and a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]), k
        elif isinstance(a[k], dict):
            assert_same_state(a[k], b[k])
        else:
            assert a[k] == b[k] and type(a[k]) is type(b[k]), k


@pytest.mark.parametrize("opt_cls", [torch.optim.Adam, torch.optim.AdamW])
def test_round_trip_of_weights_and_optimizer_state(tmp_path, opt_cls):
    model = tiny(0)
    opt = opt_cls(model.parameters(), lr=1e-3, betas=(0.5, 0.99), weight_decay=0.01)
    ema = EMA(model, decay=0.9)
    train(model, opt, ema, 3)
    path = save_checkpoint(tmp_path / "checkpoints", {"G": model, "G_ema": ema.module}, {"opt_g": opt},
                           {"step": 3, "config": {"lr": 1e-3, "name": "x"}})
    assert path == tmp_path / "checkpoints" / "step-000003"
    assert sorted(p.name for p in path.iterdir()) == [
        "G.safetensors", "G_ema.safetensors", "meta.json", "optim-opt_g.json", "optim-opt_g.safetensors",
        "rng.json", "rng.safetensors"]

    model2 = tiny(5)
    opt2 = opt_cls(model2.parameters(), lr=0.5)
    ema2 = EMA(model2)
    meta = load_checkpoint(path, {"G": model2, "G_ema": ema2.module}, {"opt_g": opt2}, restore_rng=False)
    assert meta == {"step": 3, "config": {"lr": 1e-3, "name": "x"}}
    assert_same_state(model.state_dict(), model2.state_dict())
    assert_same_state(ema.module.state_dict(), ema2.module.state_dict())
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    assert isinstance(s2["param_groups"][0]["betas"], tuple)
    assert s1["state"].keys() == s2["state"].keys()
    for pid in s1["state"]:
        assert_same_state(s1["state"][pid], s2["state"][pid])
        assert s2["state"][pid]["step"].dim() == 0  # Adam's step counter stays a tensor


def test_resume_from_a_checkpoint_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    seed_all(0)
    ref = tiny(0)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    ref_ema = EMA(ref, decay=0.9, warmup=4)
    ref_losses = train(ref, ref_opt, ref_ema, 10)

    seed_all(0)
    first = tiny(0)
    first_opt = torch.optim.Adam(first.parameters(), lr=1e-2)
    first_ema = EMA(first, decay=0.9, warmup=4)
    losses = train(first, first_opt, first_ema, 5)
    save_checkpoint(tmp_path / "checkpoints", {"G": first, "G_ema": first_ema.module}, {"opt": first_opt},
                    {"step": 5, "ema_updates": first_ema.num_updates})
    del first, first_opt, first_ema

    seed_all(123)  # a new process: other initial weights and RNG states
    torch.rand(17)
    model = tiny(7)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    ema = EMA(model, decay=0.9, warmup=4)
    meta = load_checkpoint(latest_checkpoint(tmp_path), {"G": model, "G_ema": ema.module}, {"opt": opt})
    ema.num_updates = meta["ema_updates"]
    losses += train(model, opt, ema, 5)

    assert losses == ref_losses
    assert_same_state(ref.state_dict(), model.state_dict())
    assert_same_state(ref_ema.module.state_dict(), ema.module.state_dict())
    assert_same_state(ref_opt.state_dict()["state"][0], opt.state_dict()["state"][0])


def test_restore_rng_continues_every_global_generator(tmp_path):
    seed_all(3)
    torch.rand(5)
    save_checkpoint(tmp_path, {}, {}, {"step": 0})
    expected = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    seed_all(99)
    load_checkpoint(latest_checkpoint(tmp_path), {})
    got = (torch.rand(4), np.random.rand(4), [random.random() for _ in range(4)])
    assert torch.equal(expected[0], got[0])
    assert np.array_equal(expected[1], got[1])
    assert expected[2] == got[2]


def test_crash_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model, root = tiny(0), tmp_path / "checkpoints"
    opt = torch.optim.Adam(model.parameters())
    good = save_checkpoint(root, {"G": model}, {"opt": opt}, {"step": 1})
    before = {p.name: p.read_bytes() for p in good.iterdir()}

    def crash(folder):
        raise RuntimeError("disk full")

    monkeypatch.setattr(ckpt_mod, "_capture_rng", crash)  # fails after the weights were written
    with torch.no_grad():
        model[0].weight.add_(1.0)
    with pytest.raises(RuntimeError, match="disk full"):
        save_checkpoint(root, {"G": model}, {"opt": opt}, {"step": 2})
    assert latest_checkpoint(tmp_path) == good
    assert list_checkpoints(tmp_path) == [good]
    assert sorted(p.name for p in root.iterdir()) == ["latest", "step-000001"]
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before

    monkeypatch.undo()
    (root / ".tmp-step-000002-killed").mkdir()  # what a killed process leaves behind
    (root / "step-000005").mkdir()  # a folder without meta.json is not a checkpoint
    assert latest_checkpoint(tmp_path) == good and list_checkpoints(tmp_path) == [good]
    new = save_checkpoint(root, {"G": model}, {"opt": opt}, {"step": 2})
    assert latest_checkpoint(tmp_path) == new
    assert not (root / ".tmp-step-000002-killed").exists()


def test_keep_prunes_oldest_and_resaving_a_step_replaces_it(tmp_path):
    model = tiny(0)
    for step in (10, 20, 30, 40):
        save_checkpoint(tmp_path / "checkpoints", {"G": model}, {}, {"step": step}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-000030", "step-000040"]
    with torch.no_grad():
        model[0].bias.fill_(0.25)
    again = save_checkpoint(tmp_path / "checkpoints", {"G": model}, {}, {"step": 40, "note": "again"}, keep=2)
    other = tiny(1)
    assert load_checkpoint(again, {"G": other}, restore_rng=False)["note"] == "again"
    assert torch.equal(other[0].bias, torch.full((16,), 0.25))
    for step in (50, 60):
        save_checkpoint(tmp_path / "checkpoints", {"G": model}, {}, {"step": step}, keep=None)
    assert len(list_checkpoints(tmp_path)) == 4


def test_latest_checkpoint_accepts_run_dir_checkpoints_dir_or_a_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    path = save_checkpoint(tmp_path / "checkpoints", {"G": tiny()}, {}, {}, step=7)
    assert latest_checkpoint(tmp_path) == path
    assert latest_checkpoint(tmp_path / "checkpoints") == path
    assert latest_checkpoint(path) == path
    assert is_checkpoint(path) and not is_checkpoint(tmp_path)
    assert read_checkpoint_meta(path)["versions"]["torch"] == torch.__version__


def test_tied_weights_are_saved(tmp_path):
    model = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    model[1].weight = model[0].weight
    path = save_checkpoint(tmp_path, {"G": model}, {}, {"step": 0})
    other = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    load_checkpoint(path, {"G": other}, restore_rng=False)
    assert torch.equal(other[1].weight, model[0].weight)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model = tiny(0)
    opt = torch.optim.Adam(model.parameters())
    train(model, opt, EMA(model), 1)
    path = save_checkpoint(tmp_path, {"G": model}, {"opt": opt}, {"step": 1})

    def refuse(*args, **kwargs):
        raise AssertionError("unpickling attempted")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    other = tiny(1)
    load_checkpoint(path, {"G": other}, {"opt": torch.optim.Adam(other.parameters())})
    assert torch.equal(other[0].weight, model[0].weight)


def test_clear_errors_for_foreign_or_mismatched_checkpoints(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(AucganError, match="not an aucgan checkpoint"):
        load_checkpoint(tmp_path / "plain", {"G": tiny()})
    (tmp_path / "plain" / "meta.json").write_text(json.dumps({"step": 3}))
    with pytest.raises(AucganError, match="format"):
        load_checkpoint(tmp_path / "plain", {"G": tiny()})
    with pytest.raises(AucganError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing", {"G": tiny()})

    model = tiny()
    path = save_checkpoint(tmp_path / "run" / "checkpoints", {"G": model}, {"opt": torch.optim.Adam(
        model.parameters())}, {"step": 1})
    with pytest.raises(AucganError, match="latest_checkpoint"):
        load_checkpoint(tmp_path / "run", {"G": tiny()})
    with pytest.raises(AucganError, match=r"no module D .*it has: G"):
        load_checkpoint(path, {"D": tiny()})
    with pytest.raises(AucganError, match=r"missing keys: 5\.weight, 5\.bias"):
        load_checkpoint(path, {"G": nn.Sequential(*tiny(), nn.Linear(1, 1))})
    with pytest.raises(AucganError, match=r"unexpected keys: 4\.bias, 4\.weight"):
        load_checkpoint(path, {"G": nn.Sequential(*list(tiny())[:4])})
    wide = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.2), nn.Tanh(), nn.Linear(8, 1))
    with pytest.raises(AucganError, match=r"shape mismatch: 0\.weight \(16, 4\) vs module \(8, 4\)"):
        load_checkpoint(path, {"G": wide})
    two_groups = tiny()
    opt2 = torch.optim.Adam([{"params": two_groups[0].parameters()}, {"params": two_groups[4].parameters()}])
    with pytest.raises(AucganError, match="parameter groups"):
        load_checkpoint(path, {"G": two_groups}, {"opt": opt2})
    (path / "G.safetensors").write_bytes(b"garbage")
    with pytest.raises(AucganError, match="unreadable safetensors"):
        load_checkpoint(path, {"G": tiny()})


def test_meta_must_be_json_and_names_must_be_safe(tmp_path):
    with pytest.raises(AucganError, match="JSON"):
        save_checkpoint(tmp_path, {"G": tiny()}, {}, {"step": 1, "bad": object()})
    with pytest.raises(AucganError, match="name"):
        save_checkpoint(tmp_path, {"G/../x": tiny()}, {}, {"step": 1})
    with pytest.raises(AucganError, match="step"):
        save_checkpoint(tmp_path, {"G": tiny()}, {}, {})
    assert list_checkpoints(tmp_path) == []
    assert not any(p.name.startswith(".tmp") for p in tmp_path.iterdir())
