"""TL102: a device-selection function without MPS, a CPU fallback or an override."""

from __future__ import annotations

from fnmatch import fnmatch

import libcst as cst

from torchlint.analysis.devices import CUDA_AVAILABLE, DeviceSelections
from torchlint.analysis.guards import mentions_cuda_probe
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register


def module_is_cuda_only(ctx) -> bool:
    """A module-level `assert torch.cuda.is_available()` or `if not ...: raise`: CUDA-only code."""
    for stmt in ctx.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            if any(isinstance(s, cst.Assert) and mentions_cuda_probe(s.test, ctx) for s in stmt.body):
                return True
        elif isinstance(stmt, cst.If) and mentions_cuda_probe(stmt.test, ctx):
            last = stmt.body.body[-1] if stmt.body.body else None
            if isinstance(last, cst.SimpleStatementLine) and any(isinstance(s, cst.Raise) for s in last.body):
                return True
    return False


@register
class DeviceFallback(Check):
    kind = "device_fallback"

    def __init__(self, *args):
        super().__init__(*args)
        p = self.params
        self.selections = DeviceSelections(self.ctx, p["override_words"], p["override_env"])
        self.silent = (
            is_test_file(self.ctx.path)
            or any(fnmatch(self.ctx.path, g) for g in p["cuda_only_paths"])
            or module_is_cuda_only(self.ctx)
        )

        self.probing: set[int] = set()  # functions that call torch.cuda.is_available()

    def visit_Call(self, node: cst.Call) -> None:
        func = self.ctx.function
        if func is not None and self.ctx.imports.qualname(node.func) in CUDA_AVAILABLE:
            self.probing.add(id(func))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.silent or id(node) not in self.probing or is_test_function(node, self.ctx.class_of(node)):
            return
        sel = self.selections.analyse(node)
        if not sel.is_selector:
            return
        missing = sel.missing()
        if not missing:
            return
        severity = None if (not sel.probes_mps or not sel.has_cpu) else "medium"
        self.report(node.name, severity=severity, function=node.name.value, missing="; ".join(missing))
