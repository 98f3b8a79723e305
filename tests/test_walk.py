"""The read-only traversal (torchlint.walk) against libcst's own `visit`."""

from __future__ import annotations

from pathlib import Path

import libcst as cst
import pytest

from tests.conftest import ROOT, rule_fixtures
from torchlint.lint.dispatch import Dispatcher
from torchlint.walk import prunable, skippable, walk

SOURCES = sorted(
    [*rule_fixtures("*/**/*.py"), *(ROOT / "reference_engine").rglob("*.py"), *(ROOT / "torchlint").rglob("*.py")]
)
# Shapes whose traversal libcst makes conditional: an f-string format spec present or not,
# `from x import *` next to a name list, optional parts absent and present.
TRICKY = '''
from a import *
from b import (c, d as e)
x = f"{y!r:>{width}} {z} {w:{fmt}}"
t = t"{y:{spec}}" if False else None
async def g(*, k=1, **kw) -> int:
    async with a as (b, c), d:
        async for i in j:
            yield [i async for i in k if i]
    return await h(*args, **kw)
match p:
    case [1, *rest] | {"k": v, **kw} if v: pass
    case Point(x=0) as q: pass
try:
    pass
except* (A, B) as e:
    raise
lambda a, /, b=2, *c, d, **e: (yield)
type Alias[T: int] = list[T]
'''


class _Recorder(cst.CSTVisitor):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_visit(self, node):
        self.events.append(("visit", id(node)))
        return True

    def on_leave(self, original_node):
        self.events.append(("leave", id(original_node)))

    def on_visit_attribute(self, node, attribute):
        self.events.append(("enter", id(node), attribute))

    def on_leave_attribute(self, original_node, attribute):
        self.events.append(("exit", id(original_node), attribute))


def _events(module: cst.Module, traverse) -> list[tuple]:
    recorder = _Recorder()
    traverse(module, recorder)
    return recorder.events


def _modules():
    yield "tricky", cst.parse_module(TRICKY)
    for path in SOURCES:
        yield str(path.relative_to(ROOT)), cst.parse_module(path.read_bytes())


def test_walk_sends_the_events_libcst_visit_sends():
    checked = 0
    for name, module in _modules():
        expected = _events(module, lambda m, v: m.visit(v))
        assert _events(module, walk) == expected, name
        checked += len(expected)
    assert checked > 100_000  # the corpus is not empty


def test_skipping_tokens_and_attributes_drops_only_those_events():
    module = cst.parse_module(TRICKY)
    full = _events(module, walk)
    skip = skippable(set())
    kept = _events(module, lambda m, v: walk(m, v, skip=skip, attribute_types={cst.FunctionDef}))
    by_id = {}
    for node in _all_nodes(module):
        by_id[id(node)] = node
    inside_skipped = {i for i, node in by_id.items() if _under(node, skip, module)}
    expected = [
        e for e in full
        if e[1] not in inside_skipped and (e[0] in ("visit", "leave") or isinstance(by_id[e[1]], cst.FunctionDef))
    ]
    assert kept == expected
    assert len(kept) < len(full) / 2


def test_comments_are_kept_when_a_visitor_handles_them():
    skip = skippable({cst.Comment})
    assert cst.Comment not in skip and cst.EmptyLine not in skip and cst.Comma not in skip
    assert cst.SimpleWhitespace in skip
    module = cst.parse_module("x = [1,  # one\n     2]\n")
    seen = []

    class Comments(_Recorder):
        def on_visit(self, node):
            if isinstance(node, cst.Comment):
                seen.append(node.value)
            return True

    walk(module, Comments(), skip=skip)
    assert seen == ["# one"]


@pytest.mark.parametrize("handled", [{cst.Call}, {cst.Call, cst.Comment}, {cst.Name, cst.Comment}, {cst.Comma}],
                         ids=["calls", "calls+comments", "names+comments", "commas"])
def test_pruning_drops_no_event_of_a_handled_type(handled):
    # Handled nodes see the same visits, in the same order, under the same ancestors.
    skip, prune = skippable(handled), prunable(handled)

    class Handled(_Recorder):
        def __init__(self):
            super().__init__()
            self.stack = []

        def on_visit(self, node):
            self.stack.append(node)
            if type(node) in handled:
                self.events.append((id(node), tuple(id(n) for n in self.stack)))
            return True

        def on_leave(self, original_node):
            self.stack.pop()

        def on_visit_attribute(self, node, attribute):
            pass

        def on_leave_attribute(self, original_node, attribute):
            pass

    checked = 0
    for name, module in _modules():
        plain, pruned = Handled(), Handled()
        walk(module, plain, skip=skip)
        walk(module, pruned, skip=skip, prune=prune)
        assert pruned.events == plain.events, name
        checked += len(plain.events)
    assert checked > 1_000


