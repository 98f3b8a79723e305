"""Blank out large data tables before libcst parses a file.

libcst keeps every token of a file as objects (whitespace, commas, brackets): about 1.2 kB of
memory per byte of source for literal-heavy code. Generated tables — torch's
`sparse/_triton_ops_meta.py` (500 kB, a dict of tuples) or `annotated_fn_args.py` — need
600-700 MB and most of a file's parse time, while no rule can report anything inside them: the
checks look at calls, arguments, assignments of names and the statements around them.

A *data table* here is the value of a module- or class-level assignment that is a dict, list,
tuple or set display of at least `min_bytes` source bytes whose leaves are all constants,
names or dotted names (`torch.float16`). It is replaced by an empty display of the same kind,
padded with the same newlines and columns, so every line and column after it is unchanged and
the assignment still binds the name. Files that are not plain UTF-8 are left alone (CPython's
column offsets are UTF-8 bytes), and `--fix` always works on the real file.
"""

from __future__ import annotations

import ast

MIN_BYTES = 16_384

_DISPLAYS = {ast.Dict: ("{", "}"), ast.List: ("[", "]"), ast.Tuple: ("(", ")"), ast.Set: ("{None", "}")}


def _inert(node: ast.AST) -> bool:
    """Only constants, (dotted) names and displays of them: nothing a rule reports on."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Constant, ast.Name)):
            continue
        if isinstance(n, ast.Attribute):
            stack.append(n.value)
        elif isinstance(n, ast.UnaryOp) and isinstance(n.op, (ast.USub, ast.UAdd)):
            stack.append(n.operand)
        elif isinstance(n, (ast.Tuple, ast.List, ast.Set)):
            stack.extend(n.elts)
        elif isinstance(n, ast.Dict):
            if any(k is None for k in n.keys):  # `**other`
                return False
            stack.extend(n.keys)
            stack.extend(n.values)
        else:
            return False
    return True


def _assignments(tree: ast.Module):
    """Assignments at module level, in module-level `if`/`try` blocks and in class bodies."""
    stack: list[list[ast.stmt]] = [tree.body]
    while stack:
        for stmt in stack.pop():
            if isinstance(stmt, (ast.Assign, ast.AnnAssign)) and stmt.value is not None:
                yield stmt.value
            elif isinstance(stmt, ast.ClassDef):
                stack.append(stmt.body)
            elif isinstance(stmt, ast.If):
                stack.extend([stmt.body, stmt.orelse])
            elif isinstance(stmt, ast.Try):
                stack.extend([stmt.body, stmt.orelse, stmt.finalbody, *[h.body for h in stmt.handlers]])


Span = tuple[int, int, str, int]  # (start byte, end byte, display kind, end column) of one table


def table_spans(data: bytes, tree: ast.Module, min_bytes: int = MIN_BYTES) -> list[Span]:
    """Where the data tables of `data` are. `tree` is CPython's AST of `data`, which must be
    UTF-8 without a BOM (CPython's columns are UTF-8 bytes)."""
    if len(data) < min_bytes:
        return []
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    for value in _assignments(tree):
        if type(value) not in _DISPLAYS or value.end_lineno is None or value.end_col_offset is None:
            continue
        start = starts[value.lineno - 1] + value.col_offset
        end = starts[value.end_lineno - 1] + value.end_col_offset
        if end - start >= min_bytes and _inert(value):
            spans.append((start, end, type(value).__name__, value.end_col_offset))
    return sorted(spans)


def blank_tables(data: bytes, spans: list[Span]) -> bytes:
    """`data` with the tables at `spans` blanked: same lines and columns everywhere else."""
    out = bytearray()
    at = 0
    for start, end, kind, end_column in spans:
        opener, closer = _DISPLAYS[getattr(ast, kind)]
        original = data[start:end]
        newlines = original.count(b"\n") + original.count(b"\r") - original.count(b"\r\n")
        if newlines:
            filler = _line_break(original) * newlines + b" " * max(end_column - len(closer), 0)
        else:
            filler = b" " * max(len(original) - len(opener) - len(closer), 0)
        out += data[at:start] + opener.encode() + filler + closer.encode()
        at = end
    out += data[at:]
    return bytes(out)


def elide_tables(data: bytes, tree: ast.Module, min_bytes: int = MIN_BYTES) -> tuple[bytes, int]:
    """`data` with its data tables blanked, and how many were blanked."""
    spans = table_spans(data, tree, min_bytes)
    return (blank_tables(data, spans), len(spans)) if spans else (data, 0)


def _line_break(text: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in text else b"\r" if b"\r" in text and b"\n" not in text else b"\n"
