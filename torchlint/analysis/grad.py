"""Is this code running with autograd disabled?"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.grad_names import ENABLE_GRAD, NO_GRAD, SET_GRAD_ENABLED
from torchlint.analysis.index import ModuleIndex
from torchlint.analysis.names import ImportMap, _statements, dotted, last_name, snake_words
from torchlint.analysis.project import FileFacts

def _first_arg_is_false(call: cst.Call, keyword: str) -> bool | None:
    """True/False for a literal first argument (or `keyword=`), None when not literal."""
    for arg in call.args:
        if arg.keyword is None or arg.keyword.value == keyword:
            if isinstance(arg.value, cst.Name) and arg.value.value in ("True", "False"):
                return arg.value.value == "False"
            return None
    return False


def is_torch_no_grad(expr: cst.BaseExpression, imports: ImportMap) -> bool:
    """`torch.no_grad()`, `torch.inference_mode()`, `torch.set_grad_enabled(False)` (any alias).

    A non-literal `set_grad_enabled(flag)` counts: when unsure, the code is not flagged.
    """
    call = expr if isinstance(expr, cst.Call) else None
    qual = imports.qualname(call.func if call else expr)
    if qual in NO_GRAD:
        if call is not None and qual.endswith("inference_mode"):
            return _first_arg_is_false(call, "mode") is not True
        return True
    if qual in SET_GRAD_ENABLED and call is not None:
        return _first_arg_is_false(call, "mode") is not False
    return False


def is_torch_enable_grad(expr: cst.BaseExpression, imports: ImportMap) -> bool:
    """`torch.enable_grad()` or `torch.set_grad_enabled(True)`: gradients asked for on purpose.
    Cheap for any other call (the name is checked before the import map is asked)."""
    if not isinstance(expr, cst.Call) or last_name(expr.func) not in ("enable_grad", "set_grad_enabled"):
        return False
    qual = imports.qualname(expr.func)
    if qual in ENABLE_GRAD:
        return True
    return qual in SET_GRAD_ENABLED and _first_arg_is_false(expr, "mode") is False and bool(expr.args)


def find_no_grad_wrappers(index: ModuleIndex) -> set[str]:
    """Module functions that enter no-grad themselves (context managers or decorators), and module
    globals bound to torch's no-grad modes."""
    wrappers = {name for name, values in index.globals.items()  # `inference_context = torch.no_grad`
                if any(not isinstance(v, cst.Call) and is_torch_no_grad(v, index.imports) for v in values)}
    for name, func in index.functions.items():
        for stmt in _statements(func.body.body):
            if isinstance(stmt, cst.With) and any(is_torch_no_grad(i.item, index.imports) for i in stmt.items):
                wrappers.add(name)
                break
            if isinstance(stmt, cst.FunctionDef) and any(
                is_torch_no_grad(d.decorator, index.imports) for d in stmt.decorators
            ):
                wrappers.add(name)
                break
            if isinstance(stmt, cst.Return) and stmt.value is not None and is_torch_no_grad(stmt.value, index.imports):
                wrappers.add(name)
                break
    return wrappers


