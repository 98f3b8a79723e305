"""A run: discover files, scan the project (facts, parse verdicts, cached findings), prefilter
what the cache cannot answer, then lint (or fix) those files in a process pool."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from torchlint.analysis.project import ProjectFacts
from torchlint.atomic import atomic_write
from torchlint.fixing import fix_file
from torchlint.lint import Linter
from torchlint.lint.elide import Span
from torchlint.lint.notebook import NotebookError, is_notebook
from torchlint.lint.notebook import to_source as notebook_source
from torchlint.lint.parse import frozen_heap
from torchlint.model import INTERNAL_ERROR, SYNTAX_ERROR, FileResult, Finding, FixMode, RunResult
from torchlint.session.cache import Cache, run_key
from torchlint.session.files import discover, file_size, not_regular, prefilter
from torchlint.session.pool import run_jobs
from torchlint.session.project import scan_project
from torchlint.source import source_encoding

Progress = Callable[[int, int], None]


@dataclass
class Job:
    """What a worker needs besides the file's path (sent once per pool, not per file)."""

    linter: Linter
    cache: Cache | None
    fix: FixMode | None
    facts: ProjectFacts | None
    journal: Path | None = None  # with --fix: what each written file had fixed (a worker may die)


@dataclass
class Work:
    """One file for the pool: the rules its prefilters admitted (None: test them there), and
    what the project phase learnt of it."""

    rules: list[str] | None = None
    tables: list[Span] | None = None  # set when CPython accepted it: not parsed by CPython again
    checked: bool = False  # the cache was asked already (it had nothing valid)


def open_cache(linter: Linter, root: Path, directory: Path | None = None) -> Cache | None:
    """The cache for this linter's rules, parameters and ignores under `root` (or `directory`:
    --cache-dir, `cache-dir`, TORCHLINT_CACHE_DIR); None where it cannot be created, e.g. a
    read-only checkout: the run goes on without one."""
    try:
        user = [r.path for r in linter.rules if not r.builtin]
        key = run_key([r.id for r in linter.rules], linter.params, linter.config.per_file_ignores, user,
                      {"vocabulary": linter.vocab.raw(), "roles": linter.config.roles})
        return Cache(root, key, directory)
    except OSError:
        return None


def run(linter: Linter, paths: Iterable[str], jobs: int = 1, cache: Cache | None = None,
        fix: FixMode | None = None, progress: Progress | None = None) -> RunResult:
    """Lint `paths` (and fix them when `fix` is given); `jobs` > 1 spreads files over that many
    processes; `progress(done, total)` is called as files finish."""
    cfg = linter.config
    files = discover(paths, cfg.excluded, cfg.root, cfg.extend_include)
    # A FIFO or a device named on the command line is reported, never read (it would block).
    special = {f: what for f in files if (what := not_regular(f)) is not None}
    files = [f for f in files if f not in special]
    limit = cfg.max_file_size
    sizes = {f: file_size(f) for f in files} if limit else {}
    skipped = [(f, n) for f, n in sizes.items() if n > limit]
    too_big = {f for f, _ in skipped}
    notebooks = [f for f in files if f not in too_big and is_notebook(f)]
    python = [f for f in files if f not in too_big and not is_notebook(f)]
    # New cache entries are written by a thread while ripgrep prefilters, and finished before
    # the lint pool forks (a fork must not copy a thread in the middle of its work).
    writer = ThreadPoolExecutor(1)
    facts, scanned = scan_project(linter, python, cache, jobs, writer)
    results = [FileResult(f, linter.infra(SYNTAX_ERROR, f, 1, 1, f"cannot read file: {what}, not a regular file"))
               for f, what in special.items()]
    todo: dict[str, Work] = {}
    for path in python:
        s = scanned[path]
        if s.problem is not None:
            results.append(FileResult(path, linter.infra(SYNTAX_ERROR, path, *s.problem)))
        elif s.crashed is not None:
            results.append(_crashed(linter, path, s.crashed))
        elif s.entry is not None and s.entry.holds(facts.for_file(path)) and not _to_fix(s.entry.findings, fix):
            results.append(cached_result(path, None, s.entry.findings))
        else:
            todo[path] = Work(tables=s.tables if s.compiled else None, checked=s.key is not None)
    plan = prefilter(list(todo), linter.prefilter_rules)
    rejected = []
    for path, work in todo.items():
        if path in plan:
            work.rules = plan[path]
        elif cache is not None and scanned[path].key is not None:
            rejected.append(scanned[path].key)  # no rule can match these bytes: remember it
    if rejected:
        writer.submit(lambda: [cache.store(key, [], {}) for key in rejected])
    writer.shutdown(wait=True)
    work = [(f, todo[f]) for f in todo if f in plan] + [(f, Work()) for f in notebooks]
    journal = Path(tempfile.mkdtemp(prefix="torchlint-fixed-")) if fix is not None and fix.write else None
    try:
        with frozen_heap():  # the facts: never worth a scan by the workers' cyclic collector
            linted = run_jobs(lint_one, Job(linter, cache, fix, facts, journal), work, jobs, progress,
                              crashed=lambda path, _, cause: _crashed(linter, path, cause))
        results += [_journaled(r, journal) for r in linted] if journal is not None else linted
    finally:
        if journal is not None:
            shutil.rmtree(journal, ignore_errors=True)
    kept = [r for r in results if r.findings or r.fixed or r.notes]
    return RunResult(kept, checked=len(files) + len(special) - len(skipped), parsed=len(work), skipped=skipped)


