"""Formatters: pure functions from a run's findings (and the rules that ran) to text."""

from __future__ import annotations

from typing import Callable, Iterable

from torchlint.catalog import Rule
from torchlint.model import RunResult
from torchlint.report import ci
from torchlint.report import json as json_report
from torchlint.report import text as text_report

Formatter = Callable[[RunResult, Iterable[Rule]], str]

FORMATTERS: dict[str, Formatter] = {
    "text": lambda result, rules: text_report.render(result),
    "json": lambda result, rules: json_report.render(result),
    "json-lines": ci.render_json_lines,
    "sarif": ci.render_sarif,
    "github": ci.render_github,
    "junit": ci.render_junit,
}