class GradOracle:
    """Answers "is autograd off here?" for one file, including the project's own wrappers."""

    def __init__(self, index: ModuleIndex, facts: FileFacts | None = None):
        self.imports = index.imports
        self.wrappers = find_no_grad_wrappers(index)
        self.facts = facts  # the project's own wrappers, in other modules

    def is_no_grad(self, expr: cst.BaseExpression) -> bool:
        """A with-item or decorator that disables grad (torch's or a project wrapper)."""
        if is_torch_no_grad(expr, self.imports):
            return True
        target = expr.func if isinstance(expr, cst.Call) else expr
        name = last_name(target)
        if name is None:
            return False
        if name in self.wrappers:
            return True
        qual = self.imports.qualname(target)
        if qual and self.facts is not None:
            helper = self.facts.function(qual)
            if (helper is not None and helper.get("wrapper")) or self._project_alias(qual):
                return True
        if qual and not qual.startswith("torch."):
            words = "_".join(snake_words(name))
            return "no_grad" in words or "inference_mode" in words
        return False

    def _project_alias(self, qual: str) -> bool:
        """`devices.inference_context`: a project module's global bound to `torch.no_grad`."""
        facts = self.facts
        found = facts.project.resolve(facts.path, qual)
        if found is None or not found[1] or found[0] == facts.path:
            return False
        facts.note(f"file:{found[0]}")
        return (facts.project.summaries.get(found[0]) or {}).get("objects", {}).get(".".join(found[1])) in NO_GRAD

    def function_is_no_grad(self, func: cst.FunctionDef) -> bool:
        return any(self.is_no_grad(d.decorator) for d in func.decorators)

    def may_disable_grad(self, expr: cst.BaseExpression, ctx: Context, depth: int = 0) -> bool:
        """A with-item that is, or may be, no-grad: `grad_ctx()` where
        `grad_ctx = nullcontext if with_grad else torch.no_grad` counts (when unsure, silent)."""
        if self.is_no_grad(expr):
            return True
        if depth > 3:
            return False
        target = expr.func if isinstance(expr, cst.Call) else expr
        if isinstance(target, cst.Name):
            binding = ctx.binding(target.value)
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._mentions_no_grad(binding.value, ctx, depth + 1)
        return isinstance(expr, (cst.IfExp, cst.BooleanOperation)) and self._mentions_no_grad(expr, ctx, depth + 1)

    def _mentions_no_grad(self, expr: cst.BaseExpression, ctx: Context, depth: int) -> bool:
        if isinstance(expr, (cst.IfExp,)):
            return any(self.may_disable_grad(e, ctx, depth) for e in (expr.body, expr.orelse))
        if isinstance(expr, cst.BooleanOperation):
            return any(self.may_disable_grad(e, ctx, depth) for e in (expr.left, expr.right))
        return self.may_disable_grad(expr, ctx, depth)

    def under_no_grad(self, ctx: Context) -> bool:
        """Inside a (possibly) no-grad `with`, or a no-grad-decorated function."""
        if any(self.may_disable_grad(item.item, ctx) for w in ctx.withs for item in w.items):
            return True
        return any(self.function_is_no_grad(f) for f in ctx.functions)

    def constructor_turns_grad_off(self, ctx: Context, cls_name: str, depth: int = 0) -> bool:
        """Does the class's `__init__` (or a project base class's) run a bare
        `torch.set_grad_enabled(False)`? Grad mode is thread-local: that covers the async
        methods, which run on the event loop's thread, where servers build their models; sync
        methods may run on worker threads, where grad is on again."""
        cls = ctx.index.classes.get(cls_name)
        if cls is None or depth > 4:
            return False
        init = ctx.index.method(cls, "__init__")
        if init is not None and any(
            type(s) is cst.Expr and type(s.value) is cst.Call and self.imports.qualname(s.value.func) in SET_GRAD_ENABLED
            and _first_arg_is_false(s.value, "mode") is True for s in _statements(init.body.body)
        ):
            return True
        for base in cls.bases:
            name = dotted(base.value)
            if name is None:
                continue
            if name in ctx.index.classes:
                if self.constructor_turns_grad_off(ctx, name, depth + 1):
                    return True
            elif self.facts is not None and (self.facts.method(self.imports.qualname(base.value) or name, "__init__")
                                             or {}).get("grad_off"):
                return True
        return False


def in_stored_lambda(ctx: Context) -> bool:
    """Inside a lambda the function stores or returns (`score_fn = lambda x, t, model:
    model(x, t)`): it runs where it is called later, under that caller's grad mode. A lambda
    handed straight to a call (`map(lambda b: model(b), xs)`) runs here."""
    stack = ctx.stack
    for i in range(len(stack) - 1, 0, -1):
        if isinstance(stack[i], cst.Lambda):
            return not isinstance(stack[i - 1], cst.Arg)
    return False


def patched_forward(func: cst.FunctionDef) -> bool:
    """`def lora_conv_forward(self, x): ...` outside a class: a forward patched onto modules,
    which runs in whatever grad mode its caller's model call has."""
    params = func.params.params
    return snake_words(func.name.value)[-1:] == ["forward"] and bool(params) and params[0].name.value == "self"
