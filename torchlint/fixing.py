"""Applying fixes: passes of compatible fixes over a linted file, each result re-parsed, and
atomic writes that keep encoding, line endings and permissions. Also `--add-noqa`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from torchlint.analysis.project import FileFacts
from torchlint.analysis.summary import summarise
from torchlint.analysis.suppressions import add_directives
from torchlint.atomic import NotWritten, replace_if_unchanged
from torchlint.lint import Linter
from torchlint.lint.describe import apply, compatible, parses, unified_diff
from torchlint.lint.parse import cpython_parse
from torchlint.model import ALWAYS_REPORTED, FileResult, Finding, FixMode
from torchlint.source import one_line, source_encoding

# Fixes that enable other fixes (an import a second fix also needs) take a few passes; a fix
# that keeps re-creating its own finding must not loop forever.
MAX_FIX_PASSES = 10


@dataclass
class FixOutcome:
    data: bytes  # the fixed file (the input when nothing applied)
    fixed: list[Finding]
    result: FileResult  # the findings that remain in `data`
    original: FileResult  # the findings of the input (what stands when the fix is not written)


def fix_source(linter: Linter, path: str, data: bytes, unsafe: bool = False,
               facts: FileFacts | None = None) -> FixOutcome:
    """Apply fixes (safe ones, and unsafe ones when asked) in passes until none is left:
    each pass applies fixes that do not touch the same nodes, re-parses, and lints again."""
    fixed: list[Finding] = []
    current = data
    linted = linter.lint(path, current, elide=False, facts=facts)
    original = linted.result
    for _ in range(MAX_FIX_PASSES):
        todo = [(f, fx) for f, fx in linted.fixes if f.fixable(unsafe)]
        if not todo:
            break
        chosen = compatible([], [fx for _, fx in todo])
        new = apply(linted.module, chosen).bytes
        if not parses(new):
            chosen = chosen[:1]  # each fix parsed on its own: fall back to one at a time
            new = apply(linted.module, chosen).bytes
            if not parses(new):
                break
        if new == current:
            break
        done = {(fx.key, fx.title) for fx in chosen}
        fixed += [f for f, fx in todo if (fx.key, fx.title) in done]
        current = new
        linted = linter.lint(path, current, elide=False, facts=_rebased(facts, current))
    return FixOutcome(current, fixed, linted.result, original)


def _rebased(facts: FileFacts | None, data: bytes) -> FileFacts | None:
    """The file's facts for its fixed content: its functions' lines moved."""
    if facts is None:
        return None
    tree, _, _ = cpython_parse(data)
    return facts.rebased(summarise(tree) if tree is not None else None)


def fix_file(linter: Linter, path: str, data: bytes, mode: FixMode, facts: FileFacts | None = None,
             remember: Callable[[bytes, list[Finding]], None] | None = None) -> FileResult:
    """`fix_source` on a file read as `data`: writes the result atomically (mode, encoding, BOM
    and line endings kept) unless `mode.write` is off; never overwrites a file changed
    meanwhile. `remember(data, findings)` is told what the written file holds (the cache)."""
    outcome = fix_source(linter, path, data, mode.unsafe, facts)
    result = outcome.result
    if outcome.data == data:
        return result
    result.fixed = outcome.fixed
    if mode.diff:
        encoding = source_encoding(data)
        result.diff = unified_diff(
            path, data.decode(encoding, errors="replace"), outcome.data.decode(encoding, errors="replace")
        )
    if mode.write:
        # Only while the file still holds what was read (an editor's save is never lost);
        # not written, the file's findings are those of the file as it is on disk.
        why = None
        try:
            if not replace_if_unchanged(Path(os.path.realpath(path)), outcome.data, data):
                why = "the file changed on disk while torchlint ran"
        except OSError as exc:
            why = _why(exc)
        if why is not None:
            kept = outcome.original
            kept.notes.append(f"{path}: not fixed: {why}; its findings are reported as it is on disk")
            kept.diff = ""
            return kept
        if remember is not None:
            remember(outcome.data, result.findings)
    return result


def write_directives(files) -> tuple[int, int, list[str]]:
    """`--add-noqa` over a run's file results: one directive per reported line (syntax and
    internal errors excepted), written atomically; a file whose result would not parse is left
    alone. Returns (lines suppressed, files written, one-line problems)."""
    added = written = 0
    problems: list[str] = []
    for file in sorted(files, key=lambda r: r.path):
        wanted: dict[int, set[str]] = {}
        for f in file.findings:
            if f.rule not in ALWAYS_REPORTED:
                wanted.setdefault(f.line, set()).add(f.rule)
        if not wanted:
            continue
        path = Path(file.path)
        data = path.read_bytes()
        encoding = source_encoding(data)
        text, skipped = add_directives(data.decode(encoding), wanted)
        new = text.encode(encoding)
        problems += [f"{file.path}:{line}: cannot add a comment there (inside a string or after a backslash); "
                     "suppress it by hand" for line in skipped]
        if new == data:
            continue
        if not parses(new):
            problems.append(f"{file.path}: not changed: the result would not parse")
            continue
        try:
            if not replace_if_unchanged(path.resolve(), new, data):
                problems.append(f"{file.path}: not changed: the file changed on disk while torchlint ran")
                continue
        except OSError as exc:
            problems.append(f"{file.path}: not changed: {_why(exc)}")
            continue
        added += len(wanted) - len(skipped)
        written += 1
    return added, written, problems


def _why(exc: OSError) -> str:
    """Why a file was not written, in a few words."""
    return str(exc) if isinstance(exc, NotWritten) else exc.strerror or one_line(exc)
