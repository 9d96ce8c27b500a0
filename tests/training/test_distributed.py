"""Distributed helpers: single-process no-ops, seeding, the infinite sampler and a 2-process gloo run."""

from __future__ import annotations

import json
import os
import socket
from itertools import islice
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
    assert (info.rank, info.world_size, info.local_rank, info.is_main) == (0, 1, 0, True)
    assert du.get_rank() == 0 and du.get_world_size() == 1 and du.is_main()
    du.barrier()
    assert du.reduce_dict({"a": 1.5, "b": 2}) == {"a": 1.5, "b": 2.0}
    assert du.broadcast_object({"x": [1]}) == {"x": [1]}
    assert du.all_gather_object(3) == [3]
    t = torch.arange(4)
    assert torch.equal(du.all_gather_tensor(t), t)
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


def test_seed_everything_is_per_rank_and_repeatable():
    import random

    import numpy as np

    def draw(seed, rank):
        s = du.seed_everything(seed, rank)
        return s, torch.rand(3).tolist(), np.random.rand(2).tolist(), random.random()

    assert draw(1, 0) == draw(1, 0)
    assert draw(1, 0) != draw(1, 1)
    assert draw(1, 1)[0] != draw(2, 0)[0]  # (seed, rank) pairs do not collide like seed + rank would


@pytest.mark.parametrize("shuffle", [False, True])
def test_sampler_ranks_interleave_to_the_single_process_stream(shuffle):
    n, world = 10, 3
    single = list(islice(du.InfiniteSampler(n, 0, 1, shuffle=shuffle, seed=4), 90))
    for rank in range(world):
        mine = list(islice(du.InfiniteSampler(n, rank, world, shuffle=shuffle, seed=4), 30))
        assert mine == single[rank::world]
    assert list(islice(du.InfiniteSampler(n, shuffle=shuffle, seed=4), 90)) == single


def test_sampler_first_pass_is_a_disjoint_cover_without_window():
    n, world = 12, 2
    shards = [list(islice(du.InfiniteSampler(n, r, world, shuffle=True, seed=1, window=0.0), n // world))
              for r in range(world)]
    assert set(shards[0]).isdisjoint(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(n))
    assert shards[0] != sorted(shards[0]) or shards[1] != sorted(shards[1])  # actually shuffled


def test_sampler_seed_start_and_errors():
    a = list(islice(du.InfiniteSampler(20, seed=0), 40))
    b = list(islice(du.InfiniteSampler(20, seed=1), 40))
    assert a != b
    assert list(islice(du.InfiniteSampler(20, seed=0, start=15), 25)) == a[15:]
    assert list(islice(du.InfiniteSampler(range(5), shuffle=False), 7)) == [0, 1, 2, 3, 4, 0, 1]
    with pytest.raises(AucganError, match="non-empty"):
        du.InfiniteSampler(0)
    with pytest.raises(AucganError, match="rank 2"):
        du.InfiniteSampler(5, rank=2, world_size=2)


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
              "helpers": [du.get_rank(), du.get_world_size(), du.is_main()]}
    result["avg"] = du.reduce_dict({"loss": float(rank + 1), "acc": 10.0 * rank})
    result["sum"] = du.reduce_dict({"n": 1.0}, average=False)
    result["bcast"] = du.broadcast_object({"run": f"runs/0000{rank}"})
    result["objects"] = du.all_gather_object(rank * 2)
    result["gathered"] = du.all_gather_tensor(torch.full((2,), float(rank))).tolist()
    result["indices"] = list(islice(du.InfiniteSampler(16, info.rank, info.world_size, seed=3), 40))
    no_window = du.InfiniteSampler(16, info.rank, info.world_size, seed=3, window=0)
    result["first_pass"] = list(islice(no_window, 8))
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
    du.barrier()
    du.cleanup()
    Path(out_dir, f"rank{rank}.json").write_text(json.dumps(result))


def test_two_process_gloo_run(tmp_path, monkeypatch):
    for var in TORCHRUN_VARS:
        monkeypatch.delenv(var, raising=False)
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert (r0["rank"], r0["world"], r1["rank"], r1["world"]) == (0, 2, 1, 2)
    assert r0["helpers"] == [0, 2, True] and r1["helpers"] == [1, 2, False]
    assert r0["device"] == r1["device"] == "cpu"
    assert r0["avg"] == r1["avg"] == {"acc": 5.0, "loss": 1.5}
    assert r0["sum"] == r1["sum"] == {"n": 2.0}
    assert r0["bcast"] == r1["bcast"] == {"run": "runs/00000"}
    assert r0["objects"] == r1["objects"] == [0, 2]
    assert r0["gathered"] == r1["gathered"] == [0.0, 0.0, 1.0, 1.0]
    single = list(islice(du.InfiniteSampler(16, 0, 1, seed=3), 80))
    assert r0["indices"] == single[0::2] and r1["indices"] == single[1::2]
    assert set(r0["first_pass"]).isdisjoint(r1["first_pass"])
    assert sorted(r0["first_pass"] + r1["first_pass"]) == list(range(16))
    assert r0["ema_keys"] == r1["ema_keys"] == ["bias", "weight"]  # no DDP "module." prefix
    assert r0["ema_weight"] == r1["ema_weight"]  # DDP averaged the gradients, so replicas agree
