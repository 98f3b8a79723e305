"""TL501: an optimisation that raises without its optional dependency or device, unguarded."""

from __future__ import annotations

import dataclasses

import libcst as cst

from torchlint.analysis.devices import MPS_PROBES
from torchlint.analysis.guards import compared_device, cuda_deployment, device_literal, mentions_cuda_probe
from torchlint.analysis.hardcoded import HardCodedCuda
from torchlint.analysis.models import ModelOracle, bound_values
from torchlint.analysis.names import contains, dotted, last_name, literal, snake_words
from torchlint.checks import Check, register
from torchlint.params import Params

_CATCHING = ("ImportError", "ModuleNotFoundError", "RuntimeError", "ValueError", "Exception", "BaseException",
             "NotImplementedError", "OSError")


@dataclasses.dataclass(frozen=True)
class OptionalOptimizationParams(Params):
    raising_calls: dict[str, str]  # method -> what it raises and how to guard it
    cuda_only_calls: frozenset[str]  # optimizations that need CUDA
    guard_words: frozenset[str]  # words of a setting or helper that guards the call
    dependencies: dict[str, str]  # method -> the package it needs (with CUDA)


@register
class OptionalOptimization(Check):
    kind = "optional_optimization"
    Params = OptionalOptimizationParams
    fields = frozenset({"call", "detail"})

    def __init__(self, *args):
        super().__init__(*args)
        self.hard_coded = HardCodedCuda(self.ctx, ModelOracle(self.ctx))
        self.pending: list[tuple[cst.Call, str]] = []

    def visit_Call(self, node: cst.Call) -> None:
        self.hard_coded.note(node)
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in self.params.raising_calls:
            return
        name = func.attr.value
        if name in self.params.cuda_only_calls and self._on_non_cuda():
            self.report(node, call=name, detail="runs on a branch where the device is MPS or CPU, but xformers is "
                        "CUDA-only: on MPS use `enable_attention_slicing()`; with PyTorch >= 2 SDPA needs neither")
            return
        if not self._handled() and not self._guarded(name) and not self._project_object(func.value):
            self.pending.append((node, name))

    def _project_object(self, receiver: cst.BaseExpression) -> bool:
        """`visualizer = FaceMeshVisualizer(...)`: an object of a project class (not a pipeline),
        whose `enable_model_cpu_offload()` is its own method (or none), not diffusers'."""
        values = bound_values(self.ctx, receiver)
        if isinstance(receiver, cst.Name):  # every assignment in scope: `x = Visualizer(...)` in one branch, None in another
            values = [b.value for f in self.ctx.frames for b in f.bindings.get(receiver.value, ()) if b.kind == "assign"]
        for value in values:
            name = (dotted(value.func) or "") if isinstance(value, cst.Call) else ""
            if not name[-1:].isalnum() or name.rsplit(".", 1)[-1].endswith(("Pipeline", "Pipe")):
                continue
            if name in self.ctx.index.classes:
                return True
            qual = self.ctx.imports.qualname(value.func) or name
            hit = self.ctx.facts.lookup(qual) if self.ctx.facts is not None else None
            if hit is not None and hit[0] == "class":
                return True
        return False

    def end(self) -> None:
        for node, name in self.pending:
            if not self._cuda_only_with(name):
                self.report(node, call=name, detail=f"raises {self.params.raising_calls[name]}")

    def _cuda_only_with(self, name: str) -> bool:
        """The code runs on CUDA only (a deployment on a CUDA image, or a module that moves its
        models to CUDA by hard-code) and the project installs the package the call needs
        (`xformers`, `accelerate` in its requirements): neither precondition can be missing."""
        facts, package = self.ctx.facts, self.params.dependencies.get(name)
        return facts is not None and package is not None and facts.declares(package) \
            and (self.hard_coded.cuda_only or cuda_deployment(self.ctx) is not None)

    def _handled(self) -> bool:
        for t in self.ctx.trys:
            for h in getattr(t, "handlers", ()):
                if h.type is None or contains(h.type, lambda n: isinstance(n, cst.Name) and n.value in _CATCHING):
                    return True
        return False

    def _guarded(self, name: str) -> bool:
        own = set(snake_words(name)) - {"enable", "model", "efficient", "memory", "attention", "cpu"}
        words = self.params.guard_words | own
        if any(set(snake_words(f.name.value)) & own for f in self.ctx.functions):
            return True  # the wrapper that exists to turn this on (`def enable_xformers(self)`)
        for cond in self.ctx.conditions():
            if mentions_cuda_probe(cond.test, self.ctx) or contains(cond.test, lambda n: self._guard_node(n, words)):
                return True
        return False

    def _guard_node(self, node: cst.CSTNode, words: set[str]) -> bool:
        if device_literal(node) is not None:
            return True
        key = _setting_key(node)  # `kwargs.get("cpu_offload")`, `options["offload"]`: a setting's name
        if key is not None and set(snake_words(key)) & words:
            return True
        if isinstance(node, cst.Call):
            called = last_name(node.func) or ""
            return called.startswith("is_") and called.endswith("_available")
        name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else ""
        return isinstance(name, str) and bool(set(snake_words(name)) & words)

    def _on_non_cuda(self) -> bool:
        """A condition in force says the device is MPS or CPU."""
        for cond in self.ctx.conditions():
            test = cond.test
            if cond.positive and contains(test, lambda n: self.ctx.imports.call_qualname(n) in MPS_PROBES):
                return True
            if compared_device(test, cond.positive) in ("mps", "cpu"):
                return True
        return False


def _setting_key(node: cst.CSTNode) -> str | None:
    """The key a setting is read by (`opts.get("cpu_offload", False)`, `opts["cpu_offload"]`); a
    value compared with a setting (`attention_type == "xformers"`) is no key."""
    if isinstance(node, cst.Call) and last_name(node.func) == "get" and node.args:
        key = literal(node.args[0].value)
    elif isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        key = literal(node.slice[0].slice.value)
    else:
        return None
    return key if isinstance(key, str) and key.isidentifier() else None
