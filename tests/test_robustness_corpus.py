"""The robustness corpus: every file of the installed torch package and of the standard
library, all rules, no size limit: zero internal errors (TL001), zero tracebacks."""

from __future__ import annotations

import importlib.util
import json
import re
import sysconfig
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SUMMARY_LINES, run_cli


@pytest.mark.slow
def test_torch_and_the_standard_library_lint_without_internal_errors():
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        pytest.skip("torch is not installed (it comes with the engine extra)")
    torch_dir = str(Path(spec.origin).parent)
    stdlib = sysconfig.get_paths()["stdlib"]  # site-packages below it is excluded by default
    start = time.perf_counter()
    proc = run_cli("check", "--no-cache", "--format", "json", "--exit-zero", "--max-file-size", "0",
                   "--select", "ALL", torch_dir, stdlib)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    findings = json.loads(proc.stdout)
    internal = [f for f in findings if f["rule"] == "TL001"]
    assert not internal, "\n".join(f"{f['path']}: {f['message']}" for f in internal[:20])
    stats = run_cli("check", "--no-cache", "--statistics", "--exit-zero", "--max-file-size", "0", "-j1",
                    "--select", "TL000", torch_dir, stdlib)
    counted = re.search(r"(\d+) files? checked", stats.stdout)
    files = f"{counted.group(1) if counted else '?'} files."
    per_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(Counter(f["rule"] for f in findings).items()))
    SUMMARY_LINES.append(f"robustness corpus ({seconds:.0f} s): {files} Findings per rule: {per_rule or 'none'}")
