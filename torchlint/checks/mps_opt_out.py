"""TL502: code selects MPS with no way to skip it and no warning about MPS limits."""

from __future__ import annotations

import dataclasses
import re

import libcst as cst

from torchlint.analysis.devices import mentions_mps_text
from torchlint.analysis.guards import device_literal
from torchlint.analysis.names import contains, last_name
from torchlint.analysis.selections import DeviceSelections, Selection, selection_statements
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register
from torchlint.params import Params

_WARNERS = ("warn", "warning")  # a warning that mentions MPS flags it
_LOGGERS = ("info", "print", "debug", "echo", "write")  # a message that also names a limit
_LIMITS = re.compile(r"(?i)\blimit|\b\d+\s*gb\b|float64|unsupported|not supported|not implemented|"
                     r"experimental|fallback|fall back|buffer")


@dataclasses.dataclass(frozen=True)
class MpsOptOutParams(Params):
    override_env: frozenset[str]  # environment variables that choose the device, whatever their words


@register
class MpsOptOut(Check):
    kind = "mps_opt_out"
    Params = MpsOptOutParams
    fields = frozenset()

    def __init__(self, *args):
        super().__init__(*args)
        self.selections = DeviceSelections(self.ctx, override_env=self.params.override_env)
        self.silent = is_test_file(self.ctx.project_path)
        self.naming: set[int] = set()  # functions (or the module, 0) with an "mps" literal
        self.warns = False  # a warning or log message about MPS anywhere in the module
        self.candidates: list[tuple[cst.FunctionDef, Selection]] = []

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if device_literal(node) == "mps":
            func = self.ctx.function
            self.naming.add(id(func) if func is not None else 0)

    def visit_Call(self, node: cst.Call) -> None:
        self.selections.note_call(node)
        name = last_name(node.func)
        if not self.warns and (name in _WARNERS or name in _LOGGERS):
            mps = [a.value for a in node.args if mentions_mps_text(a.value)]
            # "MPS is available" is news, not a warning: a plain message must name a limit
            self.warns = bool(mps) and (name in _WARNERS or any(contains(a.value, _names_limit) for a in node.args))

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        if id(node) in self.naming and not self.silent and not is_test_function(node, self.ctx.class_of(node)):
            sel = self.selections.analyse(node)
            if sel.override is None and not sel.probe:
                self.candidates.append((node, sel))

    def end(self) -> None:
        if self.silent or self.warns:
            return
        for func, sel in self.candidates:
            if not self.selections.consumed_here(func):
                continue  # a helper used elsewhere: the override may be the caller's `device=`
            for stmt in selection_statements(sel, "mps"):
                self.report(stmt)
        if 0 in self.naming:
            sel = self.selections.analyse(self.ctx.module)
            if sel.override is None:
                for stmt in selection_statements(sel, "mps"):
                    self.report(stmt)


def _names_limit(node: cst.CSTNode) -> bool:
    text = node.value if isinstance(node, (cst.SimpleString, cst.FormattedStringText)) else None
    return isinstance(text, str) and _LIMITS.search(text) is not None
