"""TL002: a suppression comment for a torchlint rule that suppresses nothing on its line (a
finding counts on every line its node spans)."""

from __future__ import annotations

from typing import Callable

import libcst as cst

from torchlint.analysis.edits import replace
from torchlint.analysis.suppressions import parts, without
from torchlint.checks import Check, register
from torchlint.model import Finding

SELF = "TL002"


@register
class UnusedSuppression(Check):
    kind = "unused_suppression"
    fields = frozenset({"codes"})
    judges_findings = True

    def __init__(self, *args):
        super().__init__(*args)
        self.comments: list[tuple[cst.Comment, cst.CSTNode | None]] = []

    def visit_Comment(self, node: cst.Comment) -> None:
        if parts(node.value):
            self.comments.append((node, self.ctx.parent()))

    def judge(self, findings: list[Finding], selected: set[str], known: dict[str, str],
              locate: Callable) -> None:
        """`known` maps upper-case rule IDs and names to IDs; `locate` gives node positions.
        Codes of other tools, of rules not run on this file, and bare `# noqa` are not judged."""
        if not self.comments:
            return
        positions = locate([node for node, _ in self.comments])
        for node, parent in self.comments:
            line = positions[node].start.line
            here = [f for f in findings if f.line <= line <= max(f.end_line or f.line, f.line)]
            unused: list[str] = []
            for part in parts(node.value):
                if part.codes is None:
                    if part.tool == "torchlint" and not here:
                        unused.append("*")
                    continue
                for code in part.codes:
                    rule = known.get(code.upper())
                    if rule is None or rule == SELF or rule not in selected:
                        continue
                    if not any(f.rule == rule for f in here):
                        unused.append(code)
            if not unused or any(known.get(c.upper()) == SELF for p in parts(node.value) for c in p.codes or ()):
                continue
            shown = ", ".join("`# torchlint: ignore`" if c == "*" else f"`{c}`" for c in unused)
            fix = None
            if isinstance(parent, (cst.TrailingWhitespace, cst.EmptyLine)):
                remaining = without(node.value, {c.upper() for c in unused})
                fix = replace("Remove the unused suppression", parent, _rewrite(remaining))
            self.report(node, codes=shown, fix=fix)


def _rewrite(remaining: str):
    def rebuild(updated: cst.CSTNode):
        if remaining:
            return updated.with_changes(comment=cst.Comment(remaining))
        if isinstance(updated, cst.EmptyLine):
            return cst.RemovalSentinel.REMOVE
        return updated.with_changes(whitespace=cst.SimpleWhitespace(""), comment=None)

    return rebuild
