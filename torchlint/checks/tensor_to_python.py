"""TL302: `.tolist()` / `.numpy()` on a tensor that may still be on an accelerator."""

from __future__ import annotations

import dataclasses

import libcst as cst

from torchlint.analysis.edits import method_call, replace
from torchlint.analysis.grad import GradOracle
from torchlint.analysis.guards import device_literal
from torchlint.analysis.loading import Load, LoadTracker
from torchlint.analysis.models import ModelOracle
from torchlint.analysis.names import dotted, last_name
from torchlint.analysis.tensors import DEVICE, TensorOracle
from torchlint.checks import Check, register
from torchlint.params import Params


@dataclasses.dataclass(frozen=True)
class TensorToPythonParams(Params):
    methods: frozenset[str]  # conversions that need a host tensor


@register
class TensorToPython(Check):
    kind = "tensor_to_python"
    Params = TensorToPythonParams
    fields = frozenset({"method", "insert", "consequence", "purpose"})

    def __init__(self, *args):
        super().__init__(*args)
        self.tensors = TensorOracle(self.ctx, ModelOracle(self.ctx))
        self.grad = GradOracle(self.ctx.index, self.ctx.facts)
        self.loads = LoadTracker(self.ctx, self.vocab.model_packages, self.vocab.placing_methods)

    def _loaded_on_cpu(self, call: cst.Call) -> bool:
        """`self.model = Text2Speech.from_pretrained(tag, device="cpu")`: any loader told the CPU
        (a later `.to(...)` of a loader torchlint does not know is not looked for)."""
        parent = self.ctx.parent()
        return last_name(call.func) == "from_pretrained" and isinstance(parent, cst.Assign) \
            and parent.value is call and any(
                a.keyword is not None and a.keyword.value == "device" and device_literal(a.value) == "cpu"
                for a in call.args)

    def _in_loop(self) -> bool:
        """Run on every pass of a `for`/`while` loop or a comprehension of the function being
        visited: not in the iterable a loop evaluates once (`for t in x.tolist():`), nor in a
        branch taken on one pass only (`if i == 0:` on the loop's own index)."""
        stack = self.ctx.stack
        once: set[str] = set()  # loop variables an enclosing `if <var> == <literal>:` pins
        for i in range(len(stack) - 2, -1, -1):
            node, inner = stack[i], stack[i + 1]
            if isinstance(node, (cst.FunctionDef, cst.Lambda)):
                return False
            if isinstance(node, cst.If) and inner is node.body:
                once |= _pinned(node.test)
            if isinstance(node, cst.For):
                if inner is node.iter:
                    continue  # the iterable: evaluated once, before the first pass
                if isinstance(node.target, cst.Name) and node.target.value in once:
                    continue  # the branch of one pass (`if i == 0:` for the prefill)
                return True
            if isinstance(node, cst.While):
                return True
            if isinstance(node, (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)):
                if inner is node.for_in and i + 2 < len(stack) and stack[i + 2] is node.for_in.iter:
                    continue  # the first `for`'s iterable: evaluated once
                return True
        return False

    def visit_Call(self, node: cst.Call) -> None:
        load = self.loads.load(node) or self.loads.construction(node, self.vocab.model_constructors)
        if load is not None and load.target is not None and not (
                load.device_map or load.star_kwargs or load.placements or load.escapes) and (
                load.device is None or device_literal(load.device.value) == "cpu") and not _mapped_off_cpu(load):
            self.tensors.unplaced.add(dotted(load.target) or "")
        elif load is None and self._loaded_on_cpu(node):
            target = self.ctx.parent()
            self.tensors.unplaced.add(dotted(target.targets[0].target) or "")
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in self.params.methods or node.args:
            return
        if self.tensors.location(func.value) != DEVICE:
            return
        method = func.attr.value
        if method == "tolist" and not self._in_loop():
            return  # one bulk copy and one sync, as `.cpu().tolist()`: only a loop makes it a cost
        chain = ["detach", "cpu"] if method == "numpy" and not self.grad.under_no_grad(self.ctx) else ["cpu"]
        insert = "`" + "".join(f".{m}()" for m in chain) + "`"
        fix = replace(f"Insert {insert}", node, _inserting(chain))
        if method == "numpy":
            self.report(node, method=method, insert=insert, fix=fix,
                        consequence="raises there (TypeError on CUDA/MPS)", purpose="")
        else:
            # `.tolist()` works on a device tensor: one bulk copy and a sync, as `.cpu().tolist()`.
            self.report(node, method=method, insert=insert, fix=fix, severity="low",
                        consequence="copies it to the host and waits for the device on every pass of this loop, "
                        "as `.cpu().tolist()` would",
                        purpose=" to make that sync point visible")


def _mapped_off_cpu(load: Load) -> bool:
    """Loaded straight onto a device: `torch.jit.load(p, map_location="cuda")` (also positional)."""
    mapped = next((a.value for i, a in enumerate(load.call.args)
                   if (a.keyword is not None and a.keyword.value == "map_location")
                   or (a.keyword is None and i == 1 and load.owner == "torch.jit.load")), None)
    return mapped is not None and device_literal(mapped) != "cpu"


def _inserting(chain: list[str]):
    def rebuild(updated: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(updated, cst.Call) and isinstance(updated.func, cst.Attribute)
        receiver = updated.func.value
        for method in chain:
            receiver = method_call(receiver, method)
        return updated.with_changes(func=updated.func.with_changes(value=receiver))

    return rebuild


def _pinned(test: cst.BaseExpression) -> set[str]:
    """`i == 0` (or `0 == i`): the names a test pins to one value."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
            and isinstance(test.comparisons[0].operator, cst.Equal):
        sides = (test.left, test.comparisons[0].comparator)
        if any(isinstance(s, (cst.Integer, cst.SimpleString)) for s in sides):
            return {s.value for s in sides if isinstance(s, cst.Name)}
    return set()

