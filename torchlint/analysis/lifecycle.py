"""Model-class lifecycles: which methods unload, which load, what the class holds."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.names import _statements, snake_words


def name_has(name: str, words: Iterable[str]) -> bool:
    """`_unload_model` has `unload`; matched on snake_case words."""
    return bool(set(snake_words(name)) & set(words))


def method_of(ctx: Context) -> tuple[cst.ClassDef, cst.FunctionDef] | None:
    """(class, method) when the innermost function is a method."""
    func = ctx.function
    if func is None:
        return None
    cls = ctx.class_of(func)
    return (cls, func) if cls is not None else None


def self_attribute(expr: cst.BaseExpression) -> str | None:
    """`X` for `self.X`, else None."""
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
        return expr.attr.value
    return None


def calls_in(body: Iterable[cst.CSTNode]) -> Iterable[cst.Call]:
    """Calls at statement level (expression statements, assignments, returns) of a body."""
    for stmt in _statements(body):
        value = getattr(stmt, "value", None)
        if isinstance(stmt, cst.Expr):
            value = stmt.value
        if isinstance(value, cst.Await):
            value = value.expression
        if isinstance(value, cst.Call):
            yield value
