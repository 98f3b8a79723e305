"""Where does a tensor live? 'device' (may be on an accelerator), 'cpu', or None (unknown).

Deliberately local and light: an expression is 'device' only with positive evidence
(model outputs, `.to(device)`, `.cuda()`, creation with a non-CPU `device=`, and tensor
operations applied to those). Unknown is the common answer, and callers stay silent on it.
"""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.context import Binding, Context
from torchlint.analysis.guards import device_literal
from torchlint.analysis.models import ModelOracle, bound_values
from torchlint.analysis.names import annotated_class, contains, dotted, last_name, snake_words

DEVICE, CPU = "device", "cpu"

OUTPUT_ATTRS = frozenset(
    {
        "logits", "last_hidden_state", "pooler_output", "embeddings", "hidden_states",
        "image_embeds", "text_embeds", "sequences", "scores", "predicted_depth", "audio_values",
    }
)
# Tensor methods whose result lives where the receiver lives.
SAME_DEVICE_METHODS = frozenset(
    {
        "argmax", "argmin", "softmax", "log_softmax", "sigmoid", "squeeze", "unsqueeze", "detach",
        "float", "half", "double", "bfloat16", "long", "int", "bool", "mean", "sum", "max", "min",
        "view", "reshape", "flatten", "permute", "transpose", "contiguous", "clone", "exp", "log",
        "round", "abs", "norm", "topk", "sort", "expand", "repeat", "gather", "index_select",
        "masked_fill", "clamp", "type", "type_as", "argsort", "cumsum", "mul", "add", "div", "sub",
        "matmul", "t", "to_dense", "nonzero", "flip", "chunk", "split", "select", "narrow",
    }
)
CREATION = frozenset(
    {
        "tensor", "as_tensor", "zeros", "ones", "empty", "full", "arange", "linspace", "rand",
        "randn", "randint", "eye", "zeros_like", "ones_like", "empty_like", "full_like",
        "rand_like", "randn_like",
    }
)
SAME_DEVICE_ATTRS = frozenset({"data", "T", "mT", "H", "real", "imag"})
# Words of a model method whose result is model output (logits, hidden states, a forward).
MODEL_OUTPUT_WORDS = frozenset({"logits", "hidden", "forward", "embeddings", "embeds"})


def _is_cpu_literal(expr: cst.BaseExpression, ctx: Context) -> bool | None:
    """True for "cpu"/torch.device("cpu"), False for another device literal, None unknown."""
    if isinstance(expr, cst.SimpleString):
        kind = device_literal(expr)
        return None if kind is None else kind == "cpu"
    if isinstance(expr, cst.Call) and ctx.imports.qualname(expr.func) == "torch.device" and expr.args:
        return _is_cpu_literal(expr.args[0].value, ctx)
    if isinstance(expr, cst.Name):
        binding = ctx.binding(expr.value)
        if binding is not None and binding.kind == "assign" and isinstance(binding.value, cst.SimpleString):
            return _is_cpu_literal(binding.value, ctx)
    return None


def _device_arg(call: cst.Call, ctx: Context) -> cst.BaseExpression | None:
    """The device argument of `.to(...)`, skipping dtype-only positional arguments."""
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == "device":
                return arg.value
            continue
        qual = ctx.imports.qualname(arg.value) or ""
        if qual.startswith("torch.") and qual != "torch.device":
            continue  # a dtype such as torch.float16
        name = last_name(arg.value) or ""
        if "dtype" in name:
            continue
        return arg.value
    return None


