"""Import-resolved qualified names without full scope analysis.

Imports are collected from statement level only (module body and compound-statement
bodies, including functions), which is cheap and exact for the common case: a name
bound by an import anywhere in the file resolves to the imported dotted path.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import PurePath
from typing import Any, Callable, Iterable, Iterator

import libcst as cst

from torchlint.walk import children

_WORD_SPLIT = re.compile(r"[_\W]+|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_words(name: str) -> list[str]:
    """Split `get_nextLogits` / `_get_next_logits` into lower-case words."""
    return [w.lower() for w in _WORD_SPLIT.split(name) if w]


def dotted(expr: cst.BaseExpression) -> str | None:
    """Spelling of a Name/Attribute chain (`self.model.encoder`), else None."""
    # `type(...) is` rather than isinstance: libcst nodes have an ABC metaclass, which makes
    # isinstance slow, and these two classes have no subclasses.
    parts: list[str] = []
    while type(expr) is cst.Attribute:
        parts.append(expr.attr.value)
        expr = expr.value
    if type(expr) is cst.Name:
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


def last_name(expr: cst.BaseExpression) -> str | None:
    """Final identifier of a Name/Attribute (`model` for `self.model`), else None."""
    kind = type(expr)
    if kind is cst.Name:
        return expr.value
    if kind is cst.Attribute:
        return expr.attr.value
    return None


NOT_LITERAL: Any = object()  # what `literal` returns for an expression that is not one


def literal(expr: cst.BaseExpression | None) -> Any:
    """The value of a literal (`True`, `None`, `1`, `2.5`, `"auto"`); NOT_LITERAL otherwise."""
    if isinstance(expr, cst.Name) and expr.value in ("True", "False", "None"):
        return {"True": True, "False": False, "None": None}[expr.value]
    if isinstance(expr, (cst.Integer, cst.Float, cst.SimpleString)):
        try:
            return expr.evaluated_value
        except Exception:
            return NOT_LITERAL
    return NOT_LITERAL


def _module_name(node: cst.BaseExpression | None) -> str:
    if node is None:
        return ""
    return dotted(node) or ""


_SUITE_TYPES = frozenset({cst.IndentedBlock, cst.SimpleStatementSuite})
_CHAINED = frozenset({cst.If, cst.Else, cst.Finally})


def _statements(body: Iterable[cst.CSTNode]) -> Iterator[cst.CSTNode]:
    # Exact types, not isinstance() (slow on libcst's ABC-based classes): this walks every
    # statement of every file.
    for stmt in body:
        yield stmt
        kind = type(stmt)
        if kind is cst.SimpleStatementLine:
            yield from stmt.body
            continue
        for attr in ("body", "orelse", "finalbody", "handlers"):
            child = getattr(stmt, attr, None)
            if child is None:
                continue
            child_kind = type(child)
            if child_kind is list or child_kind is tuple:
                for handler in child:
                    yield from _statements(handler.body.body)
            elif child_kind in _SUITE_TYPES:
                inner = child.body
                yield from _statements(inner if isinstance(inner, (list, tuple)) else [])
            elif child_kind in _CHAINED:
                yield from _statements([child] if child_kind is cst.If else child.body.body)
        if kind is cst.Match:
            for case in stmt.cases:
                yield from _statements(case.body.body)


class ImportMap:
    """Local name -> fully qualified dotted path, from every import in a module."""

    def __init__(self, module: cst.Module | None = None):
        self.aliases: dict[str, str] = {}
        # qualname() per expression: every check asks about the same calls. Keyed by id(),
        # the expression kept with its answer so that the id cannot be reused meanwhile.
        self._qualnames: dict[int, tuple[cst.BaseExpression, str | None]] = {}
        if module is not None:
            for node in _statements(module.body):
                kind = type(node)
                if kind is cst.Import:
                    self._add_import(node)
                elif kind is cst.ImportFrom:
                    self._add_import_from(node)

    def _add_import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _module_name(alias.name)
            if alias.asname is not None:
                self.aliases[alias.asname.name.value] = full
            else:
                # `import torch.nn.functional` binds `torch`.
                head = full.split(".")[0]
                self.aliases.setdefault(head, head)

    def _add_import_from(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        module = "." * len(node.relative) + _module_name(node.module)
        for alias in node.names:
            name = _module_name(alias.name)
            local = alias.asname.name.value if alias.asname is not None else name
            sep = "" if module.endswith(".") else "."
            self.aliases[local] = f"{module}{sep}{name}" if module else name

    def qualname(self, expr: cst.BaseExpression) -> str | None:
        """`t.cuda.is_available` with `import torch as t` -> `torch.cuda.is_available`.

        Only names bound by an import resolve; anything else is None.
        """
        known = self._qualnames.get(id(expr))
        if known is not None and known[0] is expr:
            return known[1]
        spelled = dotted(expr)
        full = None
        if spelled is not None:
            head, _, rest = spelled.partition(".")
            full = self.aliases.get(head)
            if full is not None and rest:
                full = f"{full}.{rest}"
        self._qualnames[id(expr)] = (expr, full)
        return full

    def call_qualname(self, node: cst.BaseExpression) -> str | None:
        """Qualified name of what a Call calls (None for non-calls)."""
        if isinstance(node, cst.Call):
            return self.qualname(node.func)
        return None

    def is_imported(self, name: str) -> bool:
        return name in self.aliases

    def imports_from(self, package: str) -> bool:
        return any(v == package or v.startswith(package + ".") for v in self.aliases.values())


# Names that ask whether this is a multi-process run: `if ddp:`, `if dist.is_initialized():`,
# `if self.use_ddp:`, `if world_size > 1:`.
DDP_WORDS = frozenset({"ddp", "distributed", "fsdp", "multigpu"})


@lru_cache(maxsize=4096)
def is_ddp_name(name: str) -> bool:
    """Does a variable, attribute or function name ask about a multi-process run?"""
    low = name.lower()
    return low == "is_initialized" or "world_size" in low or bool(set(snake_words(low)) & DDP_WORDS)


def path_words(path: str) -> set[str]:
    """snake_case words of every part of a path (`src/train_utils/loop.py` -> src, train, ...)."""
    return {w for part in PurePath(path).parts for w in snake_words(PurePath(part).stem)}


def descendants(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`node` and every node below it, depth first."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(children(current))


def contains(expr: cst.CSTNode, predicate: Callable[[cst.CSTNode], bool]) -> bool:
    """Does any node in `expr` (itself included) satisfy `predicate`? Stops at the first hit.
    (The loop of `descendants` written out: checks call this on every node they visit, and the
    generator costs some 4% of a cold run.)"""
    stack = [expr]
    while stack:
        node = stack.pop()
        if predicate(node):
            return True
        stack.extend(children(node))
    return False


def within(name: str, packages: Iterable[str]) -> bool:
    """Is the dotted `name` one of `packages` or inside one (`optimum.onnxruntime.ORTModel` in
    `optimum.onnxruntime`)?"""
    return any(name == p or name.startswith(p + ".") for p in packages)


def qualname_matches(qualname: str | None, patterns: Iterable[str]) -> bool:
    """Match a qualified name against exact names or fnmatch wildcards (`*.from_pretrained`)."""
    if not qualname:
        return False
    return any(fnmatchcase(qualname, p) for p in patterns)


def param_names(func: cst.FunctionDef) -> set[str]:
    """The names of a function's parameters (positional, keyword-only; not `*args`/`**kw`)."""
    p = func.params
    return {x.name.value for x in (*p.posonly_params, *p.params, *p.kwonly_params)}


