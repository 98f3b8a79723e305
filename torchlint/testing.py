"""Fixture annotations (`# expect: TL301`) and exact comparison with findings.

Used by the test suite and by rule authors; reports every mismatch, not the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from torchlint.catalog import Catalog
from torchlint.model import Finding

_EXPECT = re.compile(r"#\s*expect:\s*(?P<ids>[A-Za-z0-9_,\s-]+?)\s*$")


def expected_findings(source: str) -> set[tuple[int, str]]:
    """(line, rule ID) pairs annotated with `# expect: ID[, ID]` at the end of a line."""
    out = set()
    for lineno, line in enumerate(source.splitlines(), start=1):
        m = _EXPECT.search(line)
        if m:
            out.update((lineno, rid.strip()) for rid in m.group("ids").split(",") if rid.strip())
    return out


@dataclass
class Mismatch:
    path: str
    line: int
    rule: str
    kind: str  # "missing" (annotated, not reported) or "extra" (reported, not annotated)
    message: str = ""

    def __str__(self) -> str:
        text = f"{self.path}:{self.line}: {self.kind:7} {self.rule}"
        return text + (f"  ({self.message})" if self.message else "")


def compare(path: str, source: str, findings: list[Finding]) -> list[Mismatch]:
    want = expected_findings(source)
    got = {(f.line, f.rule): f for f in findings}
    out = [Mismatch(path, line, rule, "missing") for line, rule in sorted(want - set(got))]
    out += [Mismatch(path, line, rule, "extra", got[(line, rule)].message) for line, rule in sorted(set(got) - want)]
    return sorted(out, key=lambda m: (m.path, m.line, m.rule))


def fixture_files(root: Path, catalog: Catalog) -> list[Path]:
    return sorted(p for d in root.iterdir() if d.is_dir() for p in d.glob("*.py"))
