"""The robustness corpus: every file of the installed torch package and of the standard
library, all rules, no size limit: zero internal errors (TL001), zero tracebacks."""

from __future__ import annotations

import importlib.util
import json
import sysconfig
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import run_cli


@pytest.mark.slow
def test_torch_and_the_standard_library_lint_without_internal_errors(request):
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
    files = stats.stdout.strip().splitlines()[-1]
    per_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(Counter(f["rule"] for f in findings).items()))
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nrobustness corpus ({seconds:.0f} s): {files} findings per rule: {per_rule or 'none'}")
