"""Model-class lifecycles: which methods unload, which load, what the class holds."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.index import ModuleIndex
from torchlint.analysis.names import _statements, qualname_matches, snake_words


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


class ExecutorOracle:
    """Recognises executor construction: a listed class, or a module function returning one."""

    def __init__(self, index: ModuleIndex, classes: Iterable[str]):
        self.imports = index.imports
        self.classes = tuple(classes)
        self.factories = {
            name for name, f in index.functions.items()
            if any(isinstance(s, cst.Return) and s.value is not None and self.is_direct(s.value)
                   for s in _statements(f.body.body))
        }
        self._index = index

    def is_direct(self, expr: cst.BaseExpression) -> bool:
        return isinstance(expr, cst.Call) and qualname_matches(self.imports.qualname(expr.func), self.classes)

    def creates(self, expr: cst.BaseExpression) -> bool:
        """`ThreadPoolExecutor(...)` or `_new_executor()`."""
        if self.is_direct(expr):
            return True
        return isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in self.factories

    def constructor(self, expr: cst.BaseExpression) -> cst.Call | None:
        """The `ThreadPoolExecutor(...)` call behind `expr` (looking into a factory)."""
        if self.is_direct(expr):
            return expr
        if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in self.factories:
            for s in _statements(self._index.functions[expr.func.value].body.body):
                if isinstance(s, cst.Return) and s.value is not None and self.is_direct(s.value):
                    return s.value
        return None
