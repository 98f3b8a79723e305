"""Source positions for reported nodes without generating code for the whole module.

libcst's PositionProvider regenerates the entire file; on large files that costs more than
the lint itself, while findings are rare. Instead, only the top-level statements that hold
findings are regenerated, and CPython's `ast` (fast) says on which line each one starts.
"""

from __future__ import annotations

import ast
from typing import Iterable

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from torchlint.walk import children


def _statement_lines(data: bytes, module: cst.Module, tree: ast.Module | None = None) -> list[int] | None:
    """First line of each statement in `module.body`, or None when ast disagrees."""
    try:
        tree = tree if tree is not None else ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    starts = []
    i = 0
    for stmt in module.body:
        if i >= len(tree.body):
            return None
        node = tree.body[i]
        starts.append(node.lineno)  # like libcst, the `def`/`class` line, not a decorator's
        i += len(stmt.body) if isinstance(stmt, cst.SimpleStatementLine) else 1
    return starts if i == len(tree.body) else None


def resolve(
    module: cst.Module, data: bytes, wanted: Iterable[tuple[cst.CSTNode, cst.CSTNode | None]],
    tree: ast.Module | None = None, shifts: dict[int, int] | None = None,
) -> dict:
    """Map each reported node to its CodeRange. `wanted` pairs (node, its top-level statement);
    `tree` is CPython's AST of `data` when the caller already has it. `shifts`, when given,
    receives for each statement placed on its own (by id) the number to add to a line of its
    text alone (`module.with_changes(body=[stmt], header=[], footer=[])`) to get the file's."""
    wanted = list(wanted)
    index = {id(stmt): i for i, stmt in enumerate(module.body)}
    starts = None
    if all(top is not None and id(top) in index for _, top in wanted):
        starts = _statement_lines(data, module, tree)
    if starts is None:
        positions = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        return {node: positions[node] for node, _ in wanted}
    by_stmt: dict[int, dict] = {}
    out: dict[cst.CSTNode, CodeRange] = {}
    for node, stmt in wanted:
        i = index[id(stmt)]
        if i not in by_stmt:
            mini = module.with_changes(body=[stmt], header=[], footer=[])
            by_stmt[i] = MetadataWrapper(mini, unsafe_skip_copy=True).resolve(PositionProvider)
        positions = by_stmt[i]
        shift = starts[i] - positions[stmt].start.line
        if shifts is not None:
            shifts[id(stmt)] = shift
        rng = positions[node]
        out[node] = CodeRange((rng.start.line + shift, rng.start.column), (rng.end.line + shift, rng.end.column))
    return out


def top_statements(module: cst.Module, wanted: list[tuple[cst.CSTNode, cst.CSTNode | None]]) -> list[cst.CSTNode | None]:
    """The module-level statement holding each node. `wanted` pairs a node with a guess (the
    statement being traversed when it was reported); a guess is checked, and nodes without a
    right guess are found by one search of the module (None: not in the module at all)."""
    tops: list[cst.CSTNode | None] = [None] * len(wanted)
    missing: dict[int, list[int]] = {}
    for i, (node, guess) in enumerate(wanted):
        if guess is not None and holds(guess, {id(node)}):
            tops[i] = guess
        else:
            missing.setdefault(id(node), []).append(i)
    for stmt in module.body if missing else ():
        stack = [stmt]
        while stack and missing:
            node = stack.pop()
            for i in missing.pop(id(node), ()):
                tops[i] = stmt
            stack.extend(children(node))
        if not missing:
            break
    return tops


def holds(top: cst.CSTNode, wanted: set[int]) -> bool:
    """Are all nodes with these ids in `top`'s subtree?"""
    missing = set(wanted)
    stack = [top]
    while stack and missing:
        node = stack.pop()
        missing.discard(id(node))
        stack.extend(children(node))
    return not missing
