"""Objects run by another class's methods: a pipeline keeps its stages as objects on itself
(`self.units = [PromptEmbedder(), NoiseInitializer()]`) and its `__call__` runs each one. The
stages' methods have no caller in the module; the grad mode they run under is the owner's."""

from __future__ import annotations

from typing import Callable

import libcst as cst


class _Builds(cst.CSTVisitor):
    """Every call of `name(...)` in a module, and where each one is stored: `(Class, attribute)`
    when a method assigns it (alone or in a list, tuple or dict) to `self.<attribute>`."""

    def __init__(self, name: str):
        self.name = name
        self.classes: list[cst.ClassDef] = []
        self.functions: list[cst.FunctionDef] = []
        self.assigned: list[tuple[str, str] | None] = []  # the store of the assignment being visited
        self.stores: list[tuple[str, str] | None] = []  # one per call of `name`
        self.called: set[int] = set()  # objects built only to call a method on them

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.append(node)

    def leave_ClassDef(self, node: cst.ClassDef) -> None:
        self.classes.pop()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.append(node)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.functions.pop()

    def visit_Assign(self, node: cst.Assign) -> None:
        store = None
        target = node.targets[0].target if len(node.targets) == 1 else None
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self" \
                and self.classes and self.functions and self.functions[-1] in self.classes[-1].body.body:
            store = (self.classes[-1].name.value, target.attr.value)
        self.assigned.append(store)

    def leave_Assign(self, node: cst.Assign) -> None:
        self.assigned.pop()

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            self.called.add(id(func.value))  # `Stage().encode(...)`: a call the module's call graph sees
        if isinstance(func, cst.Name) and func.value == self.name and id(node) not in self.called:
            self.stores.append(self.assigned[-1] if self.assigned else None)


def run_by_no_grad_owner(module: cst.Module, name: str, no_grad: Callable[[cst.FunctionDef], bool]) -> str | None:
    """The class whose no-grad methods run the objects of class `name`: every `name(...)` in the
    module is stored on an attribute of that class by one of its methods, and every other method
    of it reading the attribute is decorated no-grad (`@torch.no_grad() def __call__`). None
    when some object is built elsewhere, or some reader keeps grad."""
    builds = _Builds(name)
    module.visit(builds)
    if not builds.stores or None in builds.stores:
        return None
    classes = {c.name.value: c for c in module.body if isinstance(c, cst.ClassDef)}
    for owner, attribute in dict.fromkeys(builds.stores):
        cls = classes.get(owner)
        readers = [m for m in cls.body.body if isinstance(m, cst.FunctionDef) and _reads(m, attribute)] if cls else []
        if not readers or not all(no_grad(m) for m in readers):
            return None
    return builds.stores[0][0]


def _reads(method: cst.FunctionDef, attribute: str) -> bool:
    """Does `method` read `self.<attribute>` (not only assign it)?"""
    found = False

    class Reads(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> bool:
            return False  # `self.units = [...]` stores; it does not run them

        def visit_Attribute(self, node: cst.Attribute) -> None:
            nonlocal found
            if node.attr.value == attribute and isinstance(node.value, cst.Name) and node.value.value == "self":
                found = True

    method.visit(Reads())
    return found
