"""Independent jobs here or in spawned processes: the same results, in order."""

from __future__ import annotations

from aucgan.training.parallel import job_threads, run_spawned


def test_spawned_jobs_give_the_results_of_running_them_here():
    argsets = [(2, 3), (3, 2), (5, 1)]
    done = []
    assert run_spawned(pow, argsets, 1, on_done=lambda i, r: done.append((i, r))) == [8, 9, 5]
    assert done == [(0, 8), (1, 9), (2, 5)]
    seen = []
    assert run_spawned(pow, argsets, 2, on_done=lambda i, r: seen.append((i, r))) == [8, 9, 5]
    assert sorted(seen) == [(0, 8), (1, 9), (2, 5)]


def test_threads_share_out_the_cores():
    assert job_threads(1) >= 1 and job_threads(10_000) == 1
