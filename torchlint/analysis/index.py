"""A statement-level index of one module: its imports, functions, classes, the attributes each
class assigns to `self`, and module-level names (no expression traversal)."""

from __future__ import annotations

from typing import Iterator

import libcst as cst

from torchlint.analysis.names import ImportMap, _statements, dotted


class ModuleIndex:
    """Facts gathered from a statement-level walk (no expression traversal)."""

    def __init__(self, module: cst.Module):
        self.module = module
        self.imports = ImportMap(module)
        self.functions: dict[str, cst.FunctionDef] = {}
        self.classes: dict[str, cst.ClassDef] = {}
        # class name -> attribute -> assigned values (`self.attr = value` in any method)
        self.self_attrs: dict[str, dict[str, list[cst.BaseExpression]]] = {}
        # module-level `NAME = value`
        self.globals: dict[str, list[cst.BaseExpression]] = {}
        self._method_tables: dict[int, dict[str, cst.FunctionDef]] = {}
        self.module_classes: dict[int, bool] = {}  # class -> a module through a base of another file
        for stmt in module.body:
            if isinstance(stmt, cst.FunctionDef):
                self.functions[stmt.name.value] = stmt
            elif isinstance(stmt, cst.ClassDef):
                self.classes[stmt.name.value] = stmt
                self._scan_class(stmt)
            elif isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    for name, value in assigned_names(small):
                        self.globals.setdefault(name, []).append(value)

    def _scan_class(self, cls: cst.ClassDef) -> None:
        attrs = self.self_attrs.setdefault(cls.name.value, {})
        local: dict[str, cst.BaseExpression] = {}  # the current method's `name = value`, so far
        for node in _statements(cls.body.body):
            if type(node) is cst.FunctionDef:
                local = {}
                continue
            targets: list[cst.BaseExpression] = []
            value = None
            if isinstance(node, cst.Assign):
                targets, value = [t.target for t in node.targets], node.value
            elif isinstance(node, cst.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            if type(value) is cst.Name and value.value in local:
                value = local[value.value]  # `pipe = Pipeline.from_pretrained(...)`, then `self.model = pipe`
            for target in targets:
                spelled = dotted(target)
                head, _, attr = (spelled or "").partition(".")
                if attr and "." not in attr and (head == "self" or _instance(local.get(head), cls)):
                    attrs.setdefault(attr, []).append(value)  # `self.x = v`; `result = cls()`, `result.x = v`
                elif type(target) is cst.Name and value is not None:
                    local[target.value] = value

    def methods(self, cls: cst.ClassDef) -> Iterator[cst.FunctionDef]:
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef):
                yield stmt

    def method(self, cls: cst.ClassDef, name: str) -> cst.FunctionDef | None:
        """The first method of `cls` called `name` (looked up in a table built once per class)."""
        table = self._method_tables.get(id(cls))
        if table is None:
            table = self._method_tables[id(cls)] = {}
            for m in self.methods(cls):
                table.setdefault(m.name.value, m)
        return table.get(name)


def assigned_names(node: cst.CSTNode) -> Iterator[tuple[str, cst.BaseExpression]]:
    if isinstance(node, cst.Assign):
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                yield target.target.value, node.value
    elif isinstance(node, cst.AnnAssign) and node.value is not None:
        if isinstance(node.target, cst.Name):
            yield node.target.value, node.value


def _instance(value: cst.BaseExpression | None, cls: cst.ClassDef) -> bool:
    """`cls()` or `ClassName()` of the class itself: a factory method's new instance."""
    return type(value) is cst.Call and type(value.func) is cst.Name and value.func.value in ("cls", cls.name.value)
