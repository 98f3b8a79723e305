"""README.md stays true: the rule table is generated, the quick-start command is what CI runs."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT


def test_rule_table_is_current():
    proc = subprocess.run([sys.executable, "scripts/gen_rule_table.py", "--check"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "ci:test-command" in ci and "bash -c \"$cmd\"" in ci
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- ci:test-command -->", 1)[1]
    command = block.split("```bash\n", 1)[1].split("\n", 1)[0]
    assert "pip install torch==2.13.0" in command and "pytest" in command
