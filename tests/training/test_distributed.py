"""Distributed helpers: single-process no-ops and a 2-process gloo run (collectives, the data-parallel helpers)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from aucgan.errors import AucganError
from aucgan.training import distributed as du
from aucgan.training.ema import EMA

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@pytest.fixture
def single_process(monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)


def test_single_process_helpers_are_no_ops(single_process):
    info = du.init_distributed()
    assert (info.rank, info.world_size, info.local_rank) == (0, 1, 0)
    assert du.get_rank() == 0 and du.get_world_size() == 1
    assert du.reduce_dict({"a": 1.5, "b": 2}) == {"a": 1.5, "b": 2.0}
    assert du.broadcast_object({"x": [1]}) == {"x": [1]}
    assert du.all_gather_object(3) == [3]
    model = nn.Linear(3, 2)
    before = [p.detach().clone() for p in model.parameters()]
    model(torch.ones(1, 3)).sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    du.broadcast_module(model)
    du.sync_gradients(model, 1)
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), before))
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
    assert du.replica_divergence(model) == 0.0
    du.cleanup()


def test_bad_environment_is_a_clear_error(single_process, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(AucganError, match="MASTER_ADDR is not set"):
        du.init_distributed()
    monkeypatch.setenv("RANK", "two")
    with pytest.raises(AucganError, match="RANK='two'"):
        du.init_distributed()
    monkeypatch.setenv("RANK", "5")
    with pytest.raises(AucganError, match="outside"):
        du.init_distributed()
    assert not du.is_initialized()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    info = du.init_distributed(backend="gloo")
    result = {"rank": info.rank, "world": info.world_size, "device": str(info.device),
              "helpers": [du.get_rank(), du.get_world_size()]}
    result["avg"] = du.reduce_dict({"loss": float(rank + 1), "acc": 10.0 * rank})
    result["sum"] = du.reduce_dict({"n": 1.0}, average=False)
    result["bcast"] = du.broadcast_object({"run": f"runs/0000{rank}"})
    result["objects"] = du.all_gather_object(rank * 2)
    # the data-parallel helpers of the training loop
    torch.manual_seed(rank)  # replicas start different ...
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 1))
    net[1].running_mean.fill_(float(rank))
    result["diverged"] = du.replica_divergence(net) > 0
    du.broadcast_module(net)  # ... until rank 0's parameters and buffers are copied to every rank
    result["net"] = [t.flatten().tolist() for t in list(net.parameters()) + list(net.buffers())]
    result["after_broadcast"] = du.replica_divergence(net)
    for i, p in enumerate(net.parameters()):
        p.grad = None if i == 1 else torch.full_like(p, float(rank + 1))  # one grad missing on every rank
    du.sync_gradients(net, world)
    result["grads"] = [p.grad.flatten().tolist() for p in net.parameters()]
    with torch.no_grad():
        net[0].weight[0, 0] += 0.25 * rank
    result["drift"] = du.replica_divergence(net)
    torch.manual_seed(0)
    model = nn.Linear(3, 1)
    ddp = nn.parallel.DistributedDataParallel(model)
    ema = EMA(ddp, decay=0.5)
    torch.manual_seed(rank)
    ddp(torch.randn(4, 3)).pow(2).mean().backward()
    with torch.no_grad():
        for p in ddp.parameters():
            p -= 0.1 * p.grad
    ema.update(ddp)
    result["ema_keys"] = sorted(ema.module.state_dict())
    result["ema_weight"] = ema.module.weight.flatten().tolist()
    torch.distributed.barrier()
    du.cleanup()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))


def test_two_process_gloo_run(tmp_path, monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert (r0["rank"], r0["world"], r1["rank"], r1["world"]) == (0, 2, 1, 2)
    assert r0["helpers"] == [0, 2] and r1["helpers"] == [1, 2]
    assert r0["device"] == r1["device"] == "cpu"
    assert r0["avg"] == r1["avg"] == {"acc": 5.0, "loss": 1.5}
    assert r0["sum"] == r1["sum"] == {"n": 2.0}
    assert r0["bcast"] == r1["bcast"] == {"run": "runs/00000"}
    assert r0["objects"] == r1["objects"] == [0, 2]
    assert r0["diverged"] and r1["diverged"]
    assert r0["net"] == r1["net"] and r0["after_broadcast"] == r1["after_broadcast"] == 0.0
    for i, (g0, g1) in enumerate(zip(r0["grads"], r1["grads"])):
        assert g0 == g1 == [0.0 if i == 1 else 1.5] * len(g0)  # averaged; a missing grad counts as zeros
    assert r0["drift"] == r1["drift"] == pytest.approx(0.25)
    assert r0["ema_keys"] == r1["ema_keys"] == ["bias", "weight"]  # no DDP "module." prefix
    assert r0["ema_weight"] == r1["ema_weight"]  # DDP averaged the gradients, so replicas agree