def alnum(name: str) -> str:
    """`name` lowered, letters and digits only (`FunAudioLLM+CosyVoice` -> `funaudiollmcosyvoice`)."""
    return "".join(c for c in name.lower() if c.isalnum())


def annotated_class(annotation: cst.BaseExpression) -> cst.BaseExpression:
    """The class an annotation names: `KModel`, `"KModel"` and `Optional[KModel]` alike."""
    if isinstance(annotation, cst.Annotation):
        annotation = annotation.annotation
    if isinstance(annotation, cst.Subscript) and len(annotation.slice) == 1 \
            and isinstance(annotation.slice[0].slice, cst.Index):
        return annotated_class(annotation.slice[0].slice.value)
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        right = annotation.right  # `KModel | None`
        keep = annotation.left if isinstance(right, cst.Name) and right.value == "None" else right
        return annotated_class(keep)
    if isinstance(annotation, cst.SimpleString):
        text = str(annotation.evaluated_value)
        return cst.Name(text) if text.isidentifier() else annotation
    return annotation


def imported_modules(node: cst.Import | cst.ImportFrom) -> list[str]:
    """The modules an import statement names (none for a relative `from . import x`)."""
    if isinstance(node, cst.Import):
        return [a.evaluated_name for a in node.names]
    return [dotted(node.module) or ""] if node.module is not None and not node.relative else []
