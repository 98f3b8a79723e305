"""Faults injected into real runs (issue 18): a worker process that dies, and what the run
keeps. Each test drives the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

BAD = "import torch\n\ndef predict(model, x):\n    return model(x).tolist()\n"


def _big_module(path: Path, size: int) -> None:
    """Valid Python that libcst needs well over a gigabyte to parse."""
    with open(path, "w") as fh:
        fh.write(BAD + "\n")
        i = 0
        while fh.tell() < size:
            fh.write(f"def f{i}(a, b):\n    c = torch.zeros(a, b).cuda()\n    return [c[k] + k for k in range(a)]\n\n")
            i += 1


def _limited(limit_mb: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI with its address space (each process's) capped at `limit_mb`."""
    limit = limit_mb * 1024 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "torchlint", *args], cwd=cwd, env=env, preexec_fn=cap,
                          capture_output=True, text=True)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS caps the address space only on Linux")
def test_a_worker_killed_for_memory_costs_only_its_file(tmp_path):
    """libcst's native parser aborts when an allocation fails: the pool breaks. The files the
    pool had not finished run one process each; the file that kills its process is TL001 with
    the cause, and every other file's findings are kept (before: exit 134, empty stdout)."""
    for i in range(30):
        (tmp_path / f"f{i:02}.py").write_text(BAD)
    _big_module(tmp_path / "big.py", 3_000_000)
    proc = _limited(1500, "check", "--no-cache", "-j", "2", "--max-file-size", "0", "--format", "json", ".",
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    by_file: dict[str, set[str]] = {}
    for f in found:
        by_file.setdefault(f["path"], set()).add(f["rule"])
    assert by_file.pop("big.py") == {"TL001"}
    assert by_file == {f"f{i:02}.py": {"TL301", "TL302"} for i in range(30)}
    crash = next(f for f in found if f["path"] == "big.py")
    assert crash["message"].startswith("torchlint's worker process died on this file, killed by SIG")
    assert "a worker process died" in proc.stderr
