"""Independent jobs on one machine (ablation variants, the demo's AU estimators), in spawned processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any


def job_threads(workers: int) -> int:
    """Torch threads for each of ``workers`` jobs that share this machine's cores (at least 1): on a CPU, two
    single-thread runs use 2 cores better than one 2-thread run (docs/performance.md)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def job_progress(quiet: bool, apart: bool) -> str:
    """The ``progress`` mode of a training job: ``"off"`` when quiet; ``"lines"`` (periodic lines labelled with
    the run's name) for jobs in spawned processes that share one terminal; else ``"auto"`` (a bar on a
    terminal, lines in a log)."""
    return "off" if quiet else ("lines" if apart else "auto")


def run_spawned(fn: Callable[..., Any], argsets: Sequence[tuple], workers: int,
                on_done: Callable[[int, Any], None] | None = None,
                on_start: Callable[[int], None] | None = None) -> list[Any]:
    """``fn(*args)`` for each ``args`` of ``argsets``, results in their order: here, one at a time, when
    ``workers`` <= 1; else up to ``workers`` at once in spawned processes (fresh interpreters that inherit no
    thread pools or locks; ``fn`` and its arguments must pickle). ``on_start(i)`` as job ``i`` starts (a job is
    handed to a process only when one is free, so this is when it really starts), ``on_done(i, result)`` as it
    finishes."""
    results: list[Any] = [None] * len(argsets)
    if workers <= 1 or len(argsets) <= 1:
        for i, args in enumerate(argsets):
            if on_start is not None:
                on_start(i)
            results[i] = fn(*args)
            if on_done is not None:
                on_done(i, results[i])
        return results
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    width = min(workers, len(argsets))
    with ProcessPoolExecutor(max_workers=width, mp_context=get_context("spawn")) as pool:
        queue, running = list(range(len(argsets))), {}

        def submit() -> None:
            i = queue.pop(0)
            if on_start is not None:
                on_start(i)
            running[pool.submit(fn, *argsets[i])] = i

        while queue and len(running) < width:
            submit()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                i = running.pop(fut)
                results[i] = fut.result()
                if on_done is not None:
                    on_done(i, results[i])
                if queue:
                    submit()
    return results
