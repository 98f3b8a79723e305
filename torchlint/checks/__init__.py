"""Check kinds: one module per kind, referenced by name from a rule's `check:` field.

Kinds register themselves with `@register`; every module in this package is imported
on first use, so adding a kind means adding a module, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.edits import Fix
from torchlint.catalog import Catalog, Rule
from torchlint.catalog import load_catalog as _load_catalog
from torchlint.params import Params

_REGISTRY: dict[str, type["Check"]] = {}
_LOADED = False


def register(cls: type["Check"]) -> type["Check"]:
    if cls.kind in _REGISTRY and _REGISTRY[cls.kind] is not cls:
        raise RuntimeError(f"check kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls
    return cls


def registry() -> dict[str, type["Check"]]:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True
    return _REGISTRY


def load_catalog(extra_dirs: Iterable[Path] = ()) -> Catalog:
    """The built-in rules plus any user rule directories, each validated against its check kind."""
    return _load_catalog(extra_dirs, registry())


Emit = Callable[..., None]


class Check:
    """Base class: handlers are `visit_<Node>` / `leave_<Node>` methods plus `end()`.

    A check sees each node after the shared Context has been updated for it.
    """

    kind: ClassVar[str] = ""
    # The typed parameters its rules' YAML sets (torchlint.params), and the fields its
    # reports fill in the rule's message: `{detail}` in a message names one of these.
    Params: ClassVar[type[Params]] = Params
    fields: ClassVar[frozenset[str]] = frozenset({"detail"})
    # True for checks that decide from the other rules' findings: the runner then calls
    # `judge(findings, selected)` after every other finding of the file is known.
    judges_findings: ClassVar[bool] = False

    def __init__(self, rule: Rule, params: Params, ctx: Context, emit: Emit):
        self.rule = rule
        self.params = params
        self.ctx = ctx
        self.vocab = ctx.vocab
        self._emit = emit

    @classmethod
    def message_fields(cls, rule: dict[str, Any]) -> frozenset[str]:
        """The placeholders a rule's message may use with this check (`rule`: its YAML)."""
        return cls.fields

    def report(self, node: cst.CSTNode, severity: str | None = None, fix: Fix | None = None, **fields: Any) -> None:
        """Report `node` with the rule's message formatted with `fields`.

        `severity` overrides the rule's own for this finding (a rule whose clauses differ in
        severity, e.g. TL102's missing override is medium while a missing fallback is high).
        `fix` is the finding's autofix (torchlint.analysis.edits); its safety defaults to the
        rule's `fix:` field.
        """
        unknown = set(fields) - self.message_fields({"match": self.rule.match})
        if unknown:
            raise KeyError(f"report() fields {sorted(unknown)} are not declared in {type(self).__name__}.fields")
        message = self.rule.message.format_map(_Fields(fields))
        self._emit(self.rule, node, message, severity, fix)

    @classmethod
    def admits(cls, data: bytes, params: Params) -> bool:
        """Could this check report anything in a file with these bytes? A cheap test run
        after the rule's prefilters and before the parse; False must mean "no finding is
        possible", never "unlikely". The default: yes."""
        return True

    def end(self) -> None:
        """Called after the whole module was traversed (for whole-module decisions)."""

    def judge(self, findings: list, selected: set[str]) -> None:
        """For `judges_findings` checks: the file's other findings (before suppression) and
        the IDs of the rules selected for this run."""


class _Fields(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"
