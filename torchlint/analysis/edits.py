"""Autofix building blocks for checks: a `Fix` maps nodes of the parsed module to functions
that rebuild them, and the constructors the fixes of several rules share.

A rebuild function receives the *updated* node (children already rewritten by other fixes),
so fixes of nested nodes compose in one pass. Two fixes that rebuild the same node conflict;
the later one waits for the next pass, after the file was linted again (torchlint.fixing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Union

import libcst as cst

from torchlint.analysis.names import contains

if TYPE_CHECKING:
    from torchlint.analysis.context import Context

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
    before = args[-2].comma if len(args) > 1 else None
    between = before.whitespace_after if isinstance(before, cst.Comma) else call_node.whitespace_before_args
    if isinstance(between, cst.SimpleWhitespace) and not between.value:
        between = cst.SimpleWhitespace(" ")
    if not isinstance(last.comma, cst.Comma):
        if not isinstance(last.whitespace_after_arg, cst.ParenthesizedWhitespace):
            return call_node.with_changes(args=[*args, arg])
        # `f(\n    a,\n    b\n)`: the new argument goes on its own line like the others, and the
        # line break before `)` moves after it (no trailing space, `)` stays where it was).
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=between),
                                     whitespace_after_arg=cst.SimpleWhitespace(""))
        return call_node.with_changes(args=[*args, arg.with_changes(whitespace_after_arg=last.whitespace_after_arg)])
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


def _inference_mode(ctx: "Context", title: str) -> tuple[Fix, cst.Call | None]:
    """A fix titled `title` and the `torch.inference_mode()` call it inserts, spelled with the
    file's name for torch (None where `torch` names something else)."""
    fix = Fix(title)
    torch = torch_name(ctx.imports, fix, ctx.module)
    return fix, call(f"{torch}.inference_mode") if torch is not None else None


def inference_mode_block(ctx: "Context", line: cst.SimpleStatementLine | None) -> Fix | None:
    """Wrap one statement in `with torch.inference_mode():` (an `async def`, where torch's
    decorator would only cover creating the coroutine), unless it awaits: grad mode is per
    thread, so other tasks would run inside the block."""
    if line is None or contains(line, lambda n: isinstance(n, cst.Await)):
        return None
    fix, inference_mode = _inference_mode(ctx, "Wrap the statement in `with torch.inference_mode():`")
    if inference_mode is None:
        return None
    item = cst.WithItem(inference_mode)

    def rebuild(updated: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(updated, cst.SimpleStatementLine)
        inner = updated.with_changes(leading_lines=[])
        return cst.With([item], cst.IndentedBlock([inner]), leading_lines=updated.leading_lines)

    return fix.change(line, rebuild)


def inference_mode_decorator(ctx: "Context", func: cst.FunctionDef) -> Fix | None:
    """`@torch.inference_mode()` as the innermost decorator of a function that is inference as
    a whole."""
    fix, inference_mode = _inference_mode(ctx, f"Decorate `{func.name.value}` with `@torch.inference_mode()`")
    if inference_mode is None:
        return None
    decorator = cst.Decorator(inference_mode)

    def rebuild(updated: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(updated, cst.FunctionDef)
        return updated.with_changes(decorators=[*updated.decorators, decorator])

    return fix.change(func, rebuild)
