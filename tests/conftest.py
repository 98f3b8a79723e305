from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from torchlint.checks import load_catalog
from torchlint.config import Config
from torchlint.lint import Linter

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
PROJECTS = FIXTURES / "projects"  # whole projects for the project phase (tests/test_project.py)


def rule_fixtures(pattern: str) -> list[Path]:
    """Per-rule fixture files (`fixtures/<ID>-<name>/...`) matching `pattern`."""
    return sorted(p for p in FIXTURES.glob(pattern) if PROJECTS not in p.parents)


@pytest.fixture(scope="session")
def catalog():
    return load_catalog()


@pytest.fixture(scope="session")
def linter(catalog):
    return Linter(catalog, list(catalog), Config())


def run_cli(*args: str, cwd: Path | str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "torchlint", *args], cwd=cwd, env=full_env, capture_output=True, text=True
    )


# Lines a test wants in the session's summary (e.g. the robustness corpus's counts).
SUMMARY_LINES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    for line in SUMMARY_LINES:
        terminalreporter.write_line(line)
