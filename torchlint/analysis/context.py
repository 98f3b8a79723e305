"""Traversal-time context shared by all checks: ancestors, scopes, conditions, bindings.

The runner drives one traversal per file; before any check sees a node, this tracker has
updated the state the node lives in (enclosing functions, `if`/guard conditions, `with`
blocks, `try` blocks, and the bindings visible so far).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import libcst as cst

from torchlint import vocabulary
from torchlint.analysis.index import ModuleIndex
from torchlint.analysis.names import dotted
from torchlint.analysis.project import FileFacts
from torchlint.analysis.roles import project_path
from torchlint.vocabulary import Vocabulary

COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)
# Dispatch on concrete node types: isinstance() against libcst's abstract bases is slow.
_SUITES = frozenset({cst.IndentedBlock, cst.SimpleStatementSuite})
_COMPREHENSION_TYPES = frozenset(COMPREHENSIONS)
_ASSIGNMENTS = frozenset({cst.Assign, cst.AnnAssign, cst.AugAssign})
# Node types whose visit (OPENS) or leave (CLOSES) changes more than the ancestor stack.
OPENS = frozenset({cst.Module, cst.FunctionDef, cst.ClassDef, *COMPREHENSIONS} | _SUITES)
CLOSES = frozenset(
    {cst.Module, cst.ClassDef, cst.If, cst.Assert, cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Import,
     cst.ImportFrom, *COMPREHENSIONS} | _SUITES
)
# Node types whose fields `enter_attribute` / `leave_attribute` care about (the runner sends
# attribute events for these only).
ATTRIBUTE_TYPES = frozenset({cst.If, cst.IfExp, cst.While, cst.Try, cst.TryStar, cst.With, cst.For, cst.FunctionDef})
_EXITS = (cst.Return, cst.Raise, cst.Continue, cst.Break)


@dataclass
class Binding:
    """What a name was last bound to: `kind` is assign, unpack, param, loop, with, import, def."""

    kind: str
    value: cst.BaseExpression | None
    node: cst.CSTNode
    index: int | None = None
    annotation: cst.BaseExpression | None = None
    # The if/else branches it was made in, as (id of the `if`, in its body?): a binding made in
    # one branch of an `if` does not reach the other branch.
    branch: tuple[tuple[int, bool], ...] = ()


@dataclass
class Condition:
    """A test known to hold (`positive`) or to be false at the current point."""

    test: cst.BaseExpression
    positive: bool
    kind: str  # if, ifexp, while, guard, assert
    node: cst.CSTNode


@dataclass
class Frame:
    node: cst.CSTNode
    bindings: dict[str, list[Binding]] = field(default_factory=dict)

    def bind(self, name: str, binding: Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


def _suite_exits(suite: cst.BaseSuite) -> bool:
    body = suite.body
    if not body:
        return False
    last = body[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, _EXITS) for s in last.body)
    return isinstance(last, _EXITS)


def _target_names(target: cst.BaseExpression) -> Iterator[tuple[str, int | None]]:
    if isinstance(target, cst.Name):
        yield target.value, None
    elif isinstance(target, (cst.Tuple, cst.List)):
        for i, el in enumerate(target.elements):
            if isinstance(el.value, cst.Name):
                yield el.value.value, i


class Context:
    """Mutable state of the current traversal point. Checks read it; the runner updates it."""

    def __init__(self, module: cst.Module, path: str, facts: FileFacts | None = None,
                 vocab: Vocabulary | None = None):
        self.module = module
        self.path = path
        self.facts = facts
        self.vocab = vocab if vocab is not None else vocabulary.load()
        self.index = ModuleIndex(module)
        self.imports = self.index.imports
        self.stack: list[cst.CSTNode] = []
        self.frames: list[Frame] = []
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self._if_conditions: list[Condition] = []
        self._block_guards: list[list[Condition]] = []
        self.trys: list[cst.CSTNode] = []
        self.withs: list[cst.With] = []
        self._class_of: dict[cst.FunctionDef, cst.ClassDef] = {}
        self._project_path: str | None = None

    # ----- queries -------------------------------------------------------------------
    @property
    def function(self) -> cst.FunctionDef | None:
        return self.functions[-1] if self.functions else None

    @property
    def project_path(self) -> str:
        """The file's path relative to the project's root (path words read from it)."""
        if self._project_path is None:
            root = self.facts.project.root if self.facts is not None else None
            self._project_path = project_path(self.path, root)
        return self._project_path

    def qualname(self) -> str | None:
        """`Class.method` / `outer.inner` of the innermost function being visited (the key of
        its facts in the file's summary), None at module level."""
        if not self.functions:
            return None
        return ".".join(n.name.value for n in self.stack if type(n) is cst.FunctionDef or type(n) is cst.ClassDef
                        ) if self.stack else None

    def role(self) -> str:
        """The code role here: the innermost function's, else the file's ("" without facts)."""
        if self.facts is None:
            return ""
        qual = self.qualname()
        return (self.facts.function_role(qual) if qual else self.facts.role).role

    def class_of(self, func: cst.FunctionDef) -> cst.ClassDef | None:
        """The class whose body directly defines `func` (methods only)."""
        return self._class_of.get(func)

    @property
    def top_statement(self) -> cst.CSTNode | None:
        """The module-level statement being visited (None outside one)."""
        return self.stack[1] if len(self.stack) > 1 else None

    def parent(self, depth: int = 1) -> cst.CSTNode | None:
        idx = len(self.stack) - 1 - depth
        return self.stack[idx] if idx >= 0 else None

    def function_key(self, func: cst.FunctionDef) -> tuple[str | None, str]:
        """`(Class, method)` or `(None, function)`: the key `callee_key` gives its calls."""
        cls = self.class_of(func)
        return (cls.name.value if cls else None, func.name.value)

    def callee_key(self, func: cst.BaseExpression) -> tuple[str | None, str] | None:
        """Which function of this module a call targets: `(None, name)` for a module function,
        `(Class, method)` for `self.m(...)`, `cls.m(...)`, `Class.m(...)` or `Class(...).m(...)`;
        None otherwise."""
        if isinstance(func, cst.Name) and func.value in self.index.functions:
            return (None, func.value)
        if isinstance(func, cst.Name):  # a function nested in this one (`def generate_embeddings`)
            binding = self.binding(func.value)
            if binding is not None and binding.kind == "def" and isinstance(binding.node, cst.FunctionDef):
                return self.function_key(binding.node)
        spelled = dotted(func)
        if spelled and spelled.count(".") == 1:
            owner, method = spelled.split(".")
            if owner in ("self", "cls") and self.classes:
                return (self.classes[-1].name.value, method)
            if owner in self.index.classes:
                return (owner, method)
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call) \
                and isinstance(func.value.func, cst.Name) and func.value.func.value in self.index.classes:
            return (func.value.func.value, func.attr.value)
        return None

    def conditions(self) -> list[Condition]:
        """Every condition known to hold here: enclosing branches, earlier guards, asserts."""
        guards = [c for block in self._block_guards for c in block]
        return self._if_conditions + guards

    def binding(self, name: str) -> Binding | None:
        """The latest binding of `name` that reaches here, innermost scope first (one made in
        the other branch of an enclosing `if` does not)."""
        for frame in reversed(self.frames):
            found = frame.bindings.get(name)
            if found:
                if not found[-1].branch:
                    return found[-1]
                here = {key: positive for key, positive in self._branch()}
                for binding in reversed(found):
                    if all(here.get(key, positive) == positive for key, positive in binding.branch):
                        return binding
                return None
        return None

    def _branch(self) -> tuple[tuple[int, bool], ...]:
        return tuple((id(c.node), c.positive) for c in self._if_conditions if c.kind == "if")

    def binding_before(self, name: str, binding: Binding) -> Binding | None:
        """The binding of `name` made before `binding` in the same scope (`x = x * 255`
        reads the `x` bound before it)."""
        for frame in reversed(self.frames):
            found = frame.bindings.get(name, [])
            for i, candidate in enumerate(found):
                if candidate is binding:
                    return found[i - 1] if i > 0 else None
        return None

    def bindings_in_function(self, name: str) -> list[Binding]:
        return list(self.frames[-1].bindings.get(name, [])) if self.frames else []

    # ----- updates (called by the runner) ---------------------------------------------
    # The runner pushes each visited node on `stack`, calls `open` for nodes of a type in OPENS,
    # `close` for those in CLOSES before popping them, and the attribute updates for nodes of a
    # type in ATTRIBUTE_TYPES. They run for many nodes of every file, so they test exact types
    # (`type(node) is X`): isinstance() against libcst's ABC-based classes is slow.
    def open(self, node: cst.CSTNode) -> None:
        """Scopes a node opens (a node of a type in OPENS, already on the stack)."""
        kind = type(node)
        if kind in _SUITES:
            self._block_guards.append([])
        elif kind is cst.FunctionDef:
            if self.frames:
                self.frames[-1].bind(node.name.value, Binding("def", None, node))
            if len(self.stack) >= 3 and type(self.stack[-3]) is cst.ClassDef:
                self._class_of[node] = self.stack[-3]
        elif kind is cst.ClassDef:
            self.classes.append(node)
        elif kind is cst.Module:
            self.frames.append(Frame(node))
            self._block_guards.append([])
        elif kind in _COMPREHENSION_TYPES:
            frame = Frame(node)
            comp = node.for_in
            while comp is not None:
                for name, idx in _target_names(comp.target):
                    frame.bind(name, Binding("loop", comp.iter, comp, idx))
                comp = comp.inner_for_in
            self.frames.append(frame)

    def close(self, node: cst.CSTNode) -> None:
        """What a node's end settles (a node of a type in CLOSES, still on the stack)."""
        kind = type(node)
        if kind in _ASSIGNMENTS:
            self._record_assignment(node)
        elif kind in _SUITES:
            self._block_guards.pop()
        elif kind is cst.If:
            if node.orelse is None and _suite_exits(node.body) and self._block_guards:
                self._block_guards[-1].append(Condition(node.test, False, "guard", node))
        elif kind is cst.Import or kind is cst.ImportFrom:
            if self.frames:
                names = node.names if type(node.names) is not cst.ImportStar else []
                for alias in names:
                    local = alias.evaluated_alias or alias.evaluated_name.split(".")[0]
                    self.frames[-1].bind(local, Binding("import", None, node))
        elif kind is cst.Assert:
            if self._block_guards:
                self._block_guards[-1].append(Condition(node.test, True, "assert", node))
        elif kind is cst.ClassDef:
            self.classes.pop()
        elif kind in _COMPREHENSION_TYPES:
            self.frames.pop()
        elif kind is cst.Module:
            self.frames.pop()
            self._block_guards.pop()

    def enter_attribute(self, node: cst.CSTNode, attr: str) -> None:
        if attr != "body" and attr != "orelse":
            return
        kind = type(node)
        if kind is cst.If or kind is cst.IfExp:
            self._if_conditions.append(Condition(node.test, attr == "body", "if" if kind is cst.If else "ifexp", node))
        elif attr != "body":
            return
        elif kind is cst.FunctionDef:
            frame = Frame(node)
            params = node.params
            for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
                frame.bind(p.name.value, Binding("param", p.default, p, annotation=_ann(p)))
            for star in (params.star_arg, params.star_kwarg):
                if type(star) is cst.Param:
                    frame.bind(star.name.value, Binding("param", None, star, annotation=_ann(star)))
            self.frames.append(frame)
            self.functions.append(node)
        elif kind is cst.For:
            for name, idx in _target_names(node.target):
                self.frames[-1].bind(name, Binding("loop", node.iter, node, idx, branch=self._branch()))
        elif kind is cst.With:
            self.withs.append(node)
            for item in node.items:
                if item.asname is not None:
                    for name, idx in _target_names(item.asname.name):
                        self.frames[-1].bind(name, Binding("with", item.item, item, idx))
        elif kind is cst.Try or kind is cst.TryStar:
            self.trys.append(node)
        elif kind is cst.While:
            self._if_conditions.append(Condition(node.test, True, "while", node))

    def leave_attribute(self, node: cst.CSTNode, attr: str) -> None:
        if attr != "body" and attr != "orelse":
            return
        kind = type(node)
        if kind is cst.If or kind is cst.IfExp:
            self._if_conditions.pop()
        elif attr != "body":
            return
        elif kind is cst.FunctionDef:
            self.frames.pop()
            self.functions.pop()
        elif kind is cst.With:
            self.withs.pop()
        elif kind is cst.Try or kind is cst.TryStar:
            self.trys.pop()
        elif kind is cst.While:
            self._if_conditions.pop()

    def _record_assignment(self, node: cst.CSTNode) -> None:
        if not self.frames:
            return
        frame = self.frames[-1]
        if isinstance(node, cst.Assign):
            pairs = [(t.target, node.value) for t in node.targets]
        elif isinstance(node, cst.AnnAssign):
            pairs = [(node.target, node.value)]
        else:
            pairs = [(node.target, None)]
        for target, value in pairs:
            for name, idx in _target_names(target):
                kind = "unpack" if idx is not None else "assign"
                annotation = node.annotation.annotation if isinstance(node, cst.AnnAssign) else None
                frame.bind(name, Binding(kind, value, node, idx, annotation, branch=self._branch()))


def _ann(param: cst.Param) -> cst.BaseExpression | None:
    return param.annotation.annotation if param.annotation is not None else None
