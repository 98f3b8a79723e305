"""Values known to be NumPy arrays: what a call is fed tells torch modules from other runtimes."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.names import dotted, last_name


def fed_host_arrays(call: cst.Call, ctx: Context) -> bool:
    """Is every argument of `call` a NumPy array (`sess(sample=x_np[i:i + 1])`, `compiled([t.numpy()
    for t in ts])`)? A torch module takes tensors: a callable fed arrays is an ONNX Runtime
    session, an OpenVINO compiled model or another runtime, and has no autograd."""
    values = [a.value for a in call.args if a.star == ""]
    return bool(values) and all(_array(v, ctx, 0) for v in values)


def _array(expr: cst.BaseExpression, ctx: Context, depth: int) -> bool:
    while isinstance(expr, cst.Subscript):
        expr = expr.value  # `x_np[i : i + 1]`: a slice of an array is one
    if isinstance(expr, (cst.ListComp, cst.List)):
        elements = [expr.elt] if isinstance(expr, cst.ListComp) else [e.value for e in expr.elements]
        return bool(elements) and all(_array(e, ctx, depth) for e in elements)
    if isinstance(expr, cst.Call):
        if last_name(expr.func) == "numpy" and isinstance(expr.func, cst.Attribute):
            return True  # `t.cpu().numpy()`
        qual = ctx.imports.qualname(expr.func) or dotted(expr.func) or ""
        return qual.startswith("numpy.") and qual.rsplit(".", 1)[-1] in _MAKERS
    if isinstance(expr, cst.Name) and depth < 3:
        binding = ctx.binding(expr.value)
        return binding is not None and binding.kind == "assign" and binding.value is not None \
            and _array(binding.value, ctx, depth + 1)
    return False


# NumPy functions that hand back an array made from their inputs.
_MAKERS = frozenset({"array", "asarray", "stack", "concatenate", "expand_dims", "ascontiguousarray", "zeros",
                     "ones", "transpose", "float32"})
