"""Multi-process helpers that are no-ops in a single process (rosinality's ``distributed.py``, stylegan3's
``InfiniteSampler``). Launch with ``torchrun --nproc_per_node=N``; ranks come from the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, Sized
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from aucgan.errors import AucganError


class DistributedError(AucganError, RuntimeError):
    """A malformed torchrun environment or a failed process-group set-up."""


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank, world size, local rank and the device it should use."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise DistributedError(f"environment variable {name}={value!r} is not an integer") from None


def is_initialized() -> bool:
    """Whether a process group is up (False in a plain single process)."""
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return get_rank() == 0


def _comm_device() -> torch.device:
    """Where collective tensors must live: the current CUDA device under NCCL, else the CPU."""
    if is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def init_distributed(backend: str | None = None, timeout_s: float = 1800.0) -> DistInfo:
    """Join the process group described by torchrun's environment, or describe a single process.

    With ``WORLD_SIZE`` > 1 this initialises ``torch.distributed`` (once; later calls return the same info)
    with ``backend`` (default: ``nccl`` when CUDA is available, else ``gloo``) and, under NCCL, binds the
    process to ``cuda:LOCAL_RANK``. Single process: rank 0 of 1 on the CUDA device if any, else the CPU.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    if world <= 1 and not is_initialized():
        device = torch.device("cuda", 0) if torch.cuda.is_available() else torch.device("cpu")
        return DistInfo(0, 1, 0, device)
    if not 0 <= rank < world:
        raise DistributedError(f"RANK={rank} is outside 0..WORLD_SIZE-1={world - 1}")
    if not is_initialized():
        for var in ("MASTER_ADDR", "MASTER_PORT"):
            if not os.environ.get(var):
                raise DistributedError(f"WORLD_SIZE={world} but {var} is not set; launch with torchrun")
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, init_method="env://", rank=rank, world_size=world,
                                timeout=timedelta(seconds=timeout_s))
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, device)


def barrier() -> None:
    if get_world_size() > 1:
        dist.barrier()


def cleanup() -> None:
    """Leave the process group (no-op when none is up)."""
    if is_initialized():
        dist.destroy_process_group()


def reduce_dict(d: Mapping[str, float], average: bool = True) -> dict[str, float]:
    """Sum (or average) a dict of scalars over all ranks; every rank must pass the same keys.

    Keys are processed in sorted order, so dict order may differ between ranks.
    """
    if get_world_size() <= 1:
        return {k: float(v) for k, v in d.items()}
    keys = sorted(d)
    values = torch.tensor([float(d[k]) for k in keys], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(values)
    if average:
        values /= get_world_size()
    return dict(zip(keys, values.cpu().tolist()))


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``src``'s ``obj`` on every rank (any picklable object; returned unchanged in one process)."""
    if get_world_size() <= 1:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src, device=_comm_device())
    return box[0]


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if get_world_size() <= 1:
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def all_gather_tensor(t: torch.Tensor) -> torch.Tensor:
    """Every rank's tensor concatenated along dim 0, in rank order (all ranks must pass the same shape)."""
    if get_world_size() <= 1:
        return t
    device = _comm_device()
    local = t.detach().to(device).contiguous()
    parts = [torch.empty_like(local) for _ in range(get_world_size())]
    dist.all_gather(parts, local)
    return torch.cat(parts, dim=0).to(t.device)


def rank_seed(seed: int, rank: int = 0) -> int:
    """A 32-bit seed derived from (seed, rank): distinct per rank, identical across runs."""
    return int(np.random.SeedSequence([int(seed), int(rank)]).generate_state(1)[0])


def seed_everything(seed: int, rank: int = 0) -> int:
    """Seed torch (CPU and CUDA), numpy and python ``random`` with :func:`rank_seed`; return that seed."""
    s = rank_seed(seed, rank)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    return s


class InfiniteSampler(torch.utils.data.Sampler):
    """An endless, deterministic stream of dataset indices sharded over ranks (stylegan3's sampler).

    The order is a permutation from ``seed``; after each index, the element is swapped with one at most
    ``window`` (a fraction of the data set) positions earlier, so later passes are reshuffled gradually.
    Global position ``i`` of the stream goes to rank ``i % world_size``: the ranks' streams interleave to
    exactly the single-process stream, and no two ranks read the same position. ``start`` skips that many
    of this rank's indices (resume).
    """

    def __init__(self, dataset_len: int | Sized, rank: int = 0, world_size: int = 1, shuffle: bool = True,
                 seed: int = 0, window: float = 0.5, start: int = 0) -> None:
        n = dataset_len if isinstance(dataset_len, int) else len(dataset_len)
        if n <= 0:
            raise AucganError("InfiniteSampler needs a non-empty data set")
        if world_size < 1 or not 0 <= rank < world_size:
            raise AucganError(f"InfiniteSampler: rank {rank} is outside 0..{world_size - 1}")
        if not 0.0 <= window <= 1.0:
            raise AucganError(f"InfiniteSampler: window must be a fraction in [0, 1], got {window}")
        super().__init__()
        self.n, self.rank, self.world_size = n, rank, world_size
        self.shuffle, self.seed, self.window, self.start = shuffle, seed, window, start

    def __iter__(self) -> Iterator[int]:
        order = np.arange(self.n)
        rnd = None
        window = 0
        if self.shuffle:
            rnd = np.random.RandomState(self.seed)
            rnd.shuffle(order)
            window = int(np.rint(order.size * self.window))
        idx, yielded = 0, 0
        while True:
            i = idx % order.size
            if idx % self.world_size == self.rank:
                if yielded >= self.start:
                    yield int(order[i])
                yielded += 1
            if window >= 2:
                j = (i - rnd.randint(window)) % order.size
                order[i], order[j] = order[j], order[i]
            idx += 1
