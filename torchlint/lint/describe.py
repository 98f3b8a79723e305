"""Fix descriptions and application: a check's `Fix` applied to the parsed module, checked by
re-parsing, and described as text edits for reports."""

from __future__ import annotations

import ast
import dataclasses
import difflib
from typing import Any, Iterable

import libcst as cst

from torchlint.analysis.edits import Fix, Rebuild
from torchlint.lint.positions import holds
from torchlint.model import Edit, FixInfo


class _Apply(cst.CSTTransformer):
    def __init__(self, changes: dict[int, Rebuild]):
        super().__init__()
        self.changes = changes

    def on_leave(self, original_node, updated_node):  # type: ignore[override]
        rebuild = self.changes.get(id(original_node))
        return updated_node if rebuild is None else rebuild(updated_node)


def apply(module: cst.Module, fixes: Iterable[Fix]) -> cst.Module:
    """`module` with every change of `fixes` made (their keys must not overlap)."""
    changes: dict[int, Rebuild] = {}
    for fix in fixes:
        changes.update({k: rebuild for k, (_, rebuild) in fix.changes.items()})
    return module.visit(_Apply(changes))


def compatible(chosen: list[Fix], candidates: Iterable[Fix]) -> list[Fix]:
    """Greedily add candidates whose nodes no chosen fix rebuilds (an identical fix from a
    second finding counts as chosen: it is the same edit)."""
    taken: set[int] = set()
    for fix in chosen:
        taken |= fix.key
    for fix in candidates:
        if fix.key & taken:
            continue
        chosen.append(fix)
        taken |= fix.key
    return chosen


def parses(data: bytes) -> bool:
    """Does `data` parse both for libcst and for CPython (the compiler is stricter)?"""
    try:
        cst.parse_module(data)
        compile(data, "<fixed>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except Exception:
        return False
    return True


def edits(before: str, after: str) -> tuple[Edit, ...]:
    """The change from `before` to `after` as whole-line replacements (1-based; the end is
    the first line not replaced, column 1)."""
    old = before.splitlines(keepends=True)
    new = after.splitlines(keepends=True)
    out = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            out.append(Edit(i1 + 1, 1, i2 + 1, 1, "".join(new[j1:j2])))
    return tuple(out)


def describe(
    module: cst.Module, fix: Fix, safety: str, place: tuple[cst.CSTNode, int, list[str]] | None = None,
) -> FixInfo | None:
    """The fix as text edits for reports (JSON `fix`), or None if it does not parse.

    `place`: a top-level statement, the shift from its own lines to the file's (as
    `positions.resolve` reports it) and the file's lines. A fix whose changes all lie in that
    statement is then regenerated and re-parsed alone, not with the whole file (on a 1 MB
    file that was seconds per finding)."""
    if place is not None:
        local = _describe_in(module, fix, safety, *place)
        if local is not _WHOLE_FILE:
            return local
    after = apply(module, [fix]).code
    if not parses(after.encode(module.encoding, errors="surrogateescape")):
        return None
    return FixInfo(safety, fix.title, edits(module.code, after))


_WHOLE_FILE: Any = object()  # the marker of a fix `_describe_in` leaves to the whole-file path


def _describe_in(module: cst.Module, fix: Fix, safety: str, top: cst.CSTNode, shift: int, lines: list[str]):
    if id(module) in fix.changes or not holds(top, set(fix.changes)):
        return _WHOLE_FILE
    if not module.has_trailing_newline and module.body and module.body[-1] is top:
        return _WHOLE_FILE  # its last line has no newline, which the statement alone would add
    new_top = top.visit(_Apply({k: rebuild for k, (_, rebuild) in fix.changes.items()}))
    if not isinstance(new_top, cst.BaseStatement):
        return _WHOLE_FILE  # removed or split: let the module place it
    alone = module.with_changes(body=[top], header=[], footer=[], has_trailing_newline=True)
    before = alone.code
    old = before.splitlines()
    if shift < 0 or lines[shift:shift + len(old)] != old:
        return _WHOLE_FILE  # not where expected (a line break only str.splitlines counts, a form feed)
    after = alone.with_changes(body=[new_top]).code
    # The statement alone has no coding cookie (that is in the module's header): it is checked
    # as the UTF-8 a cookie-less file is; the file itself keeps its encoding when written.
    if not parses(after.encode("utf-8", errors="surrogateescape")):
        return None
    return FixInfo(safety, fix.title, tuple(
        dataclasses.replace(e, line=e.line + shift, end_line=e.end_line + shift) for e in edits(before, after)
    ))


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), path, path
        )
    )
