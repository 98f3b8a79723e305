"""TL301: model forward calls in inference code that run with autograd enabled."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from torchlint.analysis.dispatch import Builds, run_by_no_grad_owner
from torchlint.analysis.edits import inference_mode_block, inference_mode_decorator
from torchlint.analysis.grad import (SET_GRAD_ENABLED, GradOracle, in_stored_lambda, is_torch_enable_grad,
                                     is_torch_no_grad, patched_forward)
from torchlint.analysis.models import ModelOracle, uses_ml
from torchlint.analysis.module_classes import is_module_class
from torchlint.analysis.names import dotted, last_name, literal, param_names, path_words, snake_words
from torchlint.analysis.settings import setting_branches
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register
from torchlint.params import Params

_TRAINING_METHODS = ("backward", "zero_grad")
# Calls that run a function handed to them later or on another thread (grad mode is thread-local).
_HANDOFFS = frozenset({"submit", "run_in_executor", "to_thread", "Thread", "Process", "Timer", "apply_async",
                       "start_new_thread", "compile", "partial", "register_forward_hook", "register_hook"})
# Loaders whose module is frozen unless told otherwise (`freeze=True` is their default).
_FROZEN_LOADERS = frozenset({"torch.nn.Embedding.from_pretrained", "torch.nn.EmbeddingBag.from_pretrained"})


@dataclass
class _Func:
    node: cst.FunctionDef
    key: tuple[str | None, str]
    parent: "_Func | None"
    covered_at_def: bool
    entry: bool = False
    exempt: bool = False
    trains: bool = False  # calls .backward(), optimizer.step(), .train(): needs grad on
    grad_off: bool = False  # saw set_grad_enabled(False) as a statement
    # (forward call, its statement line when that sits in a block)
    pending: list[tuple[cst.Call, cst.SimpleStatementLine | None]] = field(default_factory=list)


@dataclass
class _Site:
    caller: _Func
    callee: tuple[str | None, str]
    covered: bool
    handed: bool = False  # the function is passed to a call, which runs it (`sample_loop(model_fn)`)


@dataclass(frozen=True)
class MissingNoGradParams(Params):
    skip_path_words: frozenset[str]  # path words of code that is not inference (training, tokenizers)
    backend_setting_words: frozenset[str]  # words of a setting that picks the runtime (`self.backend`)
    torch_backends: frozenset[str]  # its values that mean torch
    other_backends: frozenset[str]  # its values that mean another runtime (no autograd)


@register
class MissingNoGrad(Check):
    kind = "missing_no_grad"
    Params = MissingNoGradParams
    fields = frozenset({"callee", "function"})

    def __init__(self, *args):
        super().__init__(*args)
        entry_points = self.vocab.entry_points
        self.grad = GradOracle(self.ctx.index, self.ctx.facts)
        self.models = ModelOracle(self.ctx)
        self.entry_words = {e for e in entry_points if "_" not in e.strip("_") and not e.startswith("__")}
        self.entry_names = {e for e in entry_points if e not in self.entry_words}
        words = path_words(self.ctx.project_path)
        # Training code, tests, and tokenizer/processor code are not inference entry points.
        self.skip_file = (
            bool(words & self.params.skip_path_words) or is_test_file(self.ctx.project_path) or not uses_ml(self.ctx)
        )
        self.frozen: set[str] = set()  # objects whose parameters never require grad
        self.funcs: dict[int, _Func] = {}
        self.by_key: dict[tuple[str | None, str], list[_Func]] = {}
        self.sites: list[_Site] = []
        self.installed: set[str] = set()  # module functions assigned onto a class: monkey-patches
        # Grad turned back on somewhere (`with torch.enable_grad():`): run under a caller's no-grad
        self.reenables_grad = False
        self.top_calls: set[tuple[str | None, str]] = set()  # called with grad on outside any function
        self.passed_in: set[tuple[str | None, str]] = set()  # (class, attribute) set from an __init__ parameter
        self.owned: dict[str | None, bool] = {}  # class -> its objects are run by another class's no-grad methods
        self.built = Builds()  # objects of its own classes the module builds, and where it keeps them

    # ----- collection ---------------------------------------------------------------
    def _current(self) -> _Func | None:
        f = self.ctx.function
        return self.funcs.get(id(f)) if f is not None else None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        ctx = self.ctx
        cls = ctx.class_of(node)
        key = ctx.function_key(node)
        parent = self._current()
        info = _Func(node, key, parent, covered_at_def=self.grad.under_no_grad(ctx))
        name = node.name.value
        # A private helper named like an entry point (`_forward_process_and_sample`) is reached
        # through its callers: from a caller here, the fixpoint below decides; a helper only
        # referenced (handed to `torch.compile`, an executor) or called from another module has
        # its grad mode set where it is called, which this file cannot see.
        private = name.startswith("_") and not name.startswith("__")
        info.entry = (not private and bool(set(snake_words(name)) & self.entry_words)) or name in self.entry_names
        info.entry = info.entry or any(self._is_route(d.decorator) for d in node.decorators)
        info.exempt = self.skip_file or is_test_function(node, cls) or patched_forward(node) or (
            cls is not None and (name == "forward" or is_module_class(self.ctx, cls)))
        self.funcs[id(node)] = info
        self.by_key.setdefault(key, []).append(info)

    def _is_route(self, deco: cst.BaseExpression) -> bool:
        return (
            isinstance(deco, cst.Call)
            and isinstance(deco.func, cst.Attribute)
            and deco.func.attr.value in self.vocab.route_decorators
        )

    # ----- frozen modules: calling them records no graph -------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        """`self.embed = nn.Embedding.from_pretrained(w)`: frozen unless `freeze=False`;
        `p.requires_grad = False` in a loop over `X.parameters()` freezes `X`."""
        value = node.value
        if isinstance(value, cst.Name) and any(
            isinstance(t.target, cst.Attribute) and (dotted(t.target) or "").count(".") >= 1 for t in node.targets
        ):
            self.installed.add(value.value)  # `lib.Model.encode = patched_encode`
        init = self.ctx.function
        if isinstance(value, cst.Name) and init is not None and init.name.value == "__init__" \
                and value.value in param_names(init):
            cls = self.ctx.class_of(init)
            for t in node.targets:
                if isinstance(t.target, cst.Attribute) and dotted(t.target.value) == "self":
                    self.passed_in.add((cls.name.value if cls else None, t.target.attr.value))
        if isinstance(value, cst.Call) and self.ctx.imports.qualname(value.func) in _FROZEN_LOADERS and not any(
            a.keyword is not None and a.keyword.value == "freeze" and literal(a.value) is not True for a in value.args
        ):
            self.frozen.update(d for t in node.targets if (d := dotted(t.target)) is not None)
        elif (
            len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Attribute)
            and node.targets[0].target.attr.value == "requires_grad" and literal(value) is False
        ):
            self._freeze_loop_over(dotted(node.targets[0].target.value))

    def _freeze_loop_over(self, variable: str | None) -> None:
        """`for p in X.parameters(): p.requires_grad = False` (or `p.requires_grad_(False)`)."""
        loop = next((n for n in reversed(self.ctx.stack) if isinstance(n, cst.For)), None)
        if variable is None or loop is None or dotted(loop.target) != variable:
            return
        it = loop.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute) and it.func.attr.value == "parameters":
            owner = dotted(it.func.value)
            if owner is not None:
                self.frozen.add(owner)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if is_torch_enable_grad(node, self.ctx.imports):
            self.reenables_grad = True
        if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_" and node.args \
                and literal(node.args[0].value) is False:
            owner = dotted(func.value)
            if owner is not None:
                self.frozen.add(owner)
                self._freeze_loop_over(owner)
        self._visit_call(node)

    def _visit_call(self, node: cst.Call) -> None:
        self.built.note(node, self.ctx)
        info = self._current()
        if info is None:  # the module's own example (`__main__`) calls it: not covered elsewhere
            if (key := self.ctx.callee_key(node.func)) is not None and not self.grad.under_no_grad(self.ctx):
                self.top_calls.add(key)
            return
        func = node.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        if method == "eval" and not node.args:
            info.entry = True
        elif method in _TRAINING_METHODS or (method == "train" and _truthy_or_empty(node)):
            info.exempt = info.trains = True
        elif method == "step" and any(w.startswith("optim") for w in snake_words(dotted(func.value) or "")):
            info.exempt = info.trains = True
        elif (
            isinstance(self.ctx.parent(), cst.Expr)
            and self.ctx.imports.qualname(func) in SET_GRAD_ENABLED
            and is_torch_no_grad(node, self.ctx.imports)
        ):
            info.grad_off = True  # bare `torch.set_grad_enabled(False)` statement
        covered = info.grad_off or self.grad.under_no_grad(self.ctx)
        callee = self.ctx.callee_key(func)
        if callee is not None:
            self.sites.append(_Site(info, callee, covered))
        if last_name(func) not in _HANDOFFS:  # a call run here, in this thread: it runs what it is handed
            self.sites += [_Site(info, key, covered, handed=True) for a in node.args
                           if isinstance(a.value, (cst.Name, cst.Attribute)) and (key := self.ctx.callee_key(a.value))]
        if not covered and self.models.is_forward_call(node) and not self._other_runtime() \
                and not self._explicitly_grad() and not in_stored_lambda(self.ctx):
            info.pending.append((node, self._statement_line()))

    def _explicitly_grad(self) -> bool:
        """Inside `with torch.enable_grad():`: the code asks for gradients on purpose."""
        return any(is_torch_enable_grad(i.item, self.ctx.imports) for w in self.ctx.withs for i in w.items)

    def _other_runtime(self) -> bool:
        """Is this a branch a backend setting chose for another runtime (ONNX, TensorRT, ...)?"""
        p = self.params
        return any(value in (p.other_backends if equal else p.torch_backends)
                   for value, equal in setting_branches(self.ctx.conditions(), p.backend_setting_words))

    def _statement_line(self) -> cst.SimpleStatementLine | None:
        stack = self.ctx.stack
        for i in range(len(stack) - 1, 0, -1):
            if isinstance(stack[i], cst.SimpleStatementLine):
                return stack[i] if isinstance(stack[i - 1], cst.IndentedBlock) else None
        return None

    # ----- decision -----------------------------------------------------------------
    def _callers(self) -> dict[tuple[str | None, str], list[_Site]]:
        by_callee: dict[tuple[str | None, str], list[_Site]] = {}
        for site in self.sites:
            by_callee.setdefault(site.callee, []).append(site)
        return by_callee

    def _solve(self, callers: dict) -> tuple[set[int], set[int], set[int]]:
        """Fixpoints over the module's call graph: (covered, inference, trained) functions. covered:
        no-grad by decoration, definition, every caller here (or, with none here, in the project's
        other modules) or the owner running it; inference: an entry point, nested in one or called
        from one with grad on. Each fixpoint is linear per round, safe on recursion."""
        funcs = list(self.funcs.values())
        leads = {id(f) for f in funcs if f.pending}  # ... and the functions here that call them
        while grown := {id(s.caller) for f in funcs if id(f) in leads for s in callers.get(f.key, [])} - leads:
            leads |= grown
        covered = {id(f) for f in funcs if f.covered_at_def or self.grad.function_is_no_grad(f.node)
                   or (id(f) in leads and f.parent is None and not callers.get(f.key) and f.key not in self.top_calls
                       and (self._covered_elsewhere(f) or self._run_by_no_grad_owner(f.key[0])))}
        changed = True
        while changed:
            changed = False
            for f in funcs:
                if id(f) in covered:
                    continue
                sites = callers.get(f.key, [])
                # A caller that is exempt (training code, a test, an nn.Module or pipeline method)
                # manages grad itself: calls from it count as covered.
                if (f.parent is not None and id(f.parent) in covered) or (
                    sites and all(s.covered or s.caller.exempt or id(s.caller) in covered for s in sites)
                ):
                    covered.add(id(f))
                    changed = True
        inference = {id(f) for f in funcs if f.entry}
        changed = True
        while changed:
            changed = False
            for f in funcs:
                if id(f) in inference:
                    continue
                if (f.parent is not None and id(f.parent) in inference) or any(
                    not s.covered and not s.handed and not s.caller.exempt and id(s.caller) in inference
                    for s in callers.get(f.key, [])
                ):
                    inference.add(id(f))
                    changed = True
        return covered, inference, self._trained(funcs, callers)

    def _trained(self, funcs: list[_Func], callers: dict) -> set[int]:
        """Functions training code calls with grad on (directly or through helpers): a helper
        shared by a sampler and a training loss must keep grad; its inference callers decide."""
        facts = self.ctx.facts
        trained = {
            id(f) for f in funcs
            if f.trains or (facts is not None and facts.function_role(".".join(filter(None, f.key))).role == "training")
        }
        changed = True
        while changed:
            changed = False
            for f in funcs:
                if id(f) not in trained and any(
                    not s.covered and id(s.caller) in trained for s in callers.get(f.key, [])
                ):
                    trained.add(id(f))
                    changed = True
        return trained

    def _run_by_no_grad_owner(self, cls: str | None) -> bool:
        """A pipeline stage's method: its objects are kept and run by another class's no-grad methods."""
        if cls is not None and cls not in self.owned:
            self.owned[cls] = bool(run_by_no_grad_owner(self.ctx.module, cls, self.grad.function_is_no_grad, self.built))
        return self.owned.get(cls, False)

    def _covered_elsewhere(self, f: _Func) -> bool:
        owner, name, facts = *f.key, self.ctx.facts
        return facts is not None and facts.callers_disable_grad(f"{owner}.{name}" if owner else name)

    def _monkey_patch(self, f: _Func) -> bool:
        """A module function taking `self` assigned onto a class here: run where that method is called."""
        params = f.node.params.params
        return f.parent is None and f.key[0] is None and f.key[1] in self.installed \
            and bool(params) and params[0].name.value == "self"

    def _handed_in_to_grad_aware(self, f: _Func, forward: cst.Call) -> bool:
        """A model this module was handed (a parameter of the function or of an enclosing one,
        or `self.model` set from an `__init__` parameter), called in a module that turns grad
        back on elsewhere (samplers with classifier guidance): the module runs under its
        caller's no-grad, which is where the model came from."""
        if not self.reenables_grad:
            return False
        target = forward.func.value if isinstance(forward.func, cst.Attribute) and forward.func.attr.value in (
            "forward", "__call__") else forward.func
        name = dotted(target) or ""
        root, _, rest = name.partition(".")
        if root == "self" and rest and "." not in rest:
            return (f.key[0], rest) in self.passed_in
        scope: _Func | None = f
        while scope is not None:
            if root in param_names(scope.node) and root not in ("self", "cls"):
                return True
            scope = scope.parent
        return False

    def end(self) -> None:
        if not any(f.pending for f in self.funcs.values()):
            return
        if self.ctx.facts is not None and self.ctx.facts.grad_free_host():
            return  # a ComfyUI node package: the host runs every node under inference_mode
        for f in self.funcs.values():
            f.exempt = f.exempt or self._monkey_patch(f)
        covered, inference, trained = self._solve(self._callers())
        for f in self.funcs.values():
            if not f.pending or f.exempt or (f.parent is not None and f.parent.exempt) or id(f) in trained:
                continue
            if id(f) not in inference or id(f) in covered:
                continue
            if f.node.asynchronous is not None and f.key[0] and self.grad.constructor_turns_grad_off(self.ctx, f.key[0]):
                continue
            pending = [(c, line) for c, line in f.pending
                       if dotted(c.func) not in self.frozen and not self._handed_in_to_grad_aware(f, c)]
            if not pending:
                continue
            decorate = inference_mode_decorator(self.ctx, f.node) if f.node.asynchronous is None else None
            for forward, line in pending:
                callee = dotted(forward.func) or "model"
                fix = decorate if f.node.asynchronous is None else inference_mode_block(self.ctx, line)
                self.report(forward, callee=callee, function=f.node.name.value, fix=fix)


def _truthy_or_empty(call: cst.Call) -> bool:
    return not call.args or literal(call.args[0].value) is not False
