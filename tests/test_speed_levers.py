"""The process pool and the content-hash cache change how fast findings come, never which."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, ROOT, run_cli
from torchlint.checks import load_catalog
from torchlint.config import Config
from torchlint.lint import Linter
from torchlint.session import run

BAD = "import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n"


def _linter() -> Linter:
    catalog = load_catalog()
    return Linter(catalog, list(catalog), Config(root=ROOT))


def test_pool_finds_exactly_what_one_process_finds():
    linter = _linter()
    serial = run(linter, [str(FIXTURES)], jobs=1)
    pooled = run(linter, [str(FIXTURES)], jobs=2)
    assert serial.parsed >= 32  # enough files that two processes are really used
    assert pooled.findings == serial.findings and pooled.checked == serial.checked


def _entries(project: Path) -> list[Path]:
    """Findings entries (summaries of the project phase live beside them, in summaries-*)."""
    return sorted(p for p in (project / ".torchlint_cache").glob("*/*/*.json") if not p.parts[-3].startswith("summaries-"))


def test_cache_is_used_and_keyed_by_content(tmp_path):
    (tmp_path / "serve.py").write_text(BAD)
    first = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    [entry] = _entries(tmp_path)
    assert (tmp_path / ".torchlint_cache" / ".gitignore").read_text().strip().endswith("*")
    # Prove the second run reads the entry: doctor it and see the doctored message come back.
    doctored = json.loads(entry.read_text())
    doctored["findings"][0]["message"] = "from the cache"
    entry.write_text(json.dumps(doctored))
    second = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert [f["message"] for f in json.loads(second.stdout)][0] == "from the cache"
    # A changed file is linted again.
    (tmp_path / "serve.py").write_text(BAD + "\n")
    third = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert json.loads(third.stdout) == json.loads(first.stdout)


def test_corrupted_entry_is_ignored_and_rebuilt(tmp_path):
    (tmp_path / "serve.py").write_text(BAD)
    first = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    [entry] = _entries(tmp_path)
    entry.write_text("{not json")
    second = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert second.stdout == first.stdout and second.returncode == 1
    assert json.loads(entry.read_text())  # rewritten


def test_no_cache_writes_nothing(tmp_path):
    (tmp_path / "serve.py").write_text(BAD)
    proc = run_cli("check", ".", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 1 and not (tmp_path / ".torchlint_cache").exists()


def test_two_concurrent_runs_agree(tmp_path):
    for i in range(40):
        (tmp_path / f"serve_{i}.py").write_text(BAD)
    cmd = [sys.executable, "-m", "torchlint", "check", ".", "--format", "json", "-j", "2"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate()[0] for p in procs]
    assert outputs[0] == outputs[1] and len(json.loads(outputs[0])) == 80
    assert len(_entries(tmp_path)) == 40
    assert not list((tmp_path / ".torchlint_cache").rglob("*.tmp"))


def test_read_only_tree_lints_without_a_cache(tmp_path):
    (tmp_path / "serve.py").write_text(BAD)
    (tmp_path / ".torchlint_cache").write_text("a file where the cache directory should be")
    proc = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1 and len(json.loads(proc.stdout)) == 2, proc.stderr


import torchlint.session.pool as _pool  # noqa: E402

_REAL_WORKER = _pool._in_worker


def _dies_on_one_file(chunk):
    import multiprocessing

    if any(path.endswith("bad_selection.py") for path, _ in chunk) and multiprocessing.parent_process() is not None:
        import os

        os._exit(9)  # a worker killed mid-run (as the OOM killer would)
    return _REAL_WORKER(chunk)


def test_a_dying_worker_does_not_lose_files(monkeypatch, capfd):
    linter = _linter()
    serial = run(linter, [str(FIXTURES)], jobs=1)
    monkeypatch.setattr(_pool, "_in_worker", _dies_on_one_file)
    pooled = run(linter, [str(FIXTURES)], jobs=2)
    assert pooled.findings == serial.findings
    assert "a worker process died" in capfd.readouterr().err
