"""Is a module CUDA-only by hard-code? It places a model on CUDA (`model.cuda()`,
`pipe.to("cuda")`) and never asks which device it has: whatever else it does runs on CUDA."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.guards import CUDA_PROBES, cuda_device_value
from torchlint.analysis.models import ModelOracle, bound_values
from torchlint.analysis.names import last_name

_PROBE_NAMES = frozenset(q.rsplit(".", 1)[-1] for q in CUDA_PROBES)


class HardCodedCuda:
    """Fed every call of a module (`note`); `cuda_only` answers once the module is visited."""

    def __init__(self, ctx: Context, models: ModelOracle):
        self.ctx, self.models = ctx, models
        self.placements = False  # a model's `.cuda()` / `.to("cuda")` somewhere in the module
        self.probes = False  # an availability probe (`torch.cuda.is_available()`) somewhere

    def note(self, node: cst.Call) -> None:
        name = last_name(node.func)
        if name in ("is_available", "device_count") or (
                name in _PROBE_NAMES and self.ctx.imports.qualname(node.func) in CUDA_PROBES):
            self.probes = True
        elif not self.placements and isinstance(node.func, cst.Attribute) and (
                (name == "cuda" and self.ctx.imports.qualname(node.func) is None)
                or (name == "to" and any(self.is_cuda(a.value) for a in node.args))) \
                and self.models.is_model(node.func.value):
            self.placements = True  # a model (or a pipeline) goes to CUDA by hard-code

    def is_cuda(self, expr: cst.BaseExpression) -> bool:
        return names_cuda(self.ctx, expr)

    @property
    def cuda_only(self) -> bool:
        return self.placements and not self.probes


def names_cuda(ctx: Context, expr: cst.BaseExpression) -> bool:
    """`"cuda:1"`, `torch.device("cuda")`, or a name or `self` attribute bound to one
    (`DEVICE = "cuda:1"`, then `pipe.to(DEVICE)`; `self.gpu_id = "cuda:" + str(i)`)."""
    if cuda_device_value(expr, ctx):
        return True
    values = bound_values(ctx, expr)
    return bool(values) and all(cuda_device_value(v, ctx) for v in values)
