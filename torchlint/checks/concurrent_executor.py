"""TL602: a multi-worker executor runs inference on a backend that is not thread-safe."""

from __future__ import annotations

import dataclasses

import libcst as cst

from torchlint.analysis.lifecycle import ExecutorOracle, method_of, self_attribute
from torchlint.analysis.names import contains, dotted, last_name, qualname_matches
from torchlint.checks import Check, register
from torchlint.params import Params


@dataclasses.dataclass(frozen=True)
class ConcurrentExecutorParams(Params):
    executor_classes: tuple[str, ...]  # thread pools (a process pool shares no state)
    serial_backends: tuple[str, ...]  # qualified names (fnmatch) of backends that are not thread-safe
    thread_safe_backends: tuple[str, ...]  # documented as safe for concurrent calls


@register
class ConcurrentExecutor(Check):
    kind = "concurrent_executor"
    Params = ConcurrentExecutorParams

    def __init__(self, *args):
        super().__init__(*args)
        self.executors = ExecutorOracle(self.ctx.index, self.params.executor_classes)
        # executor creations waiting for proof that they run a serial backend
        self.pools: list[tuple[cst.BaseExpression, str, cst.ClassDef]] = []
        self.submits: list[tuple[cst.ClassDef | None, str | None, str | None]] = []  # (class, pool attr, callee)

    def _backend_attrs(self, cls: cst.ClassDef) -> set[str]:
        """Attributes of `cls` holding a serial backend (`self.llm = Llama(...)`)."""
        out = set()
        for attr, values in self.ctx.index.self_attrs.get(cls.name.value, {}).items():
            for v in values:
                if isinstance(v, cst.Call):
                    qual = self.ctx.imports.qualname(v.func) or dotted(v.func) or ""
                    if qualname_matches(qual, self.params.serial_backends) and not qualname_matches(qual, self.params.thread_safe_backends):
                        out.add(attr)
        return out

    def visit_Assign(self, node: cst.Assign) -> None:
        found = method_of(self.ctx)
        attr = self_attribute(node.targets[0].target)
        ctor = self.executors.constructor(node.value)
        if found is None or attr is None or ctor is None:
            return
        workers = next((a.value for a in ctor.args if a.keyword and a.keyword.value == "max_workers"), None)
        if workers is None and ctor.args and ctor.args[0].keyword is None:
            workers = ctor.args[0].value
        if isinstance(workers, cst.Integer) and workers.evaluated_value == 1:
            return
        self.pools.append((node.value, attr, found[0]))

    def visit_Call(self, node: cst.Call) -> None:
        found = method_of(self.ctx)
        cls = found[0] if found else None
        name = last_name(node.func)
        if name in ("submit", "map") and isinstance(node.func, cst.Attribute) and node.args:
            self.submits.append((cls, self_attribute(node.func.value), self._callee(node.args[0].value)))
        elif name == "run_in_executor" and len(node.args) >= 2:
            self.submits.append((cls, self_attribute(node.args[0].value), self._callee(node.args[1].value)))

    def _callee(self, expr: cst.BaseExpression) -> str | None:
        """The attribute a submitted callable uses: `self.llm`, `self.llm.create_completion`,
        `functools.partial(self._complete, ...)` or `lambda: self.llm(...)`."""
        if isinstance(expr, cst.Call) and last_name(expr.func) == "partial" and expr.args:
            expr = expr.args[0].value
        if isinstance(expr, cst.Lambda):
            attrs: list[str] = []
            contains(expr.body, lambda n: self_attribute(n) is not None and not attrs.append(self_attribute(n)))
            return attrs[0] if attrs else None
        spelled = dotted(expr) or ""
        parts = spelled.split(".")
        if len(parts) >= 2 and parts[0] == "self":
            return parts[1]
        return None

    def end(self) -> None:
        reported: set[tuple[int, str]] = set()
        for call, attr, cls in self.pools:
            if (id(cls), attr) in reported:
                continue  # one finding per executor attribute, at its first creation
            backends = self._backend_attrs(cls)
            methods = {m.name.value: m for m in self.ctx.index.methods(cls)}
            for sub_cls, pool, callee in self.submits:
                if sub_cls is not cls or pool != attr or callee is None:
                    continue
                uses = {callee} if callee in backends else set()
                method = methods.get(callee)
                if method is not None:
                    text = self.ctx.module.code_for_node(method)
                    uses |= {b for b in backends if f"self.{b}" in text}
                if uses:
                    backend = sorted(uses)[0]
                    self.report(call, detail=f"`self.{attr}` can run several calls on `self.{backend}` "
                                "at once, and it is not thread-safe: create the executor with `max_workers=1`")
                    reported.add((id(cls), attr))
                    break
