"""TL102: a device-selection function without MPS, a CPU fallback or an override."""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatch

import libcst as cst

from torchlint.analysis.devices import CUDA_AVAILABLE
from torchlint.analysis.guards import mentions_cuda_probe
from torchlint.analysis.selections import DeviceSelections
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register
from torchlint.params import Params


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


@dataclasses.dataclass(frozen=True)
class DeviceFallbackParams(Params):
    override_env: frozenset[str]  # environment variables that choose the device, whatever their words
    cuda_only_paths: tuple[str, ...]  # globs of files that are CUDA-only by design


@register
class DeviceFallback(Check):
    kind = "device_fallback"
    Params = DeviceFallbackParams
    fields = frozenset({"function", "missing"})

    def __init__(self, *args):
        super().__init__(*args)
        self.selections = DeviceSelections(self.ctx, override_env=self.params.override_env)
        self.silent = (
            is_test_file(self.ctx.project_path)
            or any(fnmatch(self.ctx.project_path, g) for g in self.params.cuda_only_paths)
            or module_is_cuda_only(self.ctx)
        )
        self.probing: set[int] = set()  # functions that call torch.cuda.is_available()
        self.override_only: list[cst.FunctionDef] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = self.ctx.function
        if func is not None and self.ctx.imports.qualname(node.func) in CUDA_AVAILABLE:
            self.probing.add(id(func))
        self.selections.note_call(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.silent or id(node) not in self.probing or is_test_function(node, self.ctx.class_of(node)):
            return
        sel = self.selections.analyse(node)
        if not sel.is_selector:
            return
        missing = sel.missing()
        if not missing:
            return
        if sel.probes_mps and sel.has_cpu and not sel.bundled:
            # Only the override is missing. A helper whose result is consumed elsewhere (a
            # library's `get_device_name()` behind a constructor's `device=` argument) may have
            # its override at the caller: decided at the end, once calls here are known. (Not
            # a device handed out with other results, `return ddp, rank, device`: the caller
            # takes the bundle, there is no device argument to pass instead.)
            self.override_only.append(node)
            return
        severity = "medium" if sel.probes_mps and sel.has_cpu else None  # only the override is missing
        self.report(node.name, severity=severity, function=node.name.value, missing="; ".join(missing))

    def end(self) -> None:
        for node in self.override_only:
            if self.selections.consumed_here(node):
                self.report(node.name, severity="medium", function=node.name.value,
                            missing="offers no override to force CPU / skip MPS")

