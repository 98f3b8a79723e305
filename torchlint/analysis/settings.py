"""Settings modules: module-level names whose values are defaults something else overrides
(a configurator `exec`, a config loader), like a function's parameters."""

from __future__ import annotations

from typing import Iterable, Iterator

import libcst as cst

from torchlint.analysis.names import dotted, snake_words


def configured_globals(module: cst.Module) -> set[str]:
    """Module-level names assigned before a module-level `exec(...)` (nanoGPT's configurator:
    `device = 'cuda'`, then `exec(open('configurator.py').read())` overrides it from the command
    line): settings with defaults, like a function's parameters."""
    found: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) \
                    and isinstance(small.value.func, cst.Name) and small.value.func.value == "exec":
                return found
            if isinstance(small, (cst.Assign, cst.AnnAssign)):
                targets = small.targets if isinstance(small, cst.Assign) else [small]
                found.update(t.target.value for t in targets if isinstance(t.target, cst.Name))
    return set()  # no configurator: module-level names are what they say


def settings_file_names(module: cst.Module) -> set[str]:
    """The names a config file sets: a module of nothing but assignments and imports, none of
    torch (VideoChat2's `scripts/config_7b_stage1.py`, read by a config loader that the command
    line overrides). Empty for any other module."""
    names: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return set()
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                spelled = [dotted(a.name) or "" for a in small.names] if isinstance(small, cst.Import) \
                    else [dotted(small.module) or "" if small.module is not None else ""]
                if any(n == "torch" or n.startswith("torch.") for n in spelled):
                    return set()
            elif isinstance(small, (cst.Assign, cst.AnnAssign)):
                targets = small.targets if isinstance(small, cst.Assign) else [small]
                names.update(t.target.value for t in targets if isinstance(t.target, cst.Name))
            elif not (isinstance(small, cst.Expr) and isinstance(small.value, (cst.SimpleString, cst.ConcatenatedString))):
                return set()
    return names


def setting_branches(conditions: Iterable, words: frozenset[str]) -> Iterator[tuple[str, bool]]:
    """For each condition (torchlint.analysis.context.Condition) holding here that compares a
    setting named with one of `words` to a string (`if self.backend == "onnx":`, or the else of
    `!=`): the value, normalised (`onnx-runtime` -> `onnx_runtime`), and whether the setting
    equals it here."""
    for c in conditions:
        test = c.test
        if not (isinstance(test, cst.Comparison) and len(test.comparisons) == 1):
            continue
        op, right = test.comparisons[0].operator, test.comparisons[0].comparator
        name = (dotted(test.left) or "").rsplit(".", 1)[-1]
        if not isinstance(right, cst.SimpleString) or not set(snake_words(name)) & words \
                or not isinstance(op, (cst.Equal, cst.NotEqual)):
            continue
        yield str(right.evaluated_value).lower().replace("-", "_").replace(".", ""), c.positive == isinstance(op, cst.Equal)