def _journal_entry(journal: Path, path: str) -> Path:
    return journal / f"{hashlib.sha256(os.fsencode(path)).hexdigest()}.json"


def _journaled(result: FileResult, journal: Path) -> FileResult:
    """The fixes written to a file by a worker whose report was lost (the pool broke before it
    came back: the file was linted again, already fixed)."""
    if result.fixed:
        return result
    try:
        entries = json.loads(_journal_entry(journal, result.path).read_text(encoding="utf-8"))
        result.fixed = [Finding.from_json(e) for e in entries]
    except (OSError, ValueError):
        pass
    return result


def _crashed(linter: Linter, path: str, cause: str) -> FileResult:
    """TL001 for a file whose worker process died on it (the other files are unaffected)."""
    return FileResult(path, linter.infra(INTERNAL_ERROR, path, 1, 1,
                                         f"torchlint's worker process died on this file, {cause}; it is not linted"))


def _to_fix(findings: list[Finding], fix: FixMode | None) -> bool:
    return fix is not None and any(f.fixable(fix.unsafe) for f in findings)


def lint_one(job: Job, path: str, work: Work) -> FileResult:
    """One file through the cache: linted, or fixed when the run fixes (never a notebook)."""
    linter, cache = job.linter, job.cache
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return linter.unreadable(path, exc.strerror or str(exc))
    facts = job.facts.for_file(path) if job.facts is not None else None
    fixing = job.fix is not None and not is_notebook(path)
    if cache is not None and not work.checked:
        cached = cache.get(path, data, facts)
        if cached is not None and not (fixing and _to_fix(cached, job.fix)):
            return cached_result(path, data, cached)

    def remember(content: bytes, findings: list[Finding]) -> None:
        # A crash is not remembered: it may be fixed by then.
        if cache is not None and not any(f.rule == INTERNAL_ERROR for f in findings):
            cache.put(path, content, findings, facts)

    if fixing:
        result = fix_file(linter, path, data, job.fix, facts, remember)
        if result.fixed and job.journal is not None:
            atomic_write(_journal_entry(job.journal, path), json.dumps([f.to_json() for f in result.fixed]))
        return result
    result = linter.lint_source(path, data, work.rules, facts, work.tables)
    remember(data, result.findings)
    return result


def cached_result(path: str, data: bytes | None, cached: list[Finding]) -> FileResult:
    """A cache hit, with the source lines that text output shows under findings (the file is
    read for them when `data` is not given)."""
    if not cached:
        return FileResult(path, [])
    if data is None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            return FileResult(path, cached)
    if is_notebook(path):
        try:
            source = notebook_source(data)
            return FileResult(path, cached, source.text.splitlines(), cell_starts=source.starts)
        except NotebookError:
            return FileResult(path, cached)
    return FileResult(path, cached, data.decode(source_encoding(data), errors="replace").splitlines())