class TensorOracle:
    def __init__(self, ctx: Context, models: ModelOracle):
        self.ctx = ctx
        self.models = models
        self._resolving: dict[str, Binding] = {}  # names whose binding's value is being read
        # Models loaded here that nothing places (`self.model = ViTModel.from_pretrained(...)`,
        # no device_map, no `.to(...)`): they run on the CPU, their outputs are host tensors.
        self.unplaced: set[str] = set()

    def location(self, expr: cst.BaseExpression, depth: int = 0) -> str | None:
        if depth > 12:
            return None
        ctx = self.ctx
        if isinstance(expr, cst.Call):
            return self._call_location(expr, depth)
        if isinstance(expr, cst.Attribute):
            if expr.attr.value in OUTPUT_ATTRS or expr.attr.value in SAME_DEVICE_ATTRS:
                return self.location(expr.value, depth + 1)
            return None
        if isinstance(expr, cst.Subscript):
            return self.location(expr.value, depth + 1)
        if isinstance(expr, cst.BinaryOperation):
            sides = {self.location(expr.left, depth + 1), self.location(expr.right, depth + 1)}
            return DEVICE if DEVICE in sides else None
        if isinstance(expr, cst.Name):
            outer = self._resolving.get(expr.value)
            binding = ctx.binding(expr.value) if outer is None else ctx.binding_before(expr.value, outer)
            if binding is None:
                return None
            self._resolving[expr.value] = binding
            try:
                return self._name_location(binding, depth)
            finally:
                if outer is None:
                    del self._resolving[expr.value]
                else:
                    self._resolving[expr.value] = outer
        return None

    def _name_location(self, binding: Binding, depth: int) -> str | None:
        """Where the value a name was bound to lives (names inside it that the binding
        reassigns, `x = x * 255.0`, read the binding before it)."""
        if binding.kind == "param":
            return None
        if binding.kind == "loop" and binding.value is not None:
            return self._element_location(binding.value, binding.index, depth)
        if binding.kind in ("assign", "unpack") and binding.value is not None:
            if binding.kind == "unpack":
                value = binding.value
                if isinstance(value, (cst.Tuple, cst.List)) and binding.index is not None:
                    if binding.index < len(value.elements):
                        return self.location(value.elements[binding.index].value, depth + 1)
                    return None
                # `logits, cache = model(x)`: every element of a model output is a tensor;
                # `values, indices = torch.topk(x, 3)`: both live where `x` does.
                if isinstance(value, cst.Call) and self.models.is_forward_call(value):
                    return DEVICE
                return self.location(value, depth + 1) if isinstance(value, cst.Call) else None
            return self.location(binding.value, depth + 1)
        return None

    def _element_location(self, iterable: cst.BaseExpression, index: int | None, depth: int) -> str | None:
        """Where the loop variable of `for x in xs` (or `enumerate(xs)`, `zip(a, b)`) lives."""
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name):
            name = iterable.func.value
            if name == "enumerate" and iterable.args:
                return self.location(iterable.args[0].value, depth + 1) if index == 1 else None
            if name == "zip" and index is not None and index < len(iterable.args):
                return self.location(iterable.args[index].value, depth + 1)
            if name in ("reversed", "list", "tuple") and iterable.args and index is None:
                return self.location(iterable.args[0].value, depth + 1)
            return None
        return self.location(iterable, depth + 1) if index is None else None

    def _device_location(self, device: cst.BaseExpression, depth: int) -> str | None:
        """Where `device=<expr>` puts a tensor: a literal says; `x.device` is wherever `x` is
        (a model's device counts as an accelerator); any other device variable may be one."""
        is_cpu = _is_cpu_literal(device, self.ctx)
        if is_cpu is not None:
            return CPU if is_cpu else DEVICE
        if isinstance(device, cst.Name):
            binding = self.ctx.binding(device.value)
            if binding is not None and binding.kind == "assign" and isinstance(binding.value, cst.Attribute):
                device = binding.value
        if isinstance(device, cst.Attribute) and device.attr.value == "device":
            if self.models.classify(device.value) == "model":
                return DEVICE
            return self.location(device.value, depth + 1)
        return DEVICE

    def _project_host(self, receiver: cst.BaseExpression, method: str) -> bool:
        """Is `receiver` an instance of a project class whose `method` returns host tensors on
        every path (`return torch.from_numpy(wav)`; project summary `returns: [host]`)?"""
        facts, ctx = self.ctx.facts, self.ctx
        if facts is None:
            return False
        classes = [_ctor_class(v) for v in bound_values(ctx, receiver)]
        if isinstance(receiver, cst.Name) and not classes:
            binding = ctx.binding(receiver.value)  # `net: Net`, a parameter typed as a project class
            if binding is not None and binding.kind == "param" and binding.annotation is not None:
                classes = [annotated_class(binding.annotation)]
        if not classes or None in classes:
            return False
        own = facts.summary.get("classes", {})
        for cls in classes:
            name = dotted(cls) or ""
            found = facts.summary.get("functions", {}).get(f"{name}.{method}") if name in own \
                else facts.method(ctx.imports.qualname(cls) or name, method)
            if not found or set(found.get("returns", ())) != {"host"}:
                return False
        return True

    def _call_location(self, call: cst.Call, depth: int) -> str | None:
        ctx = self.ctx
        func = call.func
        qual = ctx.imports.qualname(func)
        if qual is not None:
            parts = qual.split(".")
            if parts[0] == "torch" and parts[-1] in CREATION:
                for arg in call.args:
                    if arg.keyword is not None and arg.keyword.value == "device":
                        return self._device_location(arg.value, depth)
                if parts[-1].endswith("_like") and call.args:
                    return self.location(call.args[0].value, depth + 1)
                return CPU
            if parts[0] == "torch" and call.args:
                first = call.args[0].value
                if isinstance(first, (cst.List, cst.Tuple)) and first.elements:
                    first = first.elements[0].value
                return self.location(first, depth + 1)
            return None
        if isinstance(func, cst.Attribute):
            method = func.attr.value
            receiver = func.value
            if method == "cpu" or method == "numpy":
                return CPU
            if method == "cuda":
                return DEVICE
            if method == "to":
                device = _device_arg(call, ctx)
                if device is None:
                    return self.location(receiver, depth + 1)
                name = (last_name(device) or "").lower()
                if _is_cpu_literal(device, ctx) is None and not ("device" in name or name in ("cuda", "mps", "gpu")):
                    return None
                return self._device_location(device, depth)
            if method in SAME_DEVICE_METHODS:
                return self.location(receiver, depth + 1)
            if self._project_host(receiver, method):
                return CPU  # `tts.generate(...)` of a project class that returns `torch.from_numpy(...)`
            if self.models.classify(receiver) == "model" and (
                    method == "generate" or set(snake_words(method)) & MODEL_OUTPUT_WORDS):
                return CPU if dotted(receiver) in self.unplaced else DEVICE  # `model.get_logits(x)`
        if self.models.is_forward_call(call):
            if self._project_host(func, "forward"):
                return CPU  # `net(x)` of a project module whose forward returns `out.to("cpu")`
            return CPU if dotted(func) in self.unplaced else DEVICE
        return None


def _ctor_class(value: cst.BaseExpression) -> cst.BaseExpression | None:
    """The class a value was built from: `Cls(...)` or `Cls.from_pretrained(...)`."""
    if not isinstance(value, cst.Call):
        return None
    func = value.func
    if isinstance(func, cst.Attribute) and (last_name(func.value) or "")[:1].isupper():
        return func.value
    return func if (last_name(func) or "")[:1].isupper() else None


def is_dtype_check(expr: cst.BaseExpression) -> bool:
    """Does a test look at a tensor's dtype (`t.dtype in ...`, `t.is_floating_point()`)?"""
    return contains(
        expr,
        lambda n: (isinstance(n, cst.Attribute) and n.attr.value in ("dtype", "is_floating_point", "is_complex"))
        or (isinstance(n, cst.Name) and n.value in ("is_floating_point", "is_complex")),
    )
