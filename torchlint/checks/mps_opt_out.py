"""TL502: code selects MPS with no way to skip it and no warning about MPS limits."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.devices import DeviceSelections, Selection, selection_statements
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register


@register
class MpsOptOut(Check):
    kind = "mps_opt_out"

    def __init__(self, *args):
        super().__init__(*args)
        p = self.params
        self.selections = DeviceSelections(self.ctx, p["override_words"], p["override_env"])
        self.silent = is_test_file(self.ctx.path)

    def _check(self, sel: Selection, top: cst.CSTNode | None = None) -> None:
        if sel.override is not None or sel.warns_mps:
            return
        for stmt in selection_statements(sel, "mps"):
            self.report(stmt, top=top)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if not self.silent and not is_test_function(node, self.ctx.class_of(node)):
            self._check(self.selections.analyse(node))

    def end(self) -> None:
        if self.silent:
            return
        sel = self.selections.analyse(self.ctx.module)
        if sel.override is None and not sel.warns_mps:
            for stmt in selection_statements(sel, "mps"):
                top = next((s for s in self.ctx.module.body if _holds(s, stmt)), None)
                self.report(stmt, top=top)


def _holds(stmt: cst.CSTNode, node: cst.CSTNode) -> bool:
    stack = [stmt]
    while stack:
        n = stack.pop()
        if n is node:
            return True
        stack.extend(n.children)
    return False
