"""The architecture as code: each layer imports only the layers below it, there are no import
cycles, no formatter reaches the session, and no module grows into a hub."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "torchlint"
# Lowest first. A module may import its own layer and those before it.
LAYERS = [
    ("leaves", ["torchlint", "torchlint.__init__", "torchlint.model", "torchlint.source", "torchlint.atomic",
                "torchlint.globs", "torchlint.walk"]),
    ("catalog", ["torchlint.catalog", "torchlint.params", "torchlint.vocabulary", "torchlint.config",
                 "torchlint.yamlfile", "torchlint.pages"]),
    ("report", ["torchlint.report"]),
    ("analysis", ["torchlint.analysis"]),
    ("checks", ["torchlint.checks"]),
    ("lint", ["torchlint.lint"]),
    ("fixing", ["torchlint.fixing"]),
    ("session", ["torchlint.session"]),
    ("commands", ["torchlint.cli", "torchlint.explain", "torchlint.rule_tests", "torchlint.testing",
                  "torchlint.validate", "torchlint.validate_matrix", "torchlint.proofs", "torchlint.validate_runner", "torchlint.roles", "torchlint.__main__", "torchlint.flake8_plugin"]),
]
MAX_LINES = 350


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    best = (-1, -1)
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                best = max(best, (len(prefix), rank))
    assert best[1] >= 0, f"{module} is in no layer: add it to LAYERS"
    return best[1]


def _imports(path: Path) -> set[str]:
    """torchlint modules `path` imports, anywhere in the file (function-level imports too)."""
    tree = ast.parse(path.read_bytes())
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in out if m in modules}


SOURCES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {_module_name(p): _imports(p) for p in SOURCES}


def test_every_import_goes_down_or_across():
    upward = [
        f"{m} ({LAYERS[_layer(m)][0]}) imports {dep} ({LAYERS[_layer(dep)][0]})"
        for m, deps in GRAPH.items() for dep in deps if _layer(dep) > _layer(m)
    ]
    assert not upward, "\n".join(upward)


def test_no_import_cycles():
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in sorted(GRAPH.get(node, ())):
            if dep == node or dep == node.rsplit(".", 1)[0] and node.startswith(dep + "."):
                continue  # a submodule importing its own package's __init__ is not a cycle here
            if state.get(dep) == 1:
                cycles.append(" -> ".join(trail[trail.index(dep):] + [dep]) if dep in trail else f"{node} -> {dep}")
            elif dep not in state:
                visit(dep, trail + [dep])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(cycles)


def test_no_formatter_imports_the_pipeline():
    report = [m for m in GRAPH if m.startswith("torchlint.report")]
    bad = [f"{m} imports {d}" for m in report for d in GRAPH[m]
           if d.startswith(("torchlint.session", "torchlint.lint", "torchlint.fixing", "torchlint.cli"))]
    assert not bad, bad


def test_no_module_is_a_hub():
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p in SOURCES
           if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not big, big


def test_speed_tricks_stay_in_parse_walk_and_positions():
    """Private libcst hooks, GC pauses and stack sizes: no check or analysis knows about them."""
    allowed = {"torchlint.lint.parse", "torchlint.walk", "torchlint.lint.positions"}
    tricks = ("libcst._nodes", "gc.disable", "threading.stack_size", "setrecursionlimit")
    found = [f"{_module_name(p)}: {t}" for p in SOURCES for t in tricks
             if t in p.read_text() and _module_name(p) not in allowed]
    assert not found, found
