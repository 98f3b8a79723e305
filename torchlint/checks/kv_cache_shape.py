"""TL703: a documented KV-cache shape disagrees with the code.

Facts are collected during the one traversal (comments, docstrings, shape tuples, allocations,
index uses) per class, and compared in `end()`: a docstring may come after the code it
documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePath

import libcst as cst

from torchlint.analysis.names import dotted, snake_words
from torchlint.analysis.shapes import WORD_RE, DimNames, Shape, comments_of, integer_value
from torchlint.checks import Check, register
from torchlint.params import Params

_KV_WORDS = {"cache", "kv", "kvcache", "past", "caches"}


@dataclass
class _Scope:
    """What one class (or the module outside classes) documents and does."""

    kv: bool = False
    docs: list[tuple[str, cst.CSTNode]] = field(default_factory=list)
    # module scope only: docs inside module-level functions (they document that function's
    # arguments, e.g. a rotary helper's `[batch_size, heads, seq_len, head_dim]`, not a cache)
    function_docs: list[tuple[str, cst.CSTNode]] = field(default_factory=list)
    code_shapes: list[Shape] = field(default_factory=list)
    tuples: dict[str, list[cst.BaseExpression]] = field(default_factory=dict)
    # (target spelled, allocation call) for `x = torch.zeros(...)`
    allocated: list[tuple[str, cst.Call]] = field(default_factory=list)
    # (kind, node, payload) in source order
    events: list[tuple[str, cst.CSTNode, object, cst.CSTNode | None]] = field(default_factory=list)


# An assignment to a `*shape*` name: where a shape tuple in code is recorded (`visit_Assign`).
_SHAPE_ASSIGNMENT = re.compile(r"(?i:shape)\w*\s*=[^=]")


@dataclass(frozen=True)
class KvCacheShapeParams(Params):
    dim_names: dict[str, tuple[str, ...]]  # a dimension -> the names it goes by (B~batch~batch_size)
    allocators: frozenset[str]  # qualified names of tensor allocators
    new_methods: frozenset[str]  # `tensor.new_zeros(...)`-style allocating methods


@register
class KvCacheShape(Check):
    kind = "kv_cache_shape"
    Params = KvCacheShapeParams

    @classmethod
    def admits(cls, data: bytes, params: dict) -> bool:
        """Every report compares against a shape of at least three named dimensions: one
        documented in a comment or docstring, or a tuple assigned to a `*shape*` name. A file
        with neither is not parsed for this rule. (Seen on the raw text: a shape spelled with
        escape sequences, or split over implicitly concatenated strings, is not seen.)"""
        text = data.decode("utf-8", errors="replace")
        dims = DimNames(params.dim_names)
        if next(dims.shapes_in(text, None), None) is not None:  # type: ignore[arg-type]
            return True
        if _SHAPE_ASSIGNMENT.search(text) is None:
            return False
        named = 0
        for word in WORD_RE.findall(text):
            if dims.normalise(word) != "?":
                named += 1
                if named >= 3:
                    return True
        return False

    def __init__(self, *args):
        super().__init__(*args)
        self.dims = DimNames(self.params.dim_names)
        self.module = _Scope(kv=bool(set(snake_words(PurePath(self.ctx.path).stem)) & _KV_WORDS))
        self.classes: list[_Scope] = []
        self._by_class: dict[int, _Scope] = {}

    def _here(self) -> _Scope:
        cls = self.ctx.classes[-1] if self.ctx.classes else None
        return self._by_class[id(cls)] if cls is not None else self.module

    def _event(self, kind: str, node: cst.CSTNode, payload: object) -> None:
        self._here().events.append((kind, node, payload))

    # ----- collection -------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        scope = _Scope(kv=bool(set(snake_words(node.name.value)) & _KV_WORDS))
        self._by_class[id(node)] = scope
        self.classes.append(scope)

    def _doc(self, text: str, node: cst.CSTNode) -> None:
        scope = self._here()
        if scope is self.module and self.ctx.function is not None:
            scope.function_docs.append((text, node))
        else:
            scope.docs.append((text, node))

    def visit_Comment(self, node: cst.Comment) -> None:
        self._doc(node.value, node)

    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, (cst.SimpleString, cst.ConcatenatedString)):
            try:
                text = node.value.evaluated_value
            except Exception:
                return
            if isinstance(text, str):
                self._doc(text, node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        scope = self._here()
        if isinstance(node.value, cst.Tuple):
            for t in node.targets:
                spelled = dotted(t.target)
                if spelled and "shape" in snake_words(spelled.rsplit(".", 1)[-1]):
                    elements = [e.value for e in node.value.elements]
                    scope.tuples[spelled] = elements
                    shape = Shape(tuple(self.dims.of_expr(e) for e in elements), _spell(elements), node.value)
                    if shape.known >= 3:
                        scope.code_shapes.append(shape)
                    self._event("alloc", node.value, elements)
        elif isinstance(node.value, cst.Call):
            for t in node.targets:
                spelled = dotted(t.target)
                if spelled:
                    scope.allocated.append((spelled, node.value))

    def visit_Call(self, node: cst.Call) -> None:
        exprs = self._literal_shape(node)
        if exprs is not None:
            self._event("alloc", node, exprs)
            return
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "size" and len(node.args) == 1:
            self._index_use(node, func.value, node.args[0].value)

    def visit_Subscript(self, node: cst.Subscript) -> None:
        value = node.value
        if isinstance(value, cst.Attribute) and value.attr.value == "shape" and len(node.slice) == 1:
            index = node.slice[0].slice
            if isinstance(index, cst.Index):
                self._index_use(node, value.value, index.value)

    def _index_use(self, node: cst.CSTNode, receiver: cst.BaseExpression, index: cst.BaseExpression) -> None:
        i = _int(index)
        spelled = dotted(receiver)
        if i is not None and spelled is not None:
            self._event("index", node, (spelled, i))

    def visit_For(self, node: cst.For) -> None:
        indices = _int_list(node.iter)
        if indices is not None:
            self._event("check", node, indices)

    def visit_If(self, node: cst.If) -> None:
        test = node.test
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 \
                and isinstance(test.comparisons[0].operator, cst.In):
            indices = _int_list(test.comparisons[0].comparator)
            if indices is not None:
                self._event("check", node, indices)

    def _allocator(self, call: cst.Call) -> tuple[bool, list[cst.BaseExpression]] | None:
        """(is torch.full-like, positional args) of an allocation call, else None."""
        qual = self.ctx.imports.qualname(call.func)
        method = call.func.attr.value if isinstance(call.func, cst.Attribute) else None
        if qual not in self.params.allocators and method not in self.params.new_methods:
            return None
        positional = [a.value for a in call.args if a.keyword is None and not a.star]
        return (qual == "torch.full" or method == "new_full", positional) if positional else None

    def _literal_shape(self, call: cst.Call) -> list[cst.BaseExpression] | None:
        found = self._allocator(call)
        if found is None:
            return None
        full, positional = found
        if isinstance(positional[0], (cst.Tuple, cst.List)):
            return [e.value for e in positional[0].elements]
        if full or (len(positional) == 1 and not isinstance(positional[0], cst.Integer)):
            return None  # `torch.empty(self.kv_shape)`: checked where the tuple is assigned
        return positional

    # ----- decisions --------------------------------------------------------------------
    def end(self) -> None:
        module_shapes = self._shapes(self.module)
        function_shapes = [s for text, node in self.module.function_docs for s in self.dims.shapes_in(text, node)]
        module_kv = self.module.kv or _mentions_cache(self.module)
        for scope in [self.module, *self.classes]:
            if scope is self.module:
                own = module_shapes + function_shapes
            else:
                own = module_shapes + self._shapes(scope)
            if not (module_kv or scope.kv or _mentions_cache(scope)):
                continue
            with_code = own + scope.code_shapes + (self.module.code_shapes if scope is not self.module else [])
            ranks = self._ranks(scope)
            for kind, node, payload in scope.events:
                if kind == "alloc":
                    self._compare(node, payload, own)
                elif kind == "index":
                    self._check_index(node, payload, with_code, ranks)
                else:
                    self._check_comments(node, payload, with_code)

    def _shapes(self, scope: _Scope) -> list[Shape]:
        return [s for text, node in scope.docs for s in self.dims.shapes_in(text, node)]

    def _ranks(self, scope: _Scope) -> dict[str, int]:
        ranks: dict[str, int] = {}
        for spelled, call in scope.allocated:
            found = self._allocator(call)
            if found is None:
                continue
            full, positional = found
            first = positional[0]
            if isinstance(first, (cst.Tuple, cst.List)):
                ranks[spelled] = len(first.elements)
            elif len(positional) == 1 and not isinstance(first, cst.Integer):
                named = scope.tuples.get(dotted(first) or "")
                if named is not None:
                    ranks[spelled] = len(named)
            elif not full:
                ranks[spelled] = len(positional)
        return ranks

    def _compare(self, node: cst.CSTNode, exprs, shapes: list[Shape]) -> None:
        dims = tuple(self.dims.of_expr(e) for e in exprs)
        known = [d for d in dims if d != "?" and not d.isdigit()]
        if len(known) < 3 or not shapes or any(_agrees(dims, s.dims) for s in shapes):
            return
        if len(set(known)) < len(known):
            return  # a repeated dimension (`head_dim, head_dim`): a state matrix, not the cache
        # The documented tensor itself: all of its named dimensions but at most one are here.
        related = [s for s in shapes if len(set(known) & set(s.dims)) >= max(3, s.known - 1)]
        if not related:
            return
        best = max(related, key=lambda s: len(set(known) & set(s.dims)))
        self.report(node, detail=f"allocates {_spell(exprs)}, but the documented shape is {best.text}: "
                    "rank or order of the named dimensions differs; fix the code or the comment")

    def _check_index(self, node, payload, shapes: list[Shape], ranks: dict[str, int]) -> None:
        spelled, i = payload
        rank = ranks.get(spelled)
        if rank is None or not any(len(s.dims) == rank for s in shapes):
            return  # not an allocated tensor whose shape is documented
        if i >= rank or i < -rank:
            self.report(node, detail=f"indexes dimension {i} of `{spelled}`, which has {rank} "
                        "dimensions as documented and allocated")

    def _check_comments(self, stmt, indices: list[int], shapes: list[Shape]) -> None:
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
                    self.report(comment, detail=f"says dimension {i} is `{n}`, but the shape "
                                f"{shape.text} has `{shape.dims[i]}` there")
                continue
            named = set(self.dims.names_in(text))
            if len(named) < 2:
                continue
            at = {shape.dims[i] for i in indices if shape.dims[i] != "?" and not shape.dims[i].isdigit()}
            extra = sorted(named - at)
            if extra:
                listed = ", ".join(f"{i}: {shape.dims[i]}" for i in indices)
                self.report(comment, detail=f"names {', '.join(extra)} for indices {indices}, but in "
                            f"the shape {shape.text} those are {listed}")


def _mentions_cache(scope: _Scope) -> bool:
    return any("cache" in text.lower() for text, _ in scope.docs + scope.function_docs)


def _spell(exprs) -> str:
    return "(" + ", ".join(cst.Module([]).code_for_node(e) for e in exprs) + ")"


def _agrees(dims: tuple[str, ...], documented: tuple[str, ...]) -> bool:
    """Same dims in the same order; or one ends with the other: a per-layer `(B, H, T, D)` doc
    agrees with a `(num_layers, 2, B, H, T, D)` stack of them."""
    n = min(len(dims), len(documented))
    if n < 3:
        return False
    return all(a == b or "?" in (a, b) for a, b in zip(dims[len(dims) - n:], documented[len(documented) - n:]))


def _int(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        return integer_value(expr)
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus) \
            and isinstance(expr.expression, cst.Integer):
        value = integer_value(expr.expression)
        return -value if value is not None else None
    return None


def _int_list(expr: cst.BaseExpression) -> list[int] | None:
    if not isinstance(expr, (cst.List, cst.Tuple, cst.Set)) or not expr.elements:
        return None
    values = [_int(e.value) for e in expr.elements]
    if any(v is None or v < 0 for v in values):
        return None
    return values  # type: ignore[return-value]