def test_nothing_the_context_tracks_is_ever_passed_over():
    from torchlint.analysis.context import ATTRIBUTE_TYPES, CLOSES, OPENS

    tracked = OPENS | CLOSES | ATTRIBUTE_TYPES
    for handled in [set(), {cst.Call}, {cst.Comment}, {cst.Comment, cst.Name}, {cst.Comma}]:
        assert not (skippable(handled) | set(prunable(handled))) & tracked


def test_pruning_passes_over_names_and_comment_free_tokens():
    module = cst.parse_module("x = f(a,  # keep\n      b)\ny = (c)\n")
    seen: list[str] = []

    class Kinds(_Recorder):
        def on_visit(self, node):
            seen.append(type(node).__name__)
            return True

    walk(module, Kinds(), skip=skippable({cst.Comment}), prune=prunable({cst.Comment}))
    assert "Comment" in seen
    assert seen.count("Name") == 1  # only `(c)`: its parentheses could hold a comment
    assert "TrailingWhitespace" in seen  # the one holding `# keep`
    assert seen.count("Comma") == 1 and "EmptyLine" not in seen


def _all_nodes(module: cst.Module) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []

    class Collect(_Recorder):
        def on_visit(self, node):
            out.append(node)
            return True

    walk(module, Collect())
    return out


def _under(node: cst.CSTNode, skip, module: cst.Module) -> bool:
    parents = _parents(module)
    while node is not None:
        if type(node) in skip:
            return True
        node = parents.get(id(node))
    return False


_PARENTS: dict[int, dict[int, cst.CSTNode]] = {}


def _parents(module: cst.Module) -> dict[int, cst.CSTNode]:
    if id(module) not in _PARENTS:
        parents: dict[int, cst.CSTNode] = {}
        stack: list[cst.CSTNode] = []

        class Track(_Recorder):
            def on_visit(self, node):
                if stack:
                    parents[id(node)] = stack[-1]
                stack.append(node)
                return True

            def on_leave(self, original_node):
                stack.pop()

        walk(module, Track())
        _PARENTS[id(module)] = parents
    return _PARENTS[id(module)]


class _LibcstVisit(cst.CSTVisitor):
    """The dispatcher driven by libcst's own traversal, as lint did before `walk`."""

    def __init__(self, dispatcher) -> None:
        self.d = dispatcher

    def on_visit(self, node):
        return self.d.on_visit(node)

    def on_leave(self, original_node):
        self.d.on_leave(original_node)

    def on_visit_attribute(self, node, attribute):
        self.d.on_visit_attribute(node, attribute)

    def on_leave_attribute(self, original_node, attribute):
        self.d.on_leave_attribute(original_node, attribute)


@pytest.mark.parametrize("path", [p for p in SOURCES if "fixtures" in p.parts], ids=lambda p: p.name)
def test_findings_are_those_of_a_full_libcst_traversal(path: Path, linter, monkeypatch):
    data = path.read_bytes()
    fast = linter.lint_source(str(path), data).findings
    monkeypatch.setattr(Dispatcher, "run", lambda self, module: module.visit(_LibcstVisit(self)))
    assert linter.lint_source(str(path), data).findings == fast


@pytest.mark.slow
def test_a_linted_tree_is_freed_at_once_not_left_to_the_cycle_collector(linter):
    # A cycle through the visitor would keep each file's whole tree alive until the cyclic
    # collector ran (costly, and torchlint pauses it while a file is linted).
    import gc

    kept = {}
    for path in [p for p in SOURCES if "fixtures" in p.parts]:
        data = path.read_bytes()
        linter.lint_source(str(path), data)  # first-use caches settle
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            linter.lint_source(str(path), data)
            gc.collect()
            ours = [o for o in gc.garbage if type(o).__module__.startswith(("libcst", "torchlint"))]
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        if ours:
            kept[path.name] = len(ours)
    assert kept == {}


def test_children_are_libcsts_children():
    from torchlint.walk import children

    for source in [TRICKY.encode(), *(p.read_bytes() for p in SOURCES[::3])]:
        stack: list[cst.CSTNode] = [cst.parse_module(source)]
        while stack:
            node = stack.pop()
            mine, theirs = children(node), list(node.children)
            assert len(mine) == len(theirs) and all(a is b for a, b in zip(mine, theirs)), type(node)
            stack.extend(mine)
