"""TL603: an executor owned by a model class is shut down badly, never, or for good."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from torchlint.analysis.edits import append_arg, keyword_arg, replace
from torchlint.analysis.lifecycle import ExecutorOracle, calls_in, method_of, name_has, self_attribute
from torchlint.analysis.names import last_name, literal, snake_words
from torchlint.checks import Check, register
from torchlint.params import Params


@dataclass
class _Shutdown:
    call: cst.Call
    method: cst.FunctionDef
    cancels: bool
    no_wait: bool
    stops_loops: bool  # an event/flag was set just before: the pool hosts loops, not inference
    recreated_after: bool = False
    reassigned_after: bool = False  # `self.<attr> = None` (or anything) later in the same method


@dataclass
class _Executor:
    created: list[tuple[cst.CSTNode, cst.FunctionDef]] = field(default_factory=list)
    guarded: list[bool] = field(default_factory=list)  # per creation: under `if self.<attr> is None:`
    shutdowns: list[_Shutdown] = field(default_factory=list)
    submitters: set[str] = field(default_factory=set)


def _kwarg(call: cst.Call, name: str) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg.value
    return None


@dataclass(frozen=True)
class ExecutorLifecycleParams(Params):
    executor_classes: tuple[str, ...]  # qualified names of executors (thread and process pools)


@register
class ExecutorLifecycle(Check):
    kind = "executor_lifecycle"
    Params = ExecutorLifecycleParams

    def __init__(self, *args):
        super().__init__(*args)
        self.executors = ExecutorOracle(self.ctx.index, self.params.executor_classes)
        self.classes: dict[str, dict[str, _Executor]] = {}
        self.flag_set_in: set[int] = set()  # methods that set an event/flag so far

    def _executor(self, cls: cst.ClassDef, attr: str) -> _Executor:
        return self.classes.setdefault(cls.name.value, {}).setdefault(attr, _Executor())

    def visit_Assign(self, node: cst.Assign) -> None:
        found = method_of(self.ctx)
        if found is None:
            return
        cls, method = found
        for target in node.targets:
            attr = self_attribute(target.target)
            if attr is None:
                continue
            known = self.classes.get(cls.name.value, {}).get(attr)
            for sd in known.shutdowns if known is not None else ():
                if sd.method is method:
                    sd.reassigned_after = True
            if self.executors.creates(node.value):
                ex = self._executor(cls, attr)
                ex.created.append((node, method))
                ex.guarded.append(any(_is_none_test(c.test, attr) == c.positive for c in self.ctx.conditions()
                                      if _is_none_test(c.test, attr) is not None))
                for sd in ex.shutdowns:
                    if sd.method is method:
                        sd.recreated_after = True
            elif isinstance(node.value, cst.Name) and node.value.value in ("True", "False"):
                self.flag_set_in.add(id(method))  # `self._running = False`

    def visit_Call(self, node: cst.Call) -> None:
        found = method_of(self.ctx)
        if found is None:
            return
        cls, method = found
        func = node.func
        name = last_name(func)
        if name == "set" and isinstance(func, cst.Attribute) and not node.args:
            self.flag_set_in.add(id(method))  # `self._stop.set()`
            return
        if isinstance(func, cst.Attribute):
            attr = self_attribute(func.value)
            if attr is None and isinstance(func.value, cst.Name) and name == "shutdown":
                bound = self.ctx.binding(func.value.value)  # `executor = self._pool` ... `executor.shutdown()`
                if bound is not None and bound.kind == "assign" and bound.value is not None:
                    attr = self_attribute(bound.value)
            if attr is not None and name == "shutdown":
                self._executor(cls, attr).shutdowns.append(_Shutdown(
                    node, method,
                    cancels=literal(_kwarg(node, "cancel_futures")) is True,
                    no_wait=literal(_kwarg(node, "wait")) is False
                    or (bool(node.args) and node.args[0].keyword is None and literal(node.args[0].value) is False),
                    stops_loops=id(method) in self.flag_set_in,
                ))
                return
            if attr is not None and name in ("submit", "map"):
                self._executor(cls, attr).submitters.add(method.name.value)
                return
        if name == "run_in_executor" and node.args:
            attr = self_attribute(node.args[0].value)
            if attr is not None:
                self._executor(cls, attr).submitters.add(method.name.value)

    def end(self) -> None:
        for cls_name, executors in self.classes.items():
            cls = self.ctx.index.classes.get(cls_name)
            if cls is None or not self._model_class(cls):
                continue
            for attr, ex in executors.items():
                if ex.created:
                    self._decide(cls, attr, ex)

    def _model_class(self, cls: cst.ClassDef) -> bool:
        """A class that loads a model (a load/reload method) or holds one (`self.model`, `self.llm`)."""
        if any(name_has(m.name.value, ("load", "reload")) for m in self.ctx.index.methods(cls)):
            return True
        attrs = self.ctx.index.self_attrs.get(cls.name.value, {})
        return any(set(snake_words(a)[-1:]) & self.vocab.backend_words for a in attrs)

    def _is_unload(self, method: cst.FunctionDef) -> bool:
        return method.name.value != "__del__" and name_has(method.name.value, self.vocab.unload_methods)

    def _is_load(self, method: cst.FunctionDef) -> bool:
        return method.name.value != "__init__" and name_has(method.name.value, self.vocab.load_methods)

    def _base_shuts_down(self, cls: cst.ClassDef, attr: str, unloads: list[cst.FunctionDef]) -> bool:
        """Does a project base class (another module's) shut `self.<attr>` down in an unload
        method of the same name?"""
        facts = self.ctx.facts
        if facts is None:
            return False
        for base in cls.bases:
            name = self.ctx.imports.qualname(base.value)
            for method in unloads:
                if not _calls_super(method):
                    continue  # an override that never calls the base's: the base's shutdown never runs
                found = facts.method(name, method.name.value) if name is not None else None
                if found and f"self.{attr}" in found.get("shuts_down", []):
                    return True
        return False

    def _inherited_shutdown(self, cls: cst.ClassDef, attr: str) -> bool:
        """Does a base class of this module shut `self.<attr>` down in an unload method this
        class inherits, or overrides with a call to super()?"""
        own = {m.name.value: m for m in self.ctx.index.methods(cls)}
        for base in cls.bases:
            name = last_name(base.value)
            ex = self.classes.get(name or "", {}).get(attr)
            for sd in ex.shutdowns if ex is not None else ():
                override = own.get(sd.method.name.value)
                if self._is_unload(sd.method) and (override is None or _calls_super(override)):
                    return True
            base_cls = self.ctx.index.classes.get(name or "")
            if base_cls is not None and base_cls is not cls and self._inherited_shutdown(base_cls, attr):
                return True
        return False

    def _left_set(self, cls: cst.ClassDef, attr: str, ex: _Executor) -> None:
        """A shutdown outside the unload path (a failed load's cleanup) that leaves the
        attribute set, in a class that re-creates the executor only when it is None: the
        next load skips the re-create and submits to the dead pool."""
        later = [(node, m) for (node, m), g in zip(ex.created, ex.guarded) if m.name.value != "__init__"]
        if not later or not all(g for (_, m), g in zip(ex.created, ex.guarded) if m.name.value != "__init__"):
            return
        for sd in ex.shutdowns:
            if self._is_unload(sd.method) or sd.method.name.value.startswith("__") or sd.reassigned_after:
                continue
            where = later[0][1].name.value
            self.report(sd.call, detail=f"`self.{attr}` is shut down in `{sd.method.name.value}` but left set: "
                        f"`{where}` re-creates it only when it is None, so the next call submits to the dead "
                        f"pool (`cannot schedule new futures after shutdown`); set `self.{attr} = None` after "
                        "the shutdown")

    def _decide(self, cls: cst.ClassDef, attr: str, ex: _Executor) -> None:
        self._left_set(cls, attr, ex)
        unload_shutdowns = [s for s in ex.shutdowns if self._is_unload(s.method)]
        if not unload_shutdowns:
            # (b) only a class with an unload path has promised to clean up
            unloads = [m for m in self.ctx.index.methods(cls) if self._is_unload(m)]
            if unloads and not self._base_shuts_down(cls, attr, unloads) and not self._inherited_shutdown(cls, attr):
                node, _ = ex.created[0]
                self.report(node, detail=f"`self.{attr}` is never shut down by an unload path: "
                            "its threads outlive the model; shut it down in unload()")
            return
        recreated_in_load = any(self._is_load(m) for _, m in ex.created)
        later_users = {m for m in ex.submitters if m != "__init__" and not name_has(m, self.vocab.unload_methods)}
        for sd in unload_shutdowns:
            if (not sd.cancels or sd.no_wait) and not sd.stops_loops:
                what = "`wait=False`" if sd.no_wait else "no `cancel_futures=True`"
                fix = None
                if not sd.no_wait and _kwarg(sd.call, "cancel_futures") is None:
                    fix = replace("Add `cancel_futures=True`", sd.call, _add_cancel_futures)
                self.report(sd.call, fix=fix, detail=f"`self.{attr}.shutdown(...)` in `{sd.method.name.value}` "
                            f"has {what}: queued work then runs against the freed model; use "
                            "`shutdown(wait=True, cancel_futures=True)`")
            elif not sd.recreated_after and not recreated_in_load and later_users and not sd.stops_loops:
                self.report(sd.call, detail=f"`self.{attr}` is shut down in `{sd.method.name.value}` "
                            f"and never recreated, but `{sorted(later_users)[0]}` submits to it: the next load "
                            "raises `cannot schedule new futures after shutdown`; recreate it after shutdown")


def _add_cancel_futures(updated: cst.CSTNode) -> cst.CSTNode:
    assert isinstance(updated, cst.Call)
    return append_arg(updated, keyword_arg("cancel_futures", cst.Name("True")))


def _is_none_test(test: cst.BaseExpression, attr: str) -> bool | None:
    """True for `self.<attr> is None` / `not self.<attr>`, False for `is not None` / a bare
    `self.<attr>`; None when the test is about something else."""
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        inner = _is_none_test(test.expression, attr)
        return None if inner is None else not inner
    if self_attribute(test) == attr:
        return False
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and self_attribute(test.left) == attr:
        target = test.comparisons[0]
        if isinstance(target.comparator, cst.Name) and target.comparator.value == "None":
            if isinstance(target.operator, cst.Is):
                return True
            if isinstance(target.operator, cst.IsNot):
                return False
    return None


def _calls_super(method: cst.FunctionDef) -> bool:
    """Does `method` call `super().<its own name>(...)`?"""
    return any(
        isinstance(c.func, cst.Attribute) and c.func.attr.value == method.name.value
        and isinstance(c.func.value, cst.Call) and last_name(c.func.value.func) == "super"
        for c in calls_in(method.body.body)
    )
