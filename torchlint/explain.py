"""`torchlint explain RULE`: the rule's page, with its bad example after the autofix computed by
running the fixer (never typed)."""

from __future__ import annotations

from rich.console import Console

from torchlint.catalog import Catalog, Rule
from torchlint.config import Config
from torchlint.fixing import fix_source
from torchlint.lint import Linter
from torchlint.pages import explain_markdown, render_explain, strip_annotations
from torchlint.proofs import proof_note


def fixed_example(rule: Rule, catalog: Catalog) -> str | None:
    """The bad example after `--fix --unsafe-fixes`, when the rule's fix changes it."""
    if not rule.fixable:
        return None
    bad = rule.examples["bad"]
    rules = list(catalog) if rule.check == "unused_suppression" else [rule]
    outcome = fix_source(Linter(catalog, rules, Config()), f"<{rule.id} example>", bad.encode(), unsafe=True)
    after = outcome.data.decode()
    return strip_annotations(after) if outcome.fixed and after != bad else None


def page_markdown(rule: Rule, catalog: Catalog) -> str:
    return explain_markdown(rule, fixed_example(rule, catalog), proof_note(rule.id))


def show(rule: Rule, catalog: Catalog, console: Console) -> None:
    render_explain(rule, console, fixed_example(rule, catalog), proof_note(rule.id))
