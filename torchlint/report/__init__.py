"""Formatters: pure functions from a run's findings to text."""

from __future__ import annotations

from typing import Callable

from torchlint.report import json as json_report
from torchlint.report import text as text_report
from torchlint.runner import RunResult

FORMATTERS: dict[str, Callable[[RunResult], str]] = {
    "text": text_report.render,
    "json": json_report.render,
}
