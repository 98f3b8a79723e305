"""The project phase: every Python file of the project is read and parsed once (CPython's
`ast`) and summarised (cached by content hash); the summaries are joined into the facts each
file's lint may ask about. Every file is parsed here, so every file that does not parse is
reported (TL000), not only those a prefilter admits. For the files to lint, the same pass
looks up their cached findings and notes what the lint needs from the parse (that CPython
accepted the file, where its data tables are), so it is not parsed by CPython again."""

from __future__ import annotations

import os
from concurrent.futures import Executor
from dataclasses import dataclass, field

import libcst as cst

from torchlint.analysis.project import ProjectFacts
from torchlint.analysis.summary import summarise
from torchlint.lint import Linter
from torchlint.lint.elide import MIN_BYTES, Span, table_spans
from torchlint.lint.notebook import is_notebook
from torchlint.lint.parse import cpython_parse, gc_paused
from torchlint.session.cache import Cache, Entry
from torchlint.session.files import discover
from torchlint.session.manifests import read_manifests
from torchlint.session.pool import run_jobs
from torchlint.source import source_encoding


@dataclass
class Scanned:
    """One file as the project phase saw it."""

    path: str
    summary: dict | None = None
    problem: tuple[int, int, str] | None = None  # TL000 (line, column, message): it does not parse
    compiled: bool = False  # CPython accepted it (the lint's parse may skip validation)
    tables: list[Span] = field(default_factory=list)  # data tables the lint blanks before libcst
    key: str | None = None  # its findings entry in the cache
    entry: Entry | None = None  # the findings cached for these bytes
    content: str | None = None  # its summary entry, when that is still to be written
    crashed: str | None = None  # why the process summarising it died (TL001; it is not linted)


@dataclass
class _Job:
    cache: Cache | None


def scan_project(linter: Linter, files: list[str], cache: Cache | None, jobs: int,
                 writer: Executor | None = None) -> tuple[ProjectFacts, dict[str, Scanned]]:
    """The project's facts, and what the pass learnt about each of `files` (Python files).
    New summaries are written to the cache through `writer` (a background thread)."""
    cfg = linter.config
    scope = list(files)
    if cfg.path is not None:  # a configured project: its facts come from all of it
        scope += [f for f in _others(files, discover([str(cfg.root)], cfg.excluded, cfg.root)) if not is_notebook(f)]
    linted = set(files)
    # The summaries are millions of acyclic objects: the cyclic collector would scan them all
    # again and again while they pile up.
    with gc_paused():
        scanned = run_jobs(scan_file, _Job(cache), [(f, f in linted) for f in scope], jobs,
                           crashed=lambda path, _, cause: Scanned(path, crashed=cause))
        facts = ProjectFacts({s.path: s.summary for s in scanned}, linter.vocab, cfg.roles, cfg.root,
                             manifests=read_manifests(scope, cfg.root, linter.vocab.library_names))
    fresh = [s for s in scanned if s.content is not None]
    if cache is not None and fresh:
        if writer is not None:
            writer.submit(_remember, cache, fresh)
        else:
            _remember(cache, fresh)
    return facts, {s.path: s for s in scanned if s.path in linted}


def _remember(cache: Cache, fresh: list[Scanned]) -> None:
    for s in fresh:
        cache.put_summary(s.content, s.summary, s.problem, s.compiled, s.tables)


def _others(files: list[str], project: list[str]) -> list[str]:
    """The project's files not among `files`, spelled like them (relative to the working
    directory when they are inside it), so that one file has one name in the facts."""
    linted = {os.path.realpath(f) for f in files}
    out = []
    for f in project:
        if os.path.realpath(f) in linted:
            continue
        rel = os.path.relpath(f)
        out.append(rel if not rel.startswith("..") else f)
    return out


def scan_file(job: _Job, path: str, lint: bool) -> Scanned:
    with gc_paused():
        return _scan(job, path, lint)


def _scan(job: _Job, path: str, lint: bool) -> Scanned:
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return Scanned(path)  # no facts; linting it reports why it cannot be read
    cache = job.cache
    out = Scanned(path)
    if lint and cache is not None:
        out.key = cache.key(path, data)
        out.entry = cache.load(out.key)
    content = cache.content_key(data) if cache is not None else None
    hit = cache.get_summary(content) if content is not None else None
    if hit is not None:
        out.summary, problem, out.compiled, tables = hit
        out.problem = tuple(problem) if problem else None
        out.tables = [tuple(t) for t in tables]
        return out
    tree, problem, fatal = cpython_parse(data)
    out.compiled = tree is not None
    if tree is not None:
        try:
            out.summary = summarise(tree)
        except Exception:  # odd code must not stop the run: this file then has no facts
            out.summary = None
        if len(data) >= MIN_BYTES and source_encoding(data) == "utf-8":
            out.tables = table_spans(data, tree)
    elif not fatal and _libcst_accepts(data):
        problem = None  # syntax newer than this interpreter: libcst lints it, without facts
    out.problem = problem
    out.content = content  # written by the parent, off the workers' path
    return out


def _libcst_accepts(data: bytes) -> bool:
    try:
        cst.parse_module(data)
        return True
    except Exception:
        return False
