"""Where is the node being visited? Named places for declarative rules (`inside:` /
`not_inside:`), each answered from the shared Context."""

from __future__ import annotations

import weakref
from typing import Callable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.grad import GradOracle
from torchlint.analysis.guards import mentions_cuda_probe
from torchlint.analysis.tests import is_test_file, is_test_function

def is_route_handler(func: cst.FunctionDef, decorators: frozenset[str]) -> bool:
    """Decorated like a web route (`@app.get(...)`, `@router.post(...)`; vocabulary `route_decorators`)."""
    for dec in func.decorators:
        target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        if isinstance(target, cst.Attribute) and target.attr.value in decorators:
            return True
    return False


def _function(ctx: Context) -> bool:
    return ctx.function is not None


def _async_function(ctx: Context) -> bool:
    return ctx.function is not None and ctx.function.asynchronous is not None


def _request_handler(ctx: Context) -> bool:
    """An async function or a web route (innermost function)."""
    return ctx.function is not None and (ctx.function.asynchronous is not None or is_route_handler(ctx.function, ctx.vocab.route_decorators))


def _test_function(ctx: Context) -> bool:
    return any(is_test_function(f, ctx.class_of(f)) for f in ctx.functions)


def _test_file(ctx: Context) -> bool:
    return is_test_file(ctx.project_path)


_GRAD: "weakref.WeakKeyDictionary[object, GradOracle]" = weakref.WeakKeyDictionary()


def _no_grad(ctx: Context) -> bool:
    oracle = _GRAD.get(ctx.index)
    if oracle is None:
        oracle = _GRAD[ctx.index] = GradOracle(ctx.index)  # one per file
    return oracle.under_no_grad(ctx)


def _cuda_guard(ctx: Context) -> bool:
    return any(mentions_cuda_probe(cond.test, ctx) for cond in ctx.conditions())


def _try_except(ctx: Context) -> bool:
    return any(getattr(t, "handlers", ()) for t in ctx.trys)


def _loop(ctx: Context) -> bool:
    return any(isinstance(n, (cst.For, cst.While)) for n in ctx.stack[:-1])


def _class(ctx: Context) -> bool:
    return bool(ctx.classes)


PLACES: dict[str, Callable[[Context], bool]] = {
    "function": _function,
    "async_function": _async_function,
    "request_handler": _request_handler,
    "test_function": _test_function,
    "test_file": _test_file,
    "no_grad": _no_grad,
    "cuda_guard": _cuda_guard,
    "try_except": _try_except,
    "loop": _loop,
    "class": _class,
}


def is_in(place: str, ctx: Context) -> bool:
    """Whether the node being visited is in `place` (one of PLACES)."""
    return PLACES[place](ctx)
