"""The project phase: a summary of every Python file of the project (cached by content hash),
joined into the facts each file's lint may ask about. Every file is parsed here, so every file
that does not parse is reported (TL000), not only those a prefilter admits."""

from __future__ import annotations

import os
from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.project import ProjectFacts
from torchlint.analysis.summary import summarise
from torchlint.lint import Linter
from torchlint.lint.notebook import is_notebook
from torchlint.lint.parse import cpython_parse
from torchlint.model import SYNTAX_ERROR
from torchlint.session.cache import Cache
from torchlint.session.files import discover
from torchlint.session.pool import run_jobs

Problem = tuple[str, str, int, int, str]  # (rule, path, line, column, message): Linter.infra's arguments


@dataclass
class _Job:
    cache: Cache | None


def build_facts(linter: Linter, files: list[str], cache: Cache | None, jobs: int
                ) -> tuple[ProjectFacts, dict[str, Problem]]:
    """The project's facts, and the files of `files` that do not parse (with their TL000)."""
    scope = list(files)
    cfg = linter.config
    if cfg.path is not None:  # a configured project: its facts come from all of it
        scope += _others(files, discover([str(cfg.root)], cfg.exclude, cfg.root))
    python = [f for f in scope if not is_notebook(f)]
    results = run_jobs(summarise_file, _Job(cache), [(f, None) for f in python], jobs)
    summaries = {}
    problems: dict[str, Problem] = {}
    lint_set = set(files)
    for path, summary, problem in results:
        summaries[path] = summary
        if problem is not None and path in lint_set:
            problems[path] = (SYNTAX_ERROR, path, *problem)
    return ProjectFacts(summaries, linter.vocab, cfg.roles, cfg.root), problems


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


def summarise_file(job: _Job, path: str, _: object = None) -> tuple[str, dict | None, tuple[int, int, str] | None]:
    """(path, its summary or None, the TL000 position and message when it does not parse)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return path, None, None  # linting it reports why
    cache = job.cache
    if cache is not None:
        hit = cache.get_summary(data)
        if hit is not None:
            summary, problem = hit
            return path, summary, tuple(problem) if problem else None
    tree, problem, fatal = cpython_parse(data)
    summary = None
    if tree is not None:
        try:
            summary = summarise(tree)
        except Exception:  # odd code must not stop the run: this file then has no facts
            summary = None
    elif not fatal and _libcst_accepts(data):
        problem = None  # syntax newer than this interpreter: libcst lints it, without facts
    if cache is not None:
        cache.put_summary(data, summary, problem)
    return path, summary, problem


def _libcst_accepts(data: bytes) -> bool:
    try:
        cst.parse_module(data)
        return True
    except Exception:
        return False
