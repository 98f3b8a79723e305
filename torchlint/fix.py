"""Autofixes: libcst edits attached to findings, applied in passes and checked by re-parsing.

A check attaches a `Fix` to a finding: a map from nodes of the parsed module to functions
that rebuild them. The functions receive the *updated* node (children already rewritten by
other fixes), so fixes of nested nodes compose in one pass. Two fixes that rebuild the same
node conflict; the later one waits for the next pass, after the file was linted again.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Union

import libcst as cst

from torchlint.model import Edit, FixInfo
from torchlint.walk import children
Result = Union[cst.CSTNode, cst.FlattenSentinel, cst.RemovalSentinel]
Rebuild = Callable[[cst.CSTNode], Result]


@dataclass
class Fix:
    """What to change for one finding. `safety` None means the rule's declared safety."""

    title: str
    changes: dict[int, tuple[cst.CSTNode, Rebuild]] = field(default_factory=dict)
    safety: str | None = None

    def change(self, node: cst.CSTNode, rebuild: Rebuild) -> "Fix":
        self.changes[id(node)] = (node, rebuild)
        return self

    @property
    def key(self) -> frozenset[int]:
        return frozenset(self.changes)


def replace(title: str, node: cst.CSTNode, rebuild: Rebuild, safety: str | None = None) -> Fix:
    return Fix(title, safety=safety).change(node, rebuild)


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
    if id(module) in fix.changes or not _holds(top, set(fix.changes)):
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
    if not parses(after.encode(module.encoding, errors="surrogateescape")):
        return None
    return FixInfo(safety, fix.title, tuple(
        dataclasses.replace(e, line=e.line + shift, end_line=e.end_line + shift) for e in edits(before, after)
    ))


def _holds(top: cst.CSTNode, wanted: set[int]) -> bool:
    """Are all nodes with these ids in `top`'s subtree?"""
    missing = set(wanted)
    stack = [top]
    while stack and missing:
        node = stack.pop()
        missing.discard(id(node))
        stack.extend(children(node))
    return not missing


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True), after.splitlines(keepends=True), path, path
        )
    )


# ----- helpers shared by the fixes of several rules --------------------------------------------


def module_alias(imports, module: str) -> str | None:
    """The local name bound to `module` itself (`import torch as th` -> `th`), if any."""
    for local, full in imports.aliases.items():
        if full == module:
            return local
    return None


def attribute_chain(dotted_name: str) -> cst.BaseExpression:
    parts = dotted_name.split(".")
    expr: cst.BaseExpression = cst.Name(parts[0])
    for part in parts[1:]:
        expr = cst.Attribute(expr, cst.Name(part))
    return expr


def call(dotted_name: str, *args: cst.Arg) -> cst.Call:
    return cst.Call(attribute_chain(dotted_name), list(args))


def method_call(receiver: cst.BaseExpression, method: str) -> cst.Call:
    return cst.Call(cst.Attribute(receiver, cst.Name(method)))


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    """`name=value`, spaced like PEP 8 wants keyword arguments."""
    nospace = cst.SimpleWhitespace("")
    return cst.Arg(value, keyword=cst.Name(name), equal=cst.AssignEqual(nospace, nospace))


def append_arg(call_node: cst.Call, arg: cst.Arg) -> cst.Call:
    """`call_node` with `arg` added last, keeping a trailing-comma layout
    (one argument per line stays one argument per line)."""
    args = list(call_node.args)
    if not args:
        return call_node.with_changes(args=[arg])
    last = args[-1]
    if not isinstance(last.comma, cst.Comma):
        return call_node.with_changes(args=[*args, arg])
    before = args[-2].comma if len(args) > 1 else None
    between = before.whitespace_after if isinstance(before, cst.Comma) else call_node.whitespace_before_args
    if isinstance(between, cst.SimpleWhitespace) and not between.value:
        between = cst.SimpleWhitespace(" ")
    args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=between))
    return call_node.with_changes(args=[*args, arg.with_changes(comma=last.comma)])


def torch_name(imports, fix: Fix, module: cst.Module) -> str | None:
    """The local name of `torch` for code a fix inserts. When the file binds no `torch` at
    all, `fix` also gets an `import torch` after the module's imports; when `torch` names
    something else, None (the fix is not offered)."""
    alias = module_alias(imports, "torch")
    if alias is not None:
        return alias
    if "torch" in imports.aliases:
        return None
    fix.change(module, _add_import_torch)
    return "torch"


def _add_import_torch(updated: cst.CSTNode) -> cst.CSTNode:
    assert isinstance(updated, cst.Module)
    body = list(updated.body)
    at = 0
    for i, stmt in enumerate(body):
        small = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else []
        if small and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in small):
            at = i + 1
        elif i == 0 and small and isinstance(small[0], cst.Expr) and isinstance(small[0].value, cst.SimpleString):
            at = 1  # after the docstring
        elif i > at:
            break
    stmt = cst.SimpleStatementLine([cst.Import([cst.ImportAlias(cst.Name("torch"))])])
    return updated.with_changes(body=[*body[:at], stmt, *body[at:]])
