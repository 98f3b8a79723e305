"""Hardware guards: CUDA-availability checks and compute-capability gates.

Capability gates are evaluated, not pattern-matched: each condition in force at a point is
evaluated (three-valued) for every capability in a reference list, giving the set of GPU
generations for which the code can run. Parts of a condition that do not depend on the
capability (`torch.cuda.is_available()`, a flag) are unknown and never exclude anything.
"""

from __future__ import annotations

import operator
from typing import Any, Iterable

import libcst as cst

from torchlint.analysis import deployment
from torchlint.analysis.context import Condition, Context
from torchlint.analysis.models import bound_values
from torchlint.analysis.names import contains, dotted, last_name, within

# (major, minor) of shipped NVIDIA architectures: Volta .. Blackwell.
CAPABILITIES: tuple[tuple[int, int], ...] = (
    (7, 0), (7, 5), (8, 0), (8, 6), (8, 7), (8, 9), (9, 0), (10, 0), (10, 3), (11, 0), (12, 0), (12, 1),
)
PLATFORM_PROBES = frozenset({"is_hip", "is_rocm", "is_cuda", "is_cuda_alike"})
CUDA_PROBES = frozenset(
    {
        "torch.cuda.is_available",
        "torch.cuda.device_count",
        "torch.cuda.get_device_capability",
        "torch.cuda.get_device_properties",
        "torch.cuda.get_device_name",
    }
)
CAPABILITY_PROBES = frozenset({"torch.cuda.get_device_capability"})


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()

_COMPARE = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt,
    cst.LessThanEqual: operator.le, cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
}
_ARITH = {cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul,
          cst.FloorDivide: operator.floordiv}


class CapabilityEvaluator:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._read_capability = False  # set when an evaluation reaches a capability probe

    def value(self, expr: cst.BaseExpression, cap: tuple[int, int], depth: int = 0) -> Any:
        if depth > 8:
            return UNKNOWN
        ctx = self.ctx
        if isinstance(expr, cst.Integer):
            return expr.evaluated_value
        if isinstance(expr, cst.Float):
            return expr.evaluated_value
        if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
            items = [self.value(e.value, cap, depth + 1) for e in expr.elements]
            return UNKNOWN if any(i is UNKNOWN for i in items) else tuple(items)
        if isinstance(expr, cst.Call):
            qual = ctx.imports.qualname(expr.func)
            if qual in CAPABILITY_PROBES:
                self._read_capability = True
                return cap
            if qual == "torch.cuda.get_device_properties":
                self._read_capability = True
                return {"major": cap[0], "minor": cap[1]}
            return UNKNOWN
        if isinstance(expr, cst.Attribute):
            base = self.value(expr.value, cap, depth + 1)
            if isinstance(base, dict):
                return base.get(expr.attr.value, UNKNOWN)
            return UNKNOWN
        if isinstance(expr, cst.Subscript):
            base = self.value(expr.value, cap, depth + 1)
            if isinstance(base, tuple) and len(expr.slice) == 1:
                sl = expr.slice[0].slice
                if isinstance(sl, cst.Index):
                    idx = self.value(sl.value, cap, depth + 1)
                    if isinstance(idx, int) and -len(base) <= idx < len(base):
                        return base[idx]
            return UNKNOWN
        if isinstance(expr, cst.Name):
            binding = ctx.binding(expr.value)
            if binding is None:
                for value in ctx.index.globals.get(expr.value, [])[-1:]:
                    return self.value(value, cap, depth + 1)
                return UNKNOWN
            if binding.kind == "assign" and binding.value is not None:
                return self.value(binding.value, cap, depth + 1)
            if binding.kind == "unpack" and binding.value is not None:
                whole = self.value(binding.value, cap, depth + 1)
                if isinstance(whole, tuple) and binding.index is not None and binding.index < len(whole):
                    return whole[binding.index]
            return UNKNOWN
        if isinstance(expr, cst.BinaryOperation):
            fn = _ARITH.get(type(expr.operator))
            left, right = self.value(expr.left, cap, depth + 1), self.value(expr.right, cap, depth + 1)
            if fn is None or left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN
            try:
                return fn(left, right)
            except Exception:
                return UNKNOWN
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            inner = self.value(expr.expression, cap, depth + 1)
            return UNKNOWN if inner is UNKNOWN else (not inner)
        if isinstance(expr, cst.BooleanOperation):
            left = self.value(expr.left, cap, depth + 1)
            right = self.value(expr.right, cap, depth + 1)
            if isinstance(expr.operator, cst.And):
                if left is not UNKNOWN and not left or right is not UNKNOWN and not right:
                    return False
                return UNKNOWN if UNKNOWN in (left, right) else True
            if left is not UNKNOWN and left or right is not UNKNOWN and right:
                return True
            return UNKNOWN if UNKNOWN in (left, right) else False
        if isinstance(expr, cst.Comparison):
            left = self.value(expr.left, cap, depth + 1)
            result: Any = True
            for target in expr.comparisons:
                right = self.value(target.comparator, cap, depth + 1)
                op = target.operator
                if left is UNKNOWN or right is UNKNOWN:
                    result = UNKNOWN if result is not False else False
                else:
                    try:
                        if isinstance(op, cst.In):
                            ok = left in right
                        elif isinstance(op, cst.NotIn):
                            ok = left not in right
                        elif type(op) in _COMPARE:
                            ok = _COMPARE[type(op)](left, right)
                        else:
                            ok = UNKNOWN
                    except TypeError:
                        ok = UNKNOWN
                    if ok is UNKNOWN:
                        result = UNKNOWN if result is not False else False
                    elif not ok:
                        result = False
                left = right
            return result
        return UNKNOWN

    def admitted(self, conditions: Iterable[Condition]) -> tuple[set[tuple[int, int]], bool]:
        """(capabilities the code can run on, whether any condition looked at the capability)."""
        admitted = set(CAPABILITIES)
        gated = False
        for cond in conditions:
            for cap, val in self._values(cond.test):
                if val is UNKNOWN:
                    continue
                gated = True
                if bool(val) != cond.positive:
                    admitted.discard(cap)
        return admitted, gated

    def _values(self, test: cst.BaseExpression) -> list[tuple[tuple[int, int], Any]]:
        """The test's value on each capability. A test that never reaches a capability probe
        has one value for all of them, so it is evaluated once."""
        self._read_capability = False
        first = self.value(test, CAPABILITIES[0])
        if not self._read_capability:
            return [(cap, first) for cap in CAPABILITIES]
        return [(CAPABILITIES[0], first), *((cap, self.value(test, cap)) for cap in CAPABILITIES[1:])]


