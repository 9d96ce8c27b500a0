"""Independent jobs here or in spawned processes: the same results, in order; a job starts when a process is
free, and the caller hears when each starts and finishes."""

from __future__ import annotations

from aucgan.training.parallel import job_progress, job_threads, run_spawned


def test_spawned_jobs_give_the_results_of_running_them_here():
    argsets = [(2, 3), (3, 2), (5, 1)]
    done = []
    assert run_spawned(pow, argsets, 1, on_done=lambda i, r: done.append((i, r))) == [8, 9, 5]
    assert done == [(0, 8), (1, 9), (2, 5)]
    events = []
    assert run_spawned(pow, argsets, 2, on_done=lambda i, r: events.append(("done", i, r)),
                       on_start=lambda i: events.append(("start", i))) == [8, 9, 5]
    assert sorted(e for e in events if e[0] == "done") == [("done", 0, 8), ("done", 1, 9), ("done", 2, 5)]
    assert events[:2] == [("start", 0), ("start", 1)]          # two processes: the third job waits for one
    running, most = 0, 0
    for e in events:
        running += 1 if e[0] == "start" else -1
        most = max(most, running)
    assert most == 2 and events.index(("start", 2)) > min(i for i, e in enumerate(events) if e[0] == "done")


def test_threads_share_out_the_cores():
    assert job_threads(1) >= 1 and job_threads(10_000) == 1


def test_progress_of_jobs_that_share_a_terminal():
    assert job_progress(quiet=False, apart=True) == "lines" and job_progress(quiet=False, apart=False) == "auto"
    assert job_progress(quiet=True, apart=True) == job_progress(quiet=True, apart=False) == "off"
