"""A read-only libcst traversal that produces the same events as `CSTNode.visit`.

libcst's `visit` rebuilds every node it passes (each parent is re-created from its visited
children and validated again), even for a visitor that changes nothing: on real files that
costs more than parsing. `walk` calls the same `on_visit` / `on_visit_attribute` /
`on_leave_attribute` / `on_leave` hooks in the same order, reading the children without
rebuilding anything.

The order in which libcst visits a node type's fields is learned once per type by letting
libcst visit one instance with a recorder that does not descend; `tests/test_walk.py` checks
that both traversals give identical event streams on the fixtures and on real code.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Collection, Mapping, Protocol

import libcst as cst


class Visitor(Protocol):
    def on_visit(self, node: cst.CSTNode) -> bool: ...
    def on_leave(self, original_node: cst.CSTNode) -> None: ...
    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None: ...
    def on_leave_attribute(self, original_node: cst.CSTNode, attribute: str) -> None: ...


@dataclasses.dataclass
class _Order:
    fields: tuple[str, ...]  # visited fields, in libcst's order
    silent: frozenset[str]  # fields libcst skips entirely (no events) when they are None
    none_known: frozenset[str]  # fields whose handling of None has been observed
    unseen: frozenset[str]  # silent fields never seen holding a value (so not in `fields`)


class _Recorder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.fields: list[str] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        return False

    def on_visit_attribute(self, node: cst.CSTNode, attribute: str) -> None:
        self.fields.append(attribute)


_ORDERS: dict[type, _Order] = {}


def _record(node: cst.CSTNode, known: _Order | None) -> _Order:
    """Learn the field order from `node`, merged with what earlier instances showed."""
    recorder = _Recorder()
    node._visit_and_replace_children(recorder)  # rebuilds this one node, once per type
    seen = set(recorder.fields)
    none = {f.name for f in dataclasses.fields(node) if getattr(node, f.name) is None}
    fields, silent, none_known = tuple(recorder.fields), none - seen, none
    if known is not None:
        # A field skipped when None (an f-string's format_spec) shows up only in instances
        # that have it: keep the longer order, and everything learnt about None.
        if len(known.fields) > len(fields):
            fields = known.fields
        silent |= known.silent
        none_known |= known.none_known
    return _Order(fields, frozenset(silent), frozenset(none_known), frozenset(silent - set(fields)))


def _order(node: cst.CSTNode) -> _Order:
    order = _ORDERS.get(type(node))
    if order is None or (order.unseen and any(getattr(node, f) is not None for f in order.unseen)):
        order = _ORDERS[type(node)] = _record(node, order)
    return order


def _relearn(node: cst.CSTNode) -> _Order:
    order = _ORDERS[type(node)] = _record(node, _ORDERS[type(node)])
    return order


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """`node.children` (its child nodes, in libcst's order) without rebuilding `node`, which
    libcst's property does."""
    order = _ORDERS.get(type(node))
    if order is None or order.unseen:
        order = _order(node)
    out: list[cst.CSTNode] = []
    for name in order.fields:
        value = getattr(node, name)
        vt = type(value)
        if vt is tuple or vt is list:
            out.extend(value)
        elif value is not None and vt is not cst.MaybeSentinel:
            out.append(value)
    return out


def walk(
    root: cst.CSTNode, visitor: Visitor, skip: Collection[type] = (),
    attribute_types: Collection[type] | None = None,
    prune: Mapping[type, Callable[[Any], bool] | None] | None = None,
) -> None:
    """Visit `root` and its descendants with `visitor`, like `root.visit(visitor)` for a
    `CSTVisitor`, without rebuilding the tree. Nodes of a type in `skip` are passed over
    with their subtrees (no events), and so are nodes of a type in `prune` for which its
    predicate is true; with `attribute_types`, attribute events are sent only for nodes of
    those types."""
    on_visit, on_leave = visitor.on_visit, visitor.on_leave
    on_visit_attribute, on_leave_attribute = visitor.on_visit_attribute, visitor.on_leave_attribute
    # One lookup per node: None passes a type over, a predicate decides per node.
    passed: dict[type, Callable[[Any], bool] | None] = dict(prune or {})
    passed.update(dict.fromkeys(skip))
    everywhere = attribute_types is None
    attribute_types = frozenset(attribute_types or ())
    orders = _ORDERS
    visit_all = _VISIT

    # A node is passed over by its parent's loop (a call per node would cost more than most
    # visits), so `go` is called only for nodes to visit.
    def go(node: cst.CSTNode) -> None:
        kind = type(node)
        if on_visit(node):
            order = orders.get(kind)
            if order is None or order.unseen:
                order = _order(node)
            events = everywhere or kind in attribute_types
            for name in order.fields:
                value: Any = getattr(node, name)
                vt = type(value)
                if value is None:
                    if name not in order.none_known:
                        order = _relearn(node)  # the first None in this field: does libcst skip it?
                    if name in order.silent:
                        continue
                if events:
                    on_visit_attribute(node, name)
                if vt is tuple or vt is list:
                    for child in value:
                        rule = passed.get(type(child), visit_all)
                        if rule is visit_all or (rule is not None and not rule(child)):
                            go(child)
                elif value is not None and vt is not cst.MaybeSentinel:
                    rule = passed.get(vt, visit_all)
                    if rule is visit_all or (rule is not None and not rule(value)):
                        go(value)
                if events:
                    on_leave_attribute(node, name)
        on_leave(node)

    try:
        rule = passed.get(type(root), visit_all)
        if rule is visit_all or (rule is not None and not rule(root)):
            go(root)
    finally:
        # `go` refers to itself: clear that cycle, or the whole tree (reachable through the
        # visitor) would wait for the cyclic garbage collector instead of being freed now.
        go = None  # type: ignore[assignment]  # noqa: F841


# Syntax tokens: whitespace, comments, punctuation and operators. Nothing under them is an
# expression or a statement, so a traversal whose visitor handles none of them can pass them over.
_LEAF_TOKENS = frozenset({cst.SimpleWhitespace, cst.Newline, cst.Comment, cst.ImportStar})


def _concrete(base: type) -> set[type]:
    out = set()
    for sub in base.__subclasses__():
        out |= _concrete(sub)
        if getattr(cst, sub.__name__, None) is sub:  # not a stale pre-`slots` copy of the class
            out.add(sub)
    return out


_TOKENS = _LEAF_TOKENS | frozenset({
    cst.TrailingWhitespace, cst.EmptyLine, cst.ParenthesizedWhitespace, cst.Comma, cst.Dot, cst.Colon,
    cst.Semicolon, cst.AssignEqual, cst.Asynchronous, cst.LeftParen, cst.RightParen,
    cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
    *_concrete(cst.BaseBinaryOp), *_concrete(cst.BaseBooleanOp), *_concrete(cst.BaseCompOp),
    *_concrete(cst.BaseUnaryOp), *_concrete(cst.BaseAugOp),
})


def skippable(handled: Collection[type]) -> frozenset[type]:
    """Token types a traversal may pass over when its visitor handles the node types in
    `handled`: all of them, or, when it handles a token type (comments), only the leaf tokens
    it does not handle."""
    wanted = frozenset(handled)
    if wanted & _TOKENS:
        return frozenset(t for t in _LEAF_TOKENS if t not in wanted)
    return _TOKENS


# Expressions with no child node but their parentheses (a name is a third of all nodes).
_LEAF_EXPRESSIONS = frozenset({cst.Name, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.Ellipsis})
_VISIT: Any = object()  # the marker of a type that is always visited


def _unparenthesized(node: Any) -> bool:
    return not node.lpar


def _no_comment(node: Any) -> bool:  # TrailingWhitespace, EmptyLine
    return node.comment is None


def _no_comment_inside(node: Any) -> bool:  # ParenthesizedWhitespace
    return node.first_line.comment is None and all(line.comment is None for line in node.empty_lines)


def _spacing_fields(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind) if f.name.startswith("whitespace"))


