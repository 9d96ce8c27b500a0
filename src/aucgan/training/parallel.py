"""Independent jobs on one machine (ablation variants, the demo's AU estimators), in spawned processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any


def job_threads(workers: int) -> int:
    """Torch threads for each of ``workers`` jobs that share this machine's cores (at least 1): on a CPU, two
    single-thread runs use 2 cores better than one 2-thread run (docs/performance.md)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_spawned(fn: Callable[..., Any], argsets: Sequence[tuple], workers: int,
                on_done: Callable[[int, Any], None] | None = None) -> list[Any]:
    """``fn(*args)`` for each ``args`` of ``argsets``, results in their order: here, one at a time, when
    ``workers`` <= 1; else up to ``workers`` at once in spawned processes (fresh interpreters that inherit no
    thread pools or locks; ``fn`` and its arguments must pickle). ``on_done(i, result)`` as each finishes."""
    results: list[Any] = [None] * len(argsets)
    if workers <= 1 or len(argsets) <= 1:
        for i, args in enumerate(argsets):
            results[i] = fn(*args)
            if on_done is not None:
                on_done(i, results[i])
        return results
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    with ProcessPoolExecutor(max_workers=min(workers, len(argsets)), mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(fn, *args): i for i, args in enumerate(argsets)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = fut.result()
            if on_done is not None:
                on_done(i, results[i])
    return results
