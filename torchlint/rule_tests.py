"""`torchlint test-rules DIR`: run a rule directory's examples and fixtures against their
`# expect: ID` annotations and report every mismatch.

For a rule file `DIR/ACME001-torch-load.yaml` the tests are its `examples:` (the bad one must
produce a finding, the good one none) and its fixtures: `DIR/ACME001-torch-load.py` and any
`.py` file in `DIR/ACME001-torch-load/`. All rules of the directory run on each of them, so
an annotation lists every rule of the directory that must report the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torchlint.catalog import Rule
from torchlint.checks import load_catalog
from torchlint.config import Config
from torchlint.lint import Linter
from torchlint.testing import Mismatch, compare

OK = "ok"


@dataclass
class Outcome:
    rule: Rule
    column: str  # "bad example", "good example", "fixtures"
    mismatches: list[Mismatch] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # not about a line: a missing fixture, ...

    @property
    def passed(self) -> bool:
        return not self.mismatches and not self.problems

    @property
    def cell(self) -> str:
        if self.passed:
            return OK
        count = len(self.mismatches) + len(self.problems)
        return f"FAIL ({count})"


def fixtures_of(rule: Rule) -> list[Path]:
    stem = rule.path.with_suffix("")
    found = [stem.with_suffix(".py")] if stem.with_suffix(".py").is_file() else []
    if stem.is_dir():
        found += sorted(stem.rglob("*.py"))
    return found


def run(directory: Path, config: Config) -> list[Outcome]:
    """Every rule of `directory` against its examples and fixtures."""
    directory = directory.resolve()
    extra = [d for d in config.rule_dirs if d != directory] + [directory]
    catalog = load_catalog(extra)
    rules = [r for r in catalog if not r.builtin and r.path.parent.resolve() == directory]
    linter = Linter(catalog, rules, config)
    outcomes: list[Outcome] = []
    for rule in rules:
        for part in ("bad", "good"):
            code = rule.examples[part]
            name = f"<{rule.id} {part} example>"
            findings = linter.lint_source(name, code.encode()).findings
            outcome = Outcome(rule, f"{part} example", compare(name, code, findings))
            if part == "bad" and not any(f.rule == rule.id for f in findings) and not outcome.mismatches:
                outcome.problems.append(f"{name}: the bad example produces no {rule.id} finding")
            outcomes.append(outcome)
        outcome = Outcome(rule, "fixtures")
        files = fixtures_of(rule)
        if not files:
            outcome.problems.append(f"{rule.id}: no fixture: add {rule.path.with_suffix('.py').name} with "
                                    f"`# expect: {rule.id}` on the lines it must report")
        for path in files:
            label = str(path.relative_to(directory.parent)) if directory.parent in path.parents else str(path)
            data = path.read_bytes()
            source = data.decode("utf-8")
            findings = linter.lint_source(str(path), data).findings
            outcome.mismatches += compare(label, source, findings)
            if f"expect: {rule.id}" not in source and path.name.startswith(rule.id):
                outcome.problems.append(f"{label}: annotates no `# expect: {rule.id}` line")
        outcomes.append(outcome)
    return outcomes


def render(outcomes: list[Outcome]) -> str:
    """The matrix (rule x examples and fixtures), then every mismatch."""
    columns = ["bad example", "good example", "fixtures"]
    by_rule: dict[str, dict[str, Outcome]] = {}
    for o in outcomes:
        by_rule.setdefault(o.rule.id, {})[o.column] = o
    width = max([len("rule")] + [len(r) for r in by_rule])
    lines = ["  ".join(["rule".ljust(width), *[c.ljust(12) for c in columns]]).rstrip()]
    for rule_id, cells in by_rule.items():
        lines.append("  ".join([rule_id.ljust(width), *[cells[c].cell.ljust(12) for c in columns]]).rstrip())
    failures = [o for o in outcomes if not o.passed]
    if failures:
        lines.append("")
        for o in failures:
            lines += [f"  {p}" for p in o.problems]
            lines += [f"  {m}" for m in o.mismatches]
    passed = sum(1 for o in outcomes if o.passed)
    lines += ["", f"{len(by_rule)} rules: {passed} of {len(outcomes)} checks passed."]
    return "\n".join(lines) + "\n"
