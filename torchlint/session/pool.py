"""Spreading per-file work over processes (forked where the platform can: the job, with the
linter and the project's facts, is then shared copy-on-write instead of pickled)."""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, TypeVar

from torchlint.session.files import file_size

R = TypeVar("R")
Item = tuple[str, Any]  # (path, per-file argument)

# A process pays for its start-up (imports, catalog) on each run: below this many files per
# process one process is faster.
MIN_FILES_PER_JOB = 8
_WORKER: tuple[Callable, Any] | None = None


def run_jobs(fn: Callable[[Any, str, Any], R], job: Any, items: list[Item], jobs: int,
             progress: Callable[[int, int], None] | None = None) -> list[R]:
    """`fn(job, path, arg)` for each `(path, arg)` of `items`, on up to `jobs` processes;
    `progress(done, total)` as they finish. The results come in no particular order."""
    tick = progress or (lambda done, total: None)
    jobs = max(1, min(jobs, len(items) // MIN_FILES_PER_JOB))
    if jobs == 1:
        results = []
        for path, arg in items:
            results.append(fn(job, path, arg))
            tick(len(results), len(items))
        return results
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # Big files first: the slowest file should not start last.
    order = sorted(items, key=lambda item: file_size(item[0]), reverse=True)
    try:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(fn, job)) as pool:
            results = []
            for result in pool.map(_in_worker, order, chunksize=max(1, min(16, len(order) // (jobs * 8)))):
                results.append(result)
                tick(len(results), len(order))
            return results
    except BrokenProcessPool:
        # A worker died (killed for memory, a crash in a C extension): finish in this process,
        # where the cache makes the files already done cheap.
        print("torchlint: a worker process died; continuing in one process", file=sys.stderr)
        return [fn(job, path, arg) for path, arg in items]


def _init_worker(fn: Callable, job: Any) -> None:
    global _WORKER
    _WORKER = (fn, job)


def _in_worker(item: Item) -> Any:
    fn, job = _WORKER
    path, arg = item
    return fn(job, path, arg)

