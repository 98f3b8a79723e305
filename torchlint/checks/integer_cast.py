"""TL202: integer model inputs (token IDs, masks) cast to a floating dtype on the way in."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from torchlint.analysis.edits import replace
from torchlint.analysis.models import ModelOracle
from torchlint.analysis.names import contains, last_name, snake_words
from torchlint.analysis.tensors import is_dtype_check
from torchlint.checks import Check, register
from torchlint.params import Params

_FLOAT_METHODS = ("half", "float", "bfloat16", "double")
# Calls that keep a tensor's identity for this purpose (`ids.to(dev).half()`).
_PASS_THROUGH = ("to", "cuda", "contiguous", "clone", "detach")


@dataclass
class _Cast:
    call: cst.Call
    receiver: cst.BaseExpression
    at: cst.CSTNode  # the dtype argument, or the call for `.half()`
    dtype: cst.BaseExpression | None = None  # None for `.half()` and friends


@dataclass(frozen=True)
class IntegerCastParams(Params):
    integer_names: frozenset[str]  # names of integer model inputs
    integer_suffixes: tuple[str, ...]  # name endings of integer model inputs
    helper_name_words: frozenset[str]  # words of generic helpers that move inputs
    input_container_words: frozenset[str]  # words of containers of model inputs (`inputs`, `batch`)
    integer_dtypes: frozenset[str]  # qualified names of integer dtypes


@register
class IntegerCast(Check):
    kind = "integer_cast"
    Params = IntegerCastParams
    fields = frozenset({"what"})

    def __init__(self, *args):
        super().__init__(*args)
        self.models = ModelOracle(self.ctx)
        # name -> cast waiting to see whether it reaches a model call (per function)
        self.pending: dict[tuple[int, str], _Cast] = {}
        self.reported: set[int] = set()

    # ----- what is a float cast? -----------------------------------------------------
    def _dtype_arg(self, call: cst.Call) -> cst.Arg | None:
        for arg in call.args:
            if arg.keyword is not None:
                if arg.keyword.value == "dtype":
                    return arg
                continue
            qual = self.ctx.imports.qualname(arg.value) or ""
            name = last_name(arg.value) or ""
            if (qual.startswith("torch.") and qual != "torch.device") or "dtype" in name:
                return arg
        return None

    def _is_float(self, dtype: cst.BaseExpression) -> bool:
        """Could this dtype be floating? Known integer dtypes and another tensor's
        `.dtype` (copying a dtype keeps it) are not."""
        qual = self.ctx.imports.qualname(dtype)
        if qual is not None:
            return qual not in self.params.integer_dtypes
        if isinstance(dtype, cst.SimpleString):
            return dtype.evaluated_value.startswith(("float", "half", "bfloat", "double", "torch.float"))
        if isinstance(dtype, cst.Attribute) and dtype.attr.value == "dtype":
            return self._float_evidence(dtype)
        return True  # a dtype variable (`dtype`, `self.dtype`) is the model's float dtype in practice

    def _float_evidence(self, dtype: cst.BaseExpression, depth: int = 0) -> bool:
        """Positive evidence of a float dtype: a float literal, or the model's / wrapper's dtype."""
        if depth > 4:
            return False
        qual = self.ctx.imports.qualname(dtype)
        if qual is not None:
            return qual.startswith("torch.") and qual not in self.params.integer_dtypes
        if isinstance(dtype, cst.BooleanOperation):
            return self._float_evidence(dtype.left, depth + 1) or self._float_evidence(dtype.right, depth + 1)
        if isinstance(dtype, cst.IfExp):  # `get_dtype(device) if dtype else x.dtype`
            return self._float_evidence(dtype.body, depth + 1) or self._float_evidence(dtype.orelse, depth + 1)
        if isinstance(dtype, cst.Call):
            return "dtype" in (last_name(dtype.func) or "")
        if isinstance(dtype, cst.Attribute):
            base = last_name(dtype.value) or ""
            return "dtype" in dtype.attr.value and (base == "self" or self.models.classify(dtype.value) == "model")
        if isinstance(dtype, cst.Name):
            binding = self.ctx.binding(dtype.value)
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                return self._float_evidence(binding.value, depth + 1)
        return False

    def _as_cast(self, call: cst.Call) -> _Cast | None:
        func = call.func
        if not isinstance(func, cst.Attribute):
            return None
        method = func.attr.value
        if method in _FLOAT_METHODS and not call.args:
            return _Cast(call, func.value, call)
        if method in ("to", "type"):
            arg = self._dtype_arg(call)
            if arg is not None and self._is_float(arg.value):
                return _Cast(call, func.value, arg, arg.value)
        return None

    def _integer_name(self, expr: cst.BaseExpression) -> str | None:
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
            if expr.func.attr.value not in _PASS_THROUGH:
                return None
            expr = expr.func.value
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
            index = expr.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                name = index.value.evaluated_value
            else:
                return None
        else:
            name = last_name(expr)
        if name and (name in self.params.integer_names or name.endswith(self.params.integer_suffixes)):
            return name
        return None

    def _dtype_checked(self) -> bool:
        return any(is_dtype_check(c.test) for c in self.ctx.conditions())

    # ----- traversal -----------------------------------------------------------------
    def _report(self, cast: _Cast, what: str, fixable: bool = False) -> None:
        if id(cast.call) not in self.reported:
            self.reported.add(id(cast.call))
            fix = replace("Drop the floating dtype", cast.call, _drop_dtype(cast)) if fixable else None
            self.report(cast.at, what=what, fix=fix)

    def visit_Call(self, node: cst.Call) -> None:
        if self.models.is_model_call(node):
            self._model_call(node)
        cast = self._as_cast(node)
        if cast is None:
            return
        name = self._integer_name(cast.receiver)
        if name is not None:
            self._integer_cast(cast, name)
            return
        self._blanket_or_helper(cast)

    def _model_call(self, call: cst.Call) -> None:
        func = self.ctx.function
        for arg in call.args:
            if isinstance(arg.value, cst.Name):
                cast = self.pending.pop((id(func), arg.value.value), None)
                if cast is not None:
                    self._report(cast, f"`{arg.value.value}`", fixable=True)

    def _integer_cast(self, cast: _Cast, name: str) -> None:
        # Called while visiting the cast itself: its parent and grandparent are on the stack.
        parent, grand = self.ctx.parent(1), self.ctx.parent(2)
        if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call) and self.models.is_model_call(grand):
            self._report(cast, f"`{name}`", fixable=True)
        elif isinstance(parent, cst.Assign):
            for target in parent.targets:
                if self._is_input_store(target.target):
                    self._report(cast, f"`{name}`", fixable=True)
                elif isinstance(target.target, cst.Name):
                    self.pending[(id(self.ctx.function), target.target.value)] = cast

    def _blanket_or_helper(self, cast: _Cast) -> None:
        receiver = cast.receiver
        if not isinstance(receiver, cst.Name) or self._dtype_checked():
            return
        binding = self.ctx.binding(receiver.value)
        if binding is None:
            return
        if binding.kind == "loop" and self._iterates_inputs(binding.value):
            comp = binding.node
            if isinstance(comp, cst.CompFor) and any(is_dtype_check(i.test) for i in comp.ifs):
                return
            if cast.dtype is not None and self._per_input(cast.dtype, comp):
                return  # `v.to(dtype=engine.get_dtype(name))`: each input gets its own dtype
            if self._made_host_data():
                return  # `v.float().cpu().numpy()`: saved or returned as arrays, no model takes it
            self._report(cast, "every input tensor")
        elif binding.kind == "param":
            func = self.ctx.function
            # A helper is reported only when it applies a dtype known to be float: a helper that
            # re-applies a caller-given dtype (restoring a tensor) or upcasts with `.float()`
            # may be right, and a model parameter (`vae.to(dtype=...)`) is no tensor.
            float_dtype = cast.dtype is not None and self._float_evidence(cast.dtype)
            if self.models.classify(receiver) is not None:
                return
            if func is not None and float_dtype and set(snake_words(func.name.value)) & self.params.helper_name_words:
                self._report(cast, f"any tensor passed as `{receiver.value}`")

    def _made_host_data(self) -> bool:
        """Is the cast being visited turned into host data in the same chain (`.cpu().numpy()`,
        `.tolist()`, `.item()`)? Called while visiting the cast: its parents are on the stack."""
        depth = 1
        while isinstance(attr := self.ctx.parent(depth), cst.Attribute) and isinstance(self.ctx.parent(depth + 1), cst.Call):
            if attr.attr.value in ("numpy", "tolist", "item"):
                return True
            if attr.attr.value not in ("cpu", "detach", "contiguous"):
                return False
            depth += 2
        return False

    def _per_input(self, dtype: cst.BaseExpression, loop: cst.CSTNode | None) -> bool:
        """Is the dtype looked up per input: does it use a name bound by the same loop (its key),
        directly or through an assignment in the loop (`dd = names[key]`)?"""
        return contains(dtype, lambda n: self._bound_by(n, loop, 0))

    def _bound_by(self, node: cst.CSTNode, loop: cst.CSTNode | None, depth: int) -> bool:
        if not isinstance(node, cst.Name):
            return False
        binding = self.ctx.binding(node.value)
        if binding is None:
            return False
        if binding.kind == "loop":
            return binding.node is loop
        return depth == 0 and binding.kind == "assign" and binding.value is not None \
            and contains(binding.value, lambda n: self._bound_by(n, loop, 1))

    def _iterates_inputs(self, iterable: cst.BaseExpression | None) -> bool:
        """`inputs.items()` / `batch.values()`: a blanket walk over every model input."""
        if not (
            isinstance(iterable, cst.Call)
            and isinstance(iterable.func, cst.Attribute)
            and iterable.func.attr.value in ("items", "values")
        ):
            return False
        container = last_name(iterable.func.value) or ""
        return bool(set(snake_words(container)) & self.params.input_container_words)

    def _is_input_store(self, target: cst.BaseExpression) -> bool:
        """`inputs["input_ids"] = ...` or `inputs[key] = ...` in a loop over the inputs."""
        if not isinstance(target, cst.Subscript) or len(target.slice) != 1:
            return False
        index = target.slice[0].slice
        if not isinstance(index, cst.Index):
            return False
        if isinstance(index.value, cst.SimpleString):
            return True
        if isinstance(index.value, cst.Name):
            binding = self.ctx.binding(index.value.value)
            return binding is not None and binding.kind == "loop" and isinstance(binding.value, cst.Call) and (
                last_name(binding.value.func) in ("items", "keys")
            )
        return False


def _drop_dtype(cast: _Cast):
    """`ids.half()` -> `ids`; `ids.to(dev, dtype=t)` -> `ids.to(dev)`; `ids.to(t)` -> `ids`.
    (Only for tensors named as integer inputs: a blanket cast also casts real float inputs.)"""
    position = next((i for i, a in enumerate(cast.call.args) if a is cast.at), None)

    def rebuild(updated: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(updated, cst.Call) and isinstance(updated.func, cst.Attribute)
        args = [a for i, a in enumerate(updated.args) if i != position] if position is not None else []
        if not args:
            return updated.func.value
        return updated.with_changes(args=[*args[:-1], args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)])

    return rebuild