def _single_line_spacing(fields: tuple[str, ...]) -> Callable[[Any], bool]:
    """A token whose spacing cannot hold a comment: only parenthesized whitespace (a line
    break inside brackets) can."""
    def test(node: Any) -> bool:
        for name in fields:
            if type(getattr(node, name)) is cst.ParenthesizedWhitespace:
                return False
        return True
    return test


def prunable(handled: Collection[type]) -> dict[type, Callable[[Any], bool] | None]:
    """Node types a traversal may pass over, with their subtrees, when its visitor handles
    the types in `handled` and needs no events for anything else: None for a type passed over
    always, a predicate for one passed over when the predicate holds (nothing handled can be
    under that node). Complements `skippable`: with comments handled, the tokens that hold
    no comment are passed over one by one."""
    wanted = frozenset(handled)
    out: dict[type, Callable[[Any], bool] | None] = {}
    tokens = wanted & _TOKENS
    for kind in _LEAF_EXPRESSIONS - wanted:
        # Without parentheses such a node has no child; with them, their spacing may hold a comment.
        out[kind] = None if not tokens else _unparenthesized
    if cst.FormattedStringText not in wanted:
        out[cst.FormattedStringText] = None  # no child node at all
    if tokens == {cst.Comment}:
        for kind in _TOKENS - _LEAF_TOKENS:
            if kind in (cst.TrailingWhitespace, cst.EmptyLine):
                out[kind] = _no_comment
            elif kind is cst.ParenthesizedWhitespace:
                out[kind] = _no_comment_inside
            else:
                out[kind] = _single_line_spacing(_spacing_fields(kind))
    return out