DEVICE_TYPES = ("cuda", "cpu", "mps", "xpu", "hpu", "npu", "meta")


def device_literal(node: cst.CSTNode) -> str | None:
    """The device type a string literal names (`"cuda:0"` -> "cuda"), else None."""
    if not isinstance(node, cst.SimpleString) or len(node.value) > 16:
        return None  # device strings are short; skip evaluating docstrings and messages
    try:
        value = node.evaluated_value
    except Exception:
        return None
    if not isinstance(value, str):
        return None
    kind, _, index = value.partition(":")
    return kind if kind in DEVICE_TYPES and (not index or index.isdigit()) else None


def composed_cuda(node: cst.CSTNode) -> bool:
    """A CUDA device string built from an index: `"cuda:" + str(gpu_id)`, `f"cuda:{gpu_id}"`."""
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.Add):
        left = node.left
        return isinstance(left, cst.SimpleString) and device_literal(left) == "cuda" and str(
            left.evaluated_value).endswith(":")
    if isinstance(node, cst.FormattedString) and len(node.parts) == 2:
        text, value = node.parts
        return isinstance(text, cst.FormattedStringText) and text.value == "cuda:" \
            and isinstance(value, cst.FormattedStringExpression)
    return False


def cuda_device_value(expr: cst.BaseExpression, ctx: Context) -> bool:
    """A value that names the CUDA device: `"cuda:1"`, `"cuda:" + str(i)`, `f"cuda:{i}"`,
    `torch.device("cuda")`, `torch.device("cuda", gpu_id)`."""
    if device_literal(expr) == "cuda" or composed_cuda(expr):
        return True
    return isinstance(expr, cst.Call) and ctx.imports.qualname(expr.func) == "torch.device" \
        and bool(expr.args) and device_literal(expr.args[0].value) == "cuda"


def mentions_cuda_probe(expr: cst.BaseExpression, ctx: Context, depth: int = 0) -> bool:
    """Does this test consult the CUDA runtime (directly, via a variable, or `device == "cuda"`)?"""
    if depth > 6:
        return False

    def hit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Call):  # also a platform predicate: `is_hip()` (ROCm, which torch calls "cuda")
            return ctx.imports.qualname(node.func) in CUDA_PROBES or last_name(node.func) in PLATFORM_PROBES
        if isinstance(node, cst.Attribute) and node.attr.value == "is_cuda":
            return True  # `x.is_cuda`: the code runs only where the tensor already is on CUDA
        if isinstance(node, cst.Attribute):
            values = bound_values(ctx, node)  # `self.gpu_num = torch.cuda.device_count()` in the class
            return bool(values) and all(_probe_value(v, ctx) for v in values)
        if isinstance(node, cst.SimpleString):
            return device_literal(node) == "cuda"
        if isinstance(node, cst.Name):
            binding = ctx.binding(node.value)
            if binding is not None:
                return binding.kind == "assign" and binding.value is not None and mentions_cuda_probe(
                    binding.value, ctx, depth + 1
                )
            return any(mentions_cuda_probe(v, ctx, depth + 1) for v in ctx.index.globals.get(node.value, [])[-1:])
        return False

    return contains(expr, hit)


