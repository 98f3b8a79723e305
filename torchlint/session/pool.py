"""Spreading per-file work over processes (forked where the platform can: the job, with the
linter and the project's facts, is then shared copy-on-write instead of pickled).

A worker that dies (killed for memory, a crash in a C extension) costs only the file it was
on: the files the dead pool held run again one process each, the files it had not been given
go to a fresh pool, and the file whose process dies is handed to `crashed` with the cause.
Nothing is retried in this process."""

from __future__ import annotations

import multiprocessing
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import connection
from typing import Any, Callable, TypeVar

from torchlint.session.files import file_size

R = TypeVar("R")
Item = tuple[str, Any]  # (path, per-file argument)
Crashed = Callable[[str, Any, str], Any]  # (path, argument, cause) -> the file's result

# A process pays for its start-up (imports, catalog) on each run: below this many files per
# process one process is faster.
MIN_FILES_PER_JOB = 8
_WORKER: tuple[Callable, Any] | None = None


def run_jobs(fn: Callable[[Any, str, Any], R], job: Any, items: list[Item], jobs: int,
             progress: Callable[[int, int], None] | None = None, crashed: Crashed | None = None) -> list[R]:
    """`fn(job, path, arg)` for each `(path, arg)` of `items`, on up to `jobs` processes;
    `progress(done, total)` as they finish. The results come in no particular order. A file
    whose worker process dies gets `crashed(path, arg, cause)` as its result."""
    tick = progress or (lambda done, total: None)
    jobs = max(1, min(jobs, len(items) // MIN_FILES_PER_JOB))
    if jobs == 1:
        results = []
        for path, arg in items:
            results.append(fn(job, path, arg))
            tick(len(results), len(items))
        return results
    # Big files first: the slowest file should not start last.
    order = sorted(items, key=lambda item: file_size(item[0]), reverse=True)
    size = max(1, min(16, len(order) // (jobs * 8)))
    chunks = [order[i:i + size] for i in range(0, len(order), size)]
    results: list = []
    for result in _pooled(fn, job, chunks, jobs, crashed or _no_result):
        results.append(result)
        tick(len(results), len(order))
    return results


def _pooled(fn: Callable, job: Any, chunks: list[list[Item]], jobs: int, crashed: Crashed):
    """The results of `chunks` from a pool that holds at most a few chunks per worker at a
    time: when a worker dies, only those chunks are suspect (their files run one process
    each); the chunks not yet handed out go to a fresh pool."""
    window = jobs * 2
    pool = ProcessPoolExecutor(jobs, mp_context=_context(), initializer=_init_worker, initargs=(fn, job))
    waiting = list(reversed(chunks))
    running: dict[Any, list[Item]] = {}
    try:
        while waiting or running:
            while waiting and len(running) < window:
                chunk = waiting.pop()
                running[pool.submit(_in_worker, chunk)] = chunk
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                batch = future.result()  # a dead worker: BrokenProcessPool, the chunk still in `running`
                del running[future]
                yield from batch
        pool.shutdown()
    except KeyboardInterrupt:
        _abandon(pool)  # Ctrl-C: the workers are stopped, not waited for
        raise
    except BrokenProcessPool:
        pool.shutdown(wait=False, cancel_futures=True)
        suspects = []
        for future, chunk in running.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                yield from future.result()  # came back before the break
            else:
                suspects += chunk
        n = len(suspects)
        print(f"torchlint: a worker process died; the {n} file{'s' if n != 1 else ''} it held run one process "
              "each, the others in a fresh pool", file=sys.stderr)
        yield from isolated(fn, job, suspects, jobs, crashed)
        if waiting:
            yield from _pooled(fn, job, list(reversed(waiting)), jobs, crashed)


def isolated(fn: Callable[[Any, str, Any], R], job: Any, items: list[Item], jobs: int, crashed: Crashed):
    """`fn(job, path, arg)` for each item in a process of its own, up to `jobs` at a time;
    yields each result as it comes, `crashed(path, arg, cause)` where the process dies."""
    context = _context()
    pending = list(reversed(items))
    running: dict[Any, tuple[Any, str, Any]] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                path, arg = pending.pop()
                receive, send = context.Pipe(duplex=False)
                process = context.Process(target=_one, args=(send, fn, job, path, arg), daemon=True)
                process.start()
                send.close()
                running[receive] = (process, path, arg)
            for conn in connection.wait(list(running)):
                process, path, arg = running.pop(conn)
                try:
                    outcome = conn.recv()
                except (EOFError, OSError):
                    outcome = None
                conn.close()
                process.join()
                if isinstance(outcome, _Done):
                    yield outcome.result
                else:
                    yield crashed(path, arg, outcome.cause if isinstance(outcome, _Failed) else cause_of(process.exitcode))
    finally:  # Ctrl-C, or the caller stopped early: no process outlives the run
        for process, _, _ in running.values():
            process.kill()
            process.join(1)


class _Done:
    def __init__(self, result: Any):
        self.result = result


class _Failed:
    def __init__(self, cause: str):
        self.cause = cause


def _one(send: Any, fn: Callable, job: Any, path: str, arg: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    try:
        outcome: Any = _Done(fn(job, path, arg))
    except BaseException as exc:  # fn reports its own failures; anything else is a crash of ours
        outcome = _Failed(f"raised {type(exc).__name__}: {exc}")
    send.send(outcome)
    send.close()


def cause_of(exitcode: int | None) -> str:
    """Why a process ended, in words."""
    if exitcode is None:
        return "it did not finish"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            return f"killed by signal {-exitcode}"
        hint = {"SIGKILL": ": out of memory, or killed", "SIGABRT": ": aborted, e.g. out of memory in the parser",
                "SIGSEGV": ": a crash in native code"}.get(name, "")
        return f"killed by {name} (signal {-exitcode}){hint}"
    return f"exited with status {exitcode}"


def _no_result(path: str, arg: Any, cause: str) -> None:
    return None


def _context() -> Any:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _abandon(pool: ProcessPoolExecutor) -> None:
    """Stop a pool's workers now (their work is dropped) and let the pool go."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.kill()
    for process in processes:
        process.join(1)
    pool.shutdown(wait=False, cancel_futures=True)


def _init_worker(fn: Callable, job: Any) -> None:
    global _WORKER
    _WORKER = (fn, job)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle


def _in_worker(chunk: list[Item]) -> list:
    fn, job = _WORKER
    return [fn(job, path, arg) for path, arg in chunk]
