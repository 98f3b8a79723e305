"""TL102: a device-selection function without MPS, a CPU fallback or an override."""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatch

import libcst as cst

from torchlint.analysis.devices import CUDA_AVAILABLE
from torchlint.analysis.guards import cuda_deployment
from torchlint.analysis.index import assigned_names
from torchlint.analysis.names import contains, descendants, last_name, snake_words
from torchlint.analysis.refusals import module_is_cuda_only, refused_before_node, refuses_without_cuda
from torchlint.analysis.selections import DeviceSelections
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register
from torchlint.params import Params


@dataclasses.dataclass(frozen=True)
class DeviceFallbackParams(Params):
    override_env: frozenset[str]  # environment variables that choose the device, whatever their words
    cuda_only_paths: tuple[str, ...]  # globs of files that are CUDA-only by design
    other_accelerators: frozenset[str]  # words of non-CUDA accelerators a server may target instead of MPS
    mps_less_packages: tuple[str, ...]  # runtimes with no MPS device (CTranslate2): their devices are cuda/cpu


@register
class DeviceFallback(Check):
    kind = "device_fallback"
    Params = DeviceFallbackParams
    fields = frozenset({"where", "missing"})

    def __init__(self, *args):
        super().__init__(*args)
        self.selections = DeviceSelections(self.ctx, override_env=self.params.override_env)
        self.silent = (
            is_test_file(self.ctx.project_path)
            or any(fnmatch(self.ctx.project_path, g) for g in self.params.cuda_only_paths)
            or module_is_cuda_only(self.ctx)
            or cuda_deployment(self.ctx) is not None
        )
        self.probing: set[int] = set()  # functions that call torch.cuda.is_available()
        self.override_only: list[cst.FunctionDef] = []
        self.module_probes = False  # a CUDA probe in the module body, outside functions and classes

    def visit_Call(self, node: cst.Call) -> None:
        func = self.ctx.function
        if self.ctx.imports.qualname(node.func) in CUDA_AVAILABLE:
            if func is not None:
                self.probing.add(id(func))
            elif not self.ctx.classes:
                self.module_probes = True
        self.selections.note_call(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self.silent or id(node) not in self.probing or is_test_function(node, self.ctx.class_of(node)):
            return
        sel = self.selections.analyse(node)
        body = node.body.body if isinstance(node.body, cst.IndentedBlock) else ()
        if not sel.is_selector or self._default_of_a_parameter(node) or self._hands_back_the_choice(node) \
                or refuses_without_cuda(self.ctx, body):
            return
        missing = self._missing(sel, [node])
        if not missing:
            return
        mps_settled = "never considers MPS" not in missing  # probed, or no MPS for this code
        if mps_settled and sel.has_cpu and not sel.bundled:
            # Only the override is missing. A helper whose result is consumed elsewhere (a
            # library's `get_device_name()` behind a constructor's `device=` argument) may have
            # its override at the caller: decided at the end, once calls here are known. (Not
            # a device handed out with other results, `return ddp, rank, device`: the caller
            # takes the bundle, there is no device argument to pass instead.)
            self.override_only.append(node)
            return
        severity = "medium" if mps_settled and sel.has_cpu else None  # only the override is missing
        self.report(node.name, severity=severity, where=f"in `{node.name.value}`", missing="; ".join(missing))

    def _missing(self, sel, scopes: list[cst.CSTNode]) -> list[str]:
        """What the selection lacks; MPS is not missing where the code handles other non-CUDA
        accelerators instead, or runs a runtime that has no MPS device (CTranslate2)."""
        missing = sel.missing()
        if "never considers MPS" in missing and (
                any(self._targets_other_accelerators(s) for s in scopes) or self._mps_less_runtime(scopes)):
            missing.remove("never considers MPS")
        return missing

    def _mps_less_runtime(self, scopes: list[cst.CSTNode]) -> bool:
        """The module runs CTranslate2 (no MPS device) and the selection picks no torch dtype
        beside the device (`torch.float16 if use_cuda else torch.float32` is for a torch model)."""
        if not any(self.ctx.imports.imports_from(p) for p in self.params.mps_less_packages):
            return False
        def torch_dtype(node: cst.CSTNode) -> bool:
            return (self.ctx.imports.qualname(node) or "").startswith(("torch.float", "torch.bfloat"))

        return not any(contains(s, torch_dtype) for s in scopes)

    def _default_of_a_parameter(self, node: cst.FunctionDef) -> bool:
        """Is every CUDA probe the default of a `device=None` parameter (`torch.device("cuda" if
        ... else "cpu") if device is None else device`)? Then the callers choose; the probe
        only fills in for those that pass nothing."""
        params = {p.name.value for p in node.params.params if p.default is not None
                  and isinstance(p.default, cst.Name) and p.default.value == "None" and "device" in snake_words(p.name.value)}
        if not params:
            return False

        def none_test(test: cst.BaseExpression) -> bool:
            return isinstance(test, cst.Comparison) and isinstance(test.left, cst.Name) and test.left.value in params \
                and all(isinstance(c.comparator, cst.Name) and c.comparator.value == "None" for c in test.comparisons)

        nodes = list(descendants(node.body))
        defaults = [n for n in nodes if isinstance(n, (cst.If, cst.IfExp)) and none_test(n.test)]
        probes = [n for n in nodes if isinstance(n, cst.Call) and self.ctx.imports.qualname(n.func) in CUDA_AVAILABLE]
        inside = {id(n) for d in defaults for n in descendants(d)}
        return bool(probes) and all(id(p) in inside for p in probes)

    def _hands_back_the_choice(self, node: cst.FunctionDef) -> bool:
        """Does the function return its device parameter as given on some path (`if device !=
        "cuda": return device`)? Then it serves the caller's choice and probes only to check or
        fill it in: the caller, not this helper, decides about MPS."""
        params = {p.name.value for p in [*node.params.params, *node.params.kwonly_params]
                  if "device" in snake_words(p.name.value)}
        return bool(params) and any(
            isinstance(n, cst.Return) and isinstance(n.value, cst.Name) and n.value.value in params
            for n in descendants(node.body)
        )

    def _targets_other_accelerators(self, node: cst.CSTNode) -> bool:
        """Does the selection handle other non-CUDA accelerators (HPU, XPU, NPU, IPEX...)? Then
        its platforms were chosen, not forgotten: a server backend that never meant Macs."""
        words = self.params.other_accelerators

        def names_one(n: cst.CSTNode) -> bool:
            if isinstance(n, (cst.Name, cst.Attribute)):
                return bool(set(snake_words(last_name(n) or "")) & words)
            if isinstance(n, cst.SimpleString):
                return str(n.evaluated_value).lower() in words
            return False

        return contains(node, names_one)

    def leave_Module(self, node: cst.Module) -> None:
        """A selection in the module body (`device = "cuda" if torch.cuda.is_available() else
        "cpu"` at the top of a demo or server): judged like a function's, at its statement."""
        if self.silent or not self.module_probes:
            return
        sel = self.selections.analyse(node)
        if not sel.is_selector or not sel.selections or all(k <= {"cuda"} for _, k in sel.selections):
            return  # `device = torch.device("cuda")` alone is a hard-code (TL101), not a selection
        missing = self._missing(sel, [s for s in node.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))])
        if not missing or self._never_read(node, sel.selections) \
                or refused_before_node(node, _first_in(node, sel.selections), self.ctx):
            return  # dead, or after `torch.cuda.get_device_properties(0)`: only CUDA machines get here
        severity = "medium" if sel.probes_mps and sel.has_cpu else None
        self.report(_first_in(node, sel.selections), severity=severity, where="at module level",
                    missing="; ".join(missing))

    def _never_read(self, module: cst.Module, selections: list) -> bool:
        """`device = torch.device("cuda:0" if ... else "cpu")` that no code here reads and no
        project module imports (a demo whose `pipe.to(device)` was commented out): a dead choice."""
        chosen = {name for stmt in module.body if isinstance(stmt, cst.SimpleStatementLine)
                  and any(contains(stmt, lambda x, n=n: x is n) for n, _ in selections)
                  for small in stmt.body for name, _ in assigned_names(small)}
        if not chosen or (self.ctx.facts is not None and self.ctx.facts.imported()):
            return False
        nodes = list(descendants(module))
        not_reads = {id(n) for d in nodes for n in (
            (d.attr,) if isinstance(d, cst.Attribute) else (d.keyword,) if isinstance(d, cst.Arg)
            else (d.target,) if isinstance(d, cst.AssignTarget) else (d.name,) if isinstance(d, cst.Param) else ())}
        return not any(isinstance(d, cst.Name) and d.value in chosen and id(d) not in not_reads for d in nodes)

    def end(self) -> None:
        for node in self.override_only:
            if self.selections.consumed_here(node):
                self.report(node.name, severity="medium", where=f"in `{node.name.value}`",
                            missing="offers no override to force CPU / skip MPS")


def _first_in(module: cst.Module, selections: list) -> cst.CSTNode:
    """The selection that comes first in the module's text (the analysis collects them in no
    particular order): a finding reports where the selection starts."""
    for stmt in module.body:
        for node, _ in selections:
            if contains(stmt, lambda x, node=node: x is node):
                return node
    return selections[0][0]
