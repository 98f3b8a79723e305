"""The pre-commit hook, run by the real pre-commit against this checkout (`try-repo`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PRE_COMMIT = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
pytestmark = [
    pytest.mark.skipif(not Path(PRE_COMMIT).exists(), reason="pre-commit is not installed (it comes with the dev extra)"),
    pytest.mark.slow,  # builds the hook's environment: .ci/run runs it after the quick start's tests
]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")  # one hook environment for all runs


def _repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=path, check=True, env=env)
    return path


def _try_repo(repo: Path, home: Path, hook: str = "torchlint") -> subprocess.CompletedProcess:
    return subprocess.run(
        [PRE_COMMIT, "try-repo", str(ROOT), hook, "--all-files"],
        cwd=repo, env={**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"},
        capture_output=True, text=True, timeout=600,
    )


BAD = "import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n"
GOOD = "import torch\n\n\n@torch.inference_mode()\ndef predict(model, x):\n    return [model(t).cpu().tolist() for t in x]\n"


def test_hook_fails_on_a_bad_file(tmp_path, home):
    proc = _try_repo(_repo(tmp_path / "bad", {"serve.py": BAD}), home)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "serve.py:5:13: TL301" in proc.stdout and "Failed" in proc.stdout


def test_hook_passes_on_a_good_file(tmp_path, home):
    proc = _try_repo(_repo(tmp_path / "good", {"serve.py": GOOD, "types.pyi": "def f() -> int: ...\n"}), home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Passed" in proc.stdout


def test_hook_with_no_python_files(tmp_path, home):
    proc = _try_repo(_repo(tmp_path / "docs", {"README.md": "# notes\n"}), home)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Skipped" in proc.stdout


def test_fix_hook_fixes_and_fails_like_other_fixers(tmp_path, home):
    repo = _repo(tmp_path / "fix", {"serve.py": BAD})
    proc = _try_repo(repo, home, "torchlint-fix")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "files were modified by this hook" in proc.stdout
    assert (repo / "serve.py").read_text() == GOOD
    again = _try_repo(repo, home, "torchlint-fix")
    assert again.returncode == 0, again.stdout + again.stderr
