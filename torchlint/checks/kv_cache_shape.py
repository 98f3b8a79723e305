"""TL703: a documented KV-cache shape disagrees with the code."""

from __future__ import annotations

from pathlib import PurePath

import libcst as cst

from torchlint.analysis.names import dotted, snake_words
from torchlint.analysis.shapes import DimNames, Shape, comments_of, docs_of
from torchlint.checks import Check, register

_KV_WORDS = {"cache", "kv", "kvcache", "past", "caches"}


@register
class KvCacheShape(Check):
    kind = "kv_cache_shape"

    def __init__(self, *args):
        super().__init__(*args)
        p = self.params
        self.dims = DimNames(p["dim_names"])
        self.allocators = set(p["allocators"])
        self.new_methods = set(p["new_methods"])
        module = self.ctx.module
        self.module_shapes = self._shapes(module, skip_classes=True)
        self.module_kv = bool(set(snake_words(PurePath(self.ctx.path).stem)) & _KV_WORDS) or any(
            "cache" in text.lower() for text, _ in docs_of(module, skip_classes=True)
        )
        self.class_shapes: dict[int, list[Shape]] = {}
        self.class_kv: dict[int, bool] = {}
        self.ranks: dict[int, dict[str, int]] = {}  # class -> `self.kv` -> allocated rank
        self.code_shapes: dict[int, list[Shape]] = {}  # class -> shape tuples assigned in code
        self.tuples: dict[int, dict[str, list[cst.BaseExpression]]] = {}

    def _shapes(self, node: cst.CSTNode, skip_classes: bool) -> list[Shape]:
        return [s for text, n in docs_of(node, skip_classes) for s in self.dims.shapes_in(text, n)]

    # ----- scope ----------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.class_shapes[id(node)] = self._shapes(node, skip_classes=False)
        self.class_kv[id(node)] = bool(set(snake_words(node.name.value)) & _KV_WORDS) or any(
            "cache" in text.lower() for text, _ in docs_of(node, skip_classes=False)
        )
        # Shape tuples in code (`self.kv_shape = (num_layers, 2, ...)`) document the layout too.
        tuples: dict[str, list[cst.BaseExpression]] = {}
        assigns: list[cst.Assign] = []
        stack: list[cst.CSTNode] = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, cst.Assign):
                assigns.append(n)
                if isinstance(n.value, cst.Tuple):
                    for t in n.targets:
                        spelled = dotted(t.target)
                        if spelled and "shape" in snake_words(spelled.rsplit(".", 1)[-1]):
                            elements = [e.value for e in n.value.elements]
                            tuples[spelled] = elements
                            dims = tuple(self.dims.of_expr(e) for e in elements)
                            text = "(" + ", ".join(cst.Module([]).code_for_node(e) for e in elements) + ")"
                            shape = Shape(dims, text, n.value)
                            if shape.known >= 3:
                                self.code_shapes.setdefault(id(node), []).append(shape)
            stack.extend(n.children)
        self.tuples[id(node)] = tuples
        ranks: dict[str, int] = {}
        for n in assigns:
            if isinstance(n.value, cst.Call):
                dims = self._allocation(n.value, tuples)
                if dims is not None:
                    for t in n.targets:
                        spelled = dotted(t.target)
                        if spelled:
                            ranks[spelled] = len(dims)
        self.ranks[id(node)] = ranks

    def _scope(self, code: bool = False) -> tuple[list[Shape], bool, dict[str, int]]:
        """Documented shapes in scope (with `code`, shape tuples in code too), is this KV-cache
        code, and the allocated ranks of the class's tensors."""
        cls = self.ctx.classes[-1] if self.ctx.classes else None
        if cls is None:
            return self.module_shapes, self.module_kv, {}
        key = id(cls)
        shapes = self.module_shapes + self.class_shapes.get(key, [])
        if code:
            shapes = shapes + self.code_shapes.get(key, [])
        return shapes, self.module_kv or self.class_kv.get(key, False), self.ranks.get(key, {})

    # ----- (a) allocations --------------------------------------------------------------
    def _allocation(
        self, call: cst.Call, tuples: dict[str, list[cst.BaseExpression]] | None = None
    ) -> list[cst.BaseExpression] | None:
        qual = self.ctx.imports.qualname(call.func)
        method = call.func.attr.value if isinstance(call.func, cst.Attribute) else None
        if qual not in self.allocators and method not in self.new_methods:
            return None
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        if not positional:
            return None
        if isinstance(positional[0], (cst.Tuple, cst.List)):
            return [e.value for e in positional[0].elements]
        if len(positional) == 1 and not isinstance(positional[0], cst.Integer):
            # `torch.empty(self.kv_shape)`: the tuple assigned to that name, else unknown
            return (tuples or {}).get(dotted(positional[0]) or "")
        if qual == "torch.full" or method == "new_full":
            return None
        return positional

    def _compare(self, node: cst.CSTNode, exprs: list[cst.BaseExpression]) -> None:
        shapes, kv, _ = self._scope()
        if not kv or not shapes:
            return
        dims = tuple(self.dims.of_expr(e) for e in exprs)
        known = [d for d in dims if d != "?" and not d.isdigit()]
        if len(known) < 3:
            return
        if any(_agrees(dims, s.dims) for s in shapes):
            return
        related = [s for s in shapes if len(set(known) & set(s.dims)) >= 3]
        if not related:
            return
        best = max(related, key=lambda s: len(set(known) & set(s.dims)))
        spelled = "(" + ", ".join(cst.Module([]).code_for_node(e) for e in exprs) + ")"
        self.report(node, detail=f"allocates {spelled}, but the documented shape is {best.text}: rank or "
                    "order of the named dimensions differs; fix the code or the comment")

    def visit_Call(self, node: cst.Call) -> None:
        exprs = self._allocation(node)  # literal shapes only: a named tuple is checked where assigned
        if exprs is not None:
            self._compare(node, exprs)
            return
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "size" and len(node.args) == 1:
            self._index(node, func.value, node.args[0].value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Tuple) and any(
            "shape" in snake_words(dotted(t.target) or "") for t in node.targets
        ):
            self._compare(node.value, [e.value for e in node.value.elements])

    # ----- (c) indices beyond the documented rank --------------------------------------
    def visit_Subscript(self, node: cst.Subscript) -> None:
        value = node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "shape" and len(node.slice) == 1:
            index = node.slice[0].slice
            if isinstance(index, cst.Index):
                self._index(node, value.value, index.value)

    def _index(self, node: cst.CSTNode, receiver: cst.BaseExpression, index: cst.BaseExpression) -> None:
        i = _int(index)
        spelled = dotted(receiver)
        if i is None or spelled is None:
            return
        shapes, kv, ranks = self._scope(code=True)
        if not kv:
            return
        rank = ranks.get(spelled)
        if rank is None:
            return
        if not any(len(s.dims) == rank for s in shapes):
            return  # the allocation is not the documented tensor
        if i >= rank or i < -rank:
            self.report(node, detail=f"indexes dimension {i} of `{spelled}`, which has {rank} dimensions "
                        "as documented and allocated")

    # ----- (b) index checks with a comment naming the dimensions ----------------------
    def visit_For(self, node: cst.For) -> None:
        indices = _int_list(node.iter)
        if indices is not None:
            self._index_comment(node, indices)

    def visit_If(self, node: cst.If) -> None:
        test = node.test
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
                and isinstance(test.comparisons[0].operator, cst.In):
            indices = _int_list(test.comparisons[0].comparator)
            if indices is not None:
                self._index_comment(node, indices)

    def _index_comment(self, stmt: cst.CSTNode, indices: list[int]) -> None:
        shapes, kv, _ = self._scope(code=True)
        if not kv:
            return
        candidates = [s for s in shapes if len(s.dims) > max(indices)]
        if not candidates:
            return
        shape = max(candidates, key=lambda s: s.known)
        for comment in comments_of(stmt):
            text = comment.value
            pairs = self.dims.indexed_names(text)
            if pairs:
                wrong = [(i, n) for i, n in pairs if i < len(shape.dims) and shape.dims[i] not in (n, "?")]
                if wrong:
                    i, n = wrong[0]
                    self.report(comment, detail=f"says dimension {i} is `{n}`, but the documented shape "
                                f"{shape.text} has `{shape.dims[i]}` there")
                continue
            named = set(self.dims.names_in(text))
            if len(named) < 2:
                continue
            at = {shape.dims[i] for i in indices if shape.dims[i] != "?" and not shape.dims[i].isdigit()}
            extra = sorted(named - at)
            if extra:
                listed = ", ".join(f"{i}: {shape.dims[i]}" for i in indices)
                self.report(comment, detail=f"names {', '.join(extra)} for indices {indices}, but in the "
                            f"documented shape {shape.text} those are {listed}")


def _agrees(dims: tuple[str, ...], documented: tuple[str, ...]) -> bool:
    if len(dims) != len(documented):
        return False
    return all(a == b or "?" in (a, b) for a, b in zip(dims, documented))


def _int(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.value)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus) \
            and isinstance(expr.expression, cst.Integer):
        return -int(expr.expression.value)
    return None


def _int_list(expr: cst.BaseExpression) -> list[int] | None:
    if not isinstance(expr, (cst.List, cst.Tuple, cst.Set)) or not expr.elements:
        return None
    values = [_int(e.value) for e in expr.elements]
    if any(v is None or v < 0 for v in values):
        return None
    return values  # type: ignore[return-value]
