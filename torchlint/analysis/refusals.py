"""Code that refuses to run without CUDA: after such a refusal there is no CPU path."""

from __future__ import annotations

from typing import Sequence

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.guards import mentions_cuda_probe, requests_cuda_kernel
from torchlint.analysis.names import contains, descendants
from torchlint.walk import children
from torchlint.analysis.summary_ast import CUDA_RUNTIME_QUESTIONS


def module_is_cuda_only(ctx: Context) -> bool:
    """A module-level `assert torch.cuda.is_available()` or `if not ...: raise`, or a load that
    always asks for a CUDA-only attention kernel: CUDA-only code."""
    return refuses_without_cuda(ctx, ctx.module.body) or requests_cuda_kernel(ctx)


def _false(test: cst.BaseExpression) -> bool:
    return isinstance(test, cst.Name) and test.value == "False"


def _asks_cuda(stmt: cst.SimpleStatementLine, ctx: Context) -> bool:
    """`total = torch.cuda.get_device_properties(0).total_memory`: a question only a CUDA machine
    answers, asked without checking first (it raises elsewhere)."""
    if any(isinstance(n, (cst.IfExp, cst.BooleanOperation)) for n in descendants(stmt)):
        return False  # `name = torch.cuda.get_device_name() if device == "cuda" else None`: asked only on CUDA
    asked = {(ctx.imports.qualname(n.func) or "").rsplit(".", 1)[-1] for n in descendants(stmt)
             if isinstance(n, cst.Call) and (ctx.imports.qualname(n.func) or "").startswith("torch.cuda.")}
    return bool(asked & CUDA_RUNTIME_QUESTIONS) and not asked & {"is_available", "device_count"}


def _stops(body: Sequence[cst.BaseStatement]) -> bool:
    """`assert False, "broken"` or a bare `raise ...` statement: nothing after it runs at all."""
    return any(isinstance(s, cst.Raise) or (isinstance(s, cst.Assert) and _false(s.test))
               for stmt in body if isinstance(stmt, cst.SimpleStatementLine) for s in stmt.body)


def _raises(block: cst.BaseSuite) -> bool:
    body = block.body if isinstance(block, cst.IndentedBlock) else ()
    last = body[-1] if body else None
    return isinstance(last, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in last.body)


def _else_raises(stmt: cst.If) -> bool:
    """`if <CUDA probe>: ... elif ...: ... else: raise`: every path that goes on found CUDA."""
    tail: cst.If | cst.Else | None = stmt
    while isinstance(tail, cst.If):
        tail = tail.orelse
    return isinstance(tail, cst.Else) and _raises(tail.body)


def refuses_without_cuda(ctx: Context, body: Sequence[cst.BaseStatement]) -> bool:
    """Statements that assert CUDA or raise without it: the code after them is CUDA-only (a GPU
    backend refusing to start on a CPU), not a selection missing its fallback."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            if any(isinstance(s, cst.Assert) and mentions_cuda_probe(s.test, ctx) for s in stmt.body):
                return True
            if _asks_cuda(stmt, ctx):
                return True
        elif isinstance(stmt, cst.If) and mentions_cuda_probe(stmt.test, ctx) and (
                _raises(stmt.body) or _else_raises(stmt)):
            return True
    return False


def refused_before(ctx: Context) -> bool:
    """Does a statement before the current node, in any block around it (the function body, an
    `if __name__ == "__main__":` block, the module), refuse to go on without CUDA, or at all?"""
    return _refused_along(ctx, ctx.stack)


def refused_before_node(module: cst.Module, target: cst.CSTNode, ctx: Context) -> bool:
    """`refused_before` for a node of `module` the visitor has left (its ancestors found again)."""
    return _refused_along(ctx, _path_to(module, target))


def _refused_along(ctx: Context, path: Sequence[cst.CSTNode]) -> bool:
    """Along `path` (a node's ancestors from the module down), does any block hold, before the
    statement that leads on, one that refuses without CUDA or stops?"""
    for block, child in zip(path, path[1:]):
        if isinstance(block, (cst.Module, cst.IndentedBlock)):
            statements = list(block.body)
            before = statements[:statements.index(child)] if child in statements else None
            if before is not None and (refuses_without_cuda(ctx, before) or _stops(before)):
                return True
    return False


def _path_to(root: cst.CSTNode, target: cst.CSTNode) -> list[cst.CSTNode]:
    """`root`, the nodes between, and `target` (just `[root]` when it is not below `root`)."""
    path = [root]
    while path[-1] is not target:
        below = next((c for c in children(path[-1]) if c is target or contains(c, lambda x: x is target)), None)
        if below is None:
            return path[:1]
        path.append(below)
    return path
