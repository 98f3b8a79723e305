"""CPython `ast` helpers the per-file summary (torchlint.analysis.summary) reads code with."""

from __future__ import annotations

import ast

from torchlint.analysis.names import is_ddp_name

DEVICE_WORDS = frozenset({"cuda", "mps", "cpu", "xpu", "npu"})
PLACING = frozenset({"to", "cuda", "xpu", "npu", "to_empty"})


def dotted(node: ast.AST) -> str | None:
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is ast.Name:
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def import_pairs(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0]) for a in node.names]
    base = "." * node.level + (node.module or "")
    sep = "" if not base or base.endswith(".") else "."
    # `from m import *` is kept as ("*", "m"): the project phase looks names up there.
    return [(a.asname or a.name, f"{base}{sep}{a.name}") if a.name != "*" else ("*", base) for a in node.names]


def about_ddp(test: ast.AST) -> bool:
    """Does a branch test ask whether this is a multi-process run?"""
    return any(is_ddp_name(n.id if type(n) is ast.Name else n.attr) for n in ast.walk(test)
               if type(n) is ast.Name or type(n) is ast.Attribute)


def is_main_test(test: ast.AST) -> bool:
    return (type(test) is ast.Compare and type(test.left) is ast.Name and test.left.id == "__name__"
            and any(type(c) is ast.Constant and c.value == "__main__" for c in test.comparators))


def placing(value: ast.AST | None) -> bool:
    """`x.to(device)`, also followed by `.eval()`/`.half()`/`.float()`."""
    while type(value) is ast.Call and type(value.func) is ast.Attribute and value.func.attr in ("eval", "half", "float"):
        value = value.func.value
    return type(value) is ast.Call and type(value.func) is ast.Attribute and value.func.attr in PLACING


def device_literal(node: ast.AST) -> bool:
    return type(node) is ast.Constant and isinstance(node.value, str) and node.value.split(":")[0] in DEVICE_WORDS
