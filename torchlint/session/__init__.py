"""A run: discover files, prefilter them, build the project's facts, then lint (or fix) each
file through the cache and a process pool."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from torchlint.analysis.project import ProjectFacts
from torchlint.fixing import fix_file
from torchlint.lint import Linter
from torchlint.lint.notebook import NotebookError, is_notebook
from torchlint.lint.notebook import to_source as notebook_source
from torchlint.model import INTERNAL_ERROR, FileResult, Finding, FixMode, RunResult
from torchlint.session.cache import Cache, run_key
from torchlint.session.files import discover, prefilter
from torchlint.session.pool import run_jobs
from torchlint.session.project import build_facts
from torchlint.source import source_encoding

Progress = Callable[[int, int], None]


@dataclass
class Job:
    """What a worker needs besides the file's path (sent once per pool, not per file)."""

    linter: Linter
    cache: Cache | None
    fix: FixMode | None
    facts: ProjectFacts | None


def open_cache(linter: Linter, root: Path) -> Cache | None:
    """The cache for this linter's rules, parameters and ignores under `root` (None where it
    cannot be created, e.g. a read-only checkout: the run goes on without one)."""
    try:
        user = [r.path for r in linter.rules if not r.builtin]
        key = run_key([r.id for r in linter.rules], linter.params, linter.config.per_file_ignores, user,
                      {"vocabulary": linter.vocab.raw(), "roles": linter.config.roles})
        return Cache(root, key)
    except OSError:
        return None


def run(linter: Linter, paths: Iterable[str], jobs: int = 1, cache: Cache | None = None,
        fix: FixMode | None = None, progress: Progress | None = None) -> RunResult:
    """Lint `paths` (and fix them when `fix` is given); `jobs` > 1 spreads files over that many
    processes; `progress(done, total)` is called as files finish."""
    cfg = linter.config
    files = discover(paths, cfg.exclude, cfg.root, cfg.extend_include)
    limit = cfg.max_file_size
    skipped = [(f, _size(f)) for f in files if limit and _size(f) > limit] if limit else []
    too_big = {f for f, _ in skipped}
    facts, unparsable = build_facts(linter, [f for f in files if f not in too_big], cache, jobs)
    # Notebooks are JSON: their prefilters are tested on the code cells, in the worker.
    notebooks = {f for f in files if f not in too_big and is_notebook(f)}
    plan = prefilter([f for f in files if f not in too_big and f not in notebooks and f not in unparsable],
                     linter.prefilter_rules)
    plan.update(dict.fromkeys(notebooks))
    candidates = [f for f in files if f in plan]
    job = Job(linter, cache, fix, facts)
    results = run_jobs(lint_one, job, [(f, plan[f]) for f in candidates], jobs, progress)
    results += [FileResult(path, linter.infra(*finding)) for path, finding in sorted(unparsable.items())]
    kept = [r for r in results if r.findings or r.fixed or r.notes]
    return RunResult(kept, checked=len(files) - len(skipped), parsed=len(candidates), skipped=skipped)


def lint_one(job: Job, path: str, rules: list[str] | None = None) -> FileResult:
    """One file through the cache: linted, or fixed when the run fixes (never a notebook)."""
    linter, cache = job.linter, job.cache
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return linter.unreadable(path, exc.strerror or str(exc))
    facts = job.facts.for_file(path) if job.facts is not None else None
    cached = cache.get(path, data, facts) if cache is not None else None
    fixing = job.fix is not None and not is_notebook(path)
    if cached is not None and not (fixing and any(f.fixable(job.fix.unsafe) for f in cached)):
        return cached_result(path, data, cached)

    def remember(content: bytes, findings: list[Finding]) -> None:
        # A crash is not remembered: it may be fixed by then.
        if cache is not None and not any(f.rule == INTERNAL_ERROR for f in findings):
            cache.put(path, content, findings, facts)

    if fixing:
        return fix_file(linter, path, data, job.fix, facts, remember)
    result = linter.lint_source(path, data, rules, facts)
    remember(data, result.findings)
    return result


def cached_result(path: str, data: bytes, cached: list[Finding]) -> FileResult:
    """A cache hit, with the source lines that text output shows under findings."""
    if not cached:
        return FileResult(path, [])
    if is_notebook(path):
        try:
            source = notebook_source(data)
            return FileResult(path, cached, source.text.splitlines(), cell_starts=source.starts)
        except NotebookError:
            return FileResult(path, cached)
    return FileResult(path, cached, data.decode(source_encoding(data), errors="replace").splitlines())


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0