def _probe_value(value: cst.BaseExpression, ctx: Context) -> bool:
    """A CUDA probe's result, or a test made of one (`torch.cuda.device_count() > 0`)."""
    if isinstance(value, (cst.Comparison, cst.BooleanOperation, cst.UnaryOperation)):
        return contains(value, lambda n: isinstance(n, cst.Call) and ctx.imports.qualname(n.func) in CUDA_PROBES)
    return isinstance(value, cst.Call) and ctx.imports.qualname(value.func) in CUDA_PROBES


def format_capability(cap: tuple[int, int]) -> str:
    return f"sm_{cap[0]}{cap[1]}"


def cuda_deployment(ctx: Context) -> str | None:
    """Why this file runs on CUDA only by configuration (torchlint.analysis.deployment); None
    when nothing says so (or the file is linted alone)."""
    return deployment.cuda_deployment(ctx.facts) if ctx.facts is not None else None


def compared_device(test: cst.BaseExpression, positive: bool) -> str | None:
    """The device a comparison in force establishes: "cpu" for `device == "cpu"` (or the other
    branch of `device != "cpu"`); None when the test says no such thing."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    if not isinstance(target.operator, (cst.Equal, cst.NotEqual)):
        return None
    kind = device_literal(target.comparator) or device_literal(test.left)
    return kind if isinstance(target.operator, cst.Equal) == positive else None


def asks_cuda_only_package(node: cst.CSTNode, packages: frozenset[str]) -> bool:
    """`is_flash_attn_2_available()`: asks whether a CUDA-only package can run (vocabulary
    `cuda_only_packages`); its true branch is a CUDA path."""
    if not isinstance(node, cst.Call):
        return False
    name = last_name(node.func) or ""
    if not (name.startswith("is_") and name.endswith("_available")):
        return False
    asked = name[3:-len("_available")]
    return any(asked == p or asked.startswith(p + "_") for p in packages)


def requests_cuda_kernel(ctx: Context) -> bool:
    """Does the script load a model with a CUDA-only attention kernel whatever happens
    (`attn_implementation="flash_attention_2"` in a statement at module level or in its
    `__main__` block)? transformers refuses that load without flash-attn, which needs CUDA: the
    script is CUDA-only, and the CPU branch of its device selection is dead code."""
    known = getattr(ctx, "_requests_cuda_kernel", None)  # asked by TL101, TL102 and TL201
    if known is not None:
        return known
    wanted = ctx.vocab.attn_implementations

    def loads_with_kernel(expr: cst.BaseExpression | None) -> bool:
        # the calls of a statement's chain (`X.from_pretrained(..., attn_implementation=...).eval()`)
        while isinstance(expr, (cst.Call, cst.Attribute)):
            if isinstance(expr, cst.Call):
                if any(a.keyword is not None and a.keyword.value == "attn_implementation"
                       and isinstance(a.value, cst.SimpleString) and a.value.evaluated_value in wanted for a in expr.args):
                    return True
                expr = expr.func
            else:
                expr = expr.value
        return False

    def plain(body) -> bool:
        return any(isinstance(s, cst.SimpleStatementLine) and any(
            isinstance(small, (cst.Assign, cst.AnnAssign, cst.Expr)) and loads_with_kernel(small.value)
            for small in s.body) for s in body)

    ctx._requests_cuda_kernel = plain(ctx.module.body) or any(
        isinstance(s, cst.If) and isinstance(s.test, cst.Comparison) and contains(
            s.test, lambda n: isinstance(n, cst.SimpleString) and n.value.strip("'\"") == "__main__")
        and plain(s.body.body) for s in ctx.module.body)
    return ctx._requests_cuda_kernel


def imports_cuda_only_package(ctx: Context, besides: tuple[str, ...] = ()) -> bool:
    """Does the module import, unconditionally at its top level, a package that runs only with
    CUDA (vocabulary `cuda_only_packages`: TensorRT, cupy, flash-attn, vLLM, ...), other than
    those `besides`? Then the module is CUDA-only already. An import in a function, a branch or a `try:` is
    an option, not a requirement."""
    def hit(module: str) -> bool:
        return ctx.vocab.needs_cuda(module) and not within(module, besides)

    for stmt in ctx.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import) and any(hit(dotted(a.name) or "") for a in small.names):
                    return True
                if isinstance(small, cst.ImportFrom) and not small.relative and small.module is not None:
                    module = dotted(small.module) or ""
                    names = [] if isinstance(small.names, cst.ImportStar) else [
                        f"{module}.{dotted(a.name)}" for a in small.names]
                    if hit(module) or any(hit(n) for n in names):
                        return True  # `from polygraphy import cuda`
    return False
