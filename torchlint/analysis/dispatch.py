"""Objects run by another class's methods: a pipeline keeps its stages as objects on itself
(`self.units = [PromptEmbedder(), NoiseInitializer()]`) and its `__call__` runs each one. The
stages' methods have no caller in the module; the grad mode they run under is the owner's."""

from __future__ import annotations

from typing import Callable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.walk import children

Store = tuple[str, str] | None  # (Class, attribute) a method assigns the object to, or None


def store_of(call: cst.Call, ctx: Context) -> Store:
    """Where the object `call` builds is kept: `(Class, attribute)` when the statement around it
    is a method's `self.<attribute> = ...` (alone, or in a list, tuple or dict), else None."""
    method = ctx.function
    cls = ctx.class_of(method) if method is not None else None
    for node in reversed(ctx.stack):
        if isinstance(node, (cst.FunctionDef, cst.Lambda)):
            return None
        if isinstance(node, cst.Assign):
            target = node.targets[0].target if len(node.targets) == 1 else None
            if cls is not None and isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                    and target.value.value == "self":
                return cls.name.value, target.attr.value
            return None
    return None


class Builds:
    """The module's calls of its own classes (`Stage(...)`), each with where its object is kept
    (`store_of`), noted call by call as the lint traverses; `Stage().encode(...)` builds an object
    only to call a method on it, a call the module's own graph sees."""

    def __init__(self) -> None:
        self.stores: dict[str, list[Store]] = {}
        self._called: set[int] = set()

    def note(self, call: cst.Call, ctx: Context) -> None:
        func = call.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            self._called.add(id(func.value))
        elif isinstance(func, cst.Name) and func.value in ctx.index.classes and id(call) not in self._called:
            self.stores.setdefault(func.value, []).append(store_of(call, ctx))


def run_by_no_grad_owner(module: cst.Module, name: str, no_grad: Callable[[cst.FunctionDef], bool],
                         built: Builds) -> str | None:
    """The class whose no-grad methods run the objects of class `name`: every `name(...)` in the
    module is stored on an attribute of that class by one of its methods, and every other method
    of it reading the attribute is decorated no-grad (`@torch.no_grad() def __call__`). None
    when some object is built elsewhere, or some reader keeps grad."""
    stores = built.stores.get(name, [])
    if not stores or None in stores:
        return None
    classes = {c.name.value: c for c in module.body if isinstance(c, cst.ClassDef)}
    for owner, attribute in dict.fromkeys(stores):
        cls = classes.get(owner)
        readers = [m for m in cls.body.body if isinstance(m, cst.FunctionDef) and _reads(m, attribute)] if cls else []
        if not readers or not all(no_grad(m) for m in readers):
            return None
    return stores[0][0]


def _reads(method: cst.FunctionDef, attribute: str) -> bool:
    """Does `method` read `self.<attribute>` (not only assign it)?"""
    stack: list[cst.CSTNode] = [method.body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.AssignTarget):
            continue  # `self.units = [...]` stores; it does not run them
        if isinstance(node, cst.Attribute) and node.attr.value == attribute \
                and isinstance(node.value, cst.Name) and node.value.value == "self":
            return True
        stack.extend(children(node))
    return False
