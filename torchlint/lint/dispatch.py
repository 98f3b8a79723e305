"""One read-only traversal per file for every active check."""

from __future__ import annotations

from typing import Any, Callable

import libcst as cst

from torchlint.analysis.context import ATTRIBUTE_TYPES, CLOSES, OPENS, Context
from torchlint.checks import Check
from torchlint.walk import prunable, skippable, walk


class Dispatcher:
    """Updates the shared Context around each node and calls every check's handlers
    (`visit_<Node>` / `leave_<Node>` methods, as in libcst visitors). A check that raises is
    dropped for the rest of the file and handed to `on_error`."""

    def __init__(self, ctx: Context, checks: list[Check], on_error: Callable[[Check, BaseException], None]):
        self.ctx = ctx
        self.checks = checks
        self.on_error = on_error
        self.dead: set[int] = set()
        self._push, self._pop = ctx.stack.append, ctx.stack.pop
        self.on_visit_attribute = ctx.enter_attribute
        self.on_leave_attribute = ctx.leave_attribute
        self._visit: dict[type, list[tuple[int, Any]]] = {}
        self._leave: dict[type, list[tuple[int, Any]]] = {}
        for i, check in enumerate(checks):
            for name in dir(check):
                prefix, _, node_name = name.partition("_")
                node_type = getattr(cst, node_name, None)
                if prefix in ("visit", "leave") and isinstance(node_type, type) and issubclass(node_type, cst.CSTNode):
                    table = self._visit if prefix == "visit" else self._leave
                    table.setdefault(node_type, []).append((i, getattr(check, name)))

    def alive(self) -> list[Check]:
        return [c for i, c in enumerate(self.checks) if i not in self.dead]

    def run(self, module: cst.Module) -> None:
        handled = {*self._visit, *self._leave}
        walk(module, self, skip=skippable(handled), attribute_types=ATTRIBUTE_TYPES, prune=prunable(handled))

    def _call(self, handlers, node) -> None:
        for i, fn in handlers:
            if i in self.dead:
                continue
            try:
                fn(node)
            except Exception as exc:  # a rule bug must not take the file down
                self.dead.add(i)
                self.on_error(self.checks[i], exc)

    # The context's ancestor stack and scopes are updated here, inline: this runs for every node.
    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        self._push(node)
        if kind in OPENS:
            self.ctx.open(node)
        handlers = self._visit.get(kind)
        if handlers:
            self._call(handlers, node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        kind = type(original_node)
        handlers = self._leave.get(kind)
        if handlers:
            self._call(handlers, original_node)
        if kind in CLOSES:
            self.ctx.close(original_node)
        self._pop()

    def finish(self) -> None:
        for i, check in enumerate(self.checks):
            if i not in self.dead:
                try:
                    check.end()
                except Exception as exc:
                    self.dead.add(i)
                    self.on_error(check, exc)
