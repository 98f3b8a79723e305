"""Reviewer-facing pages of the catalog: `torchlint explain RULE` and `torchlint rules`, rendered from
the YAML. Pure: what a fix writes is computed by the caller (torchlint.explain) and passed in."""

from __future__ import annotations

import json
import re

from rich.console import Console
from rich.markdown import Markdown
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table

from torchlint.catalog import Catalog, Rule
from torchlint.model import ROLES

_EXPECT = re.compile(r"\s*# expect:[^\n]*")
FIX_WORDS = {
    "none": "No autofix: the fix needs a decision only the author can make.",
    "safe": "Autofix: safe (applied by `--fix`).",
    "unsafe": "Autofix: unsafe (applied only with `--unsafe-fixes`).",
}


def strip_annotations(code: str) -> str:
    """Example code as a reader should see it: without the test annotations."""
    return _EXPECT.sub("", code).rstrip() + "\n"


def explain_markdown(rule: Rule, fixed: str | None = None, proof: str | None = None) -> str:
    """The explain page as Markdown (also what `--format markdown` prints); `fixed` is the bad
    example after its autofix, `proof` where the reference engine proves the rule at runtime."""
    parts = [
        f"# {rule.id} {rule.name}: {rule.title}",
        "",
        f"*Severity:* {rule.severity.label} · *Category:* {rule.category}"
        + (f" · *Source:* {rule.source}" if rule.source else ""),
        "",
        f"*Applies to:* {roles_note(rule)}",
        "",
        rule.explain.strip(),
        "",
        "## Bad",
        "",
        "```python",
        strip_annotations(rule.examples["bad"]).rstrip(),
        "```",
        "",
        "## Good",
        "",
        "```python",
        strip_annotations(rule.examples["good"]).rstrip(),
        "```",
        "",
        "## Fix",
        "",
    ]
    if rule.fix_note:
        parts += [rule.fix_note.strip(), ""]
    parts.append(FIX_WORDS[rule.fix])
    if fixed is not None:
        parts += ["", "The bad example after the autofix:", "", "```python", fixed.rstrip(), "```"]
    if proof:
        parts += ["", "## Proven at runtime", "", proof]
    if rule.params:
        parts += ["", "## Parameters", "", params_note(rule), ""]
        parts += [f"- `{name}` = `{json.dumps(value)}`" for name, value in rule.params.items()]
    return "\n".join(parts) + "\n"


def roles_note(rule: Rule) -> str:
    """Which code roles the rule applies to (`torchlint roles PATH` shows a file's)."""
    if not rule.roles:
        return "code of every role"
    others = [r for r in ROLES if r not in rule.roles]
    return f"{', '.join(rule.roles)} code (not {', '.join(others)}; `torchlint roles PATH` shows why a file has its role)"


def params_note(rule: Rule) -> str:
    return (f"Set in `[tool.torchlint.params.{rule.id}]` (`extend_<name>` appends to a list); "
            f"defaults and their meaning are in `rules/{rule.id}-{rule.name}.yaml`.")


def render_explain(rule: Rule, console: Console, fixed: str | None = None, proof: str | None = None) -> None:
    console.print(Panel(f"[bold]{rule.id}[/bold] {rule.name}\n{rule.title}", expand=False))
    console.print(
        f"severity: [bold]{rule.severity.label}[/bold]   category: {rule.category}"
        + (f"   source: {rule.source}" if rule.source else "")
    )
    console.print(f"applies to: {roles_note(rule)}", markup=False)
    console.print(Markdown(rule.explain.strip()))
    for label, key, style in (("Bad", "bad", "red"), ("Good", "good", "green")):
        console.print(f"\n[bold {style}]{label}[/bold {style}]")
        console.print(Syntax(strip_annotations(rule.examples[key]), "python", theme="ansi_dark", line_numbers=False))
    console.print("\n[bold]Fix[/bold]")
    if rule.fix_note:
        console.print(Markdown(rule.fix_note.strip()))
    console.print(FIX_WORDS[rule.fix], style="bold" if rule.fixable else None)
    if fixed is not None:
        console.print("\nThe bad example after the autofix:")
        console.print(Syntax(fixed, "python", theme="ansi_dark", line_numbers=False))
    if proof:
        console.print("\n[bold]Proven at runtime[/bold]")
        console.print(Markdown(proof))
    if rule.params:
        console.print("\n[bold]Parameters[/bold]")
        console.print(params_note(rule), markup=False)
        for name, value in rule.params.items():
            console.print(f"  {name} = {json.dumps(value)}", markup=False, soft_wrap=True)


def rules_json(catalog: Catalog) -> str:
    return json.dumps([r.to_json() for r in catalog], indent=2) + "\n"


def render_rules_table(catalog: Catalog, console: Console) -> None:
    # IDs and names are what people type: never cut (the category wraps instead).
    table = Table(title=f"torchlint rules ({len(catalog)})")
    table.add_column("ID", no_wrap=True, min_width=max((len(r.id) for r in catalog), default=2))
    table.add_column("Name", no_wrap=True, min_width=max((len(r.name) for r in catalog), default=4))
    table.add_column("Severity", no_wrap=True)
    table.add_column("Category", overflow="fold")
    table.add_column("Fixable", no_wrap=True)
    for r in catalog:
        table.add_row(r.id, r.name, r.severity.label, r.category, r.fix if r.fixable else "no")
    console.print(table)
