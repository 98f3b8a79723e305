"""README.md's install snippets, run as written (issue 17): the pre-commit config against a local
clone at the tag it names, and the CI step's `pip install` from the repository. The only change
made to a snippet is the repository's address (`https://github.com/<owner>/torchlint` becomes
a local clone of this checkout). Both build an environment from scratch: marked slow, run by
.ci/run after the quick start's test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
README = (ROOT / "README.md").read_text(encoding="utf-8")
PLACEHOLDER = "https://github.com/<owner>/torchlint"
BAD = "import torch\n\n\ndef predict(model, x):\n    return model(x)\n"
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _block(heading: str, language: str) -> str:
    """The first ```language block after `heading`."""
    after = README[README.index(heading):]
    m = re.search(rf"```{language}\n(.*?)```", after, re.S)
    assert m, f"no {language} block under {heading!r}"
    return m.group(1)


def _clone(tmp_path: Path) -> Path:
    """A clone of this checkout, as a user's machine would get it from the repository."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--git-dir"], capture_output=True).returncode != 0:
        pytest.skip("the checkout is not a git repository: nothing to clone")
    clone = tmp_path / "torchlint-clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    return clone


def _project(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    env = {**os.environ, **GIT_ENV}
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=path, check=True, env=env)
    return path


def test_pre_commit_snippet_runs_at_the_tag_it_names(tmp_path):
    pre_commit = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(pre_commit).exists():
        pytest.skip("pre-commit is not installed (it comes with the dev extra)")
    snippet = _block("### pre-commit", "yaml")
    rev = re.search(r"rev:\s*(\S+)", snippet).group(1)
    clone = _clone(tmp_path)
    tags = subprocess.run(["git", "-C", str(ROOT), "tag", "--list", rev], capture_output=True, text=True).stdout
    if not tags.strip():
        pytest.skip(f"this checkout has no tag {rev} (a clone without tags); the release tag lives in the repository")
    config = snippet.replace(PLACEHOLDER, str(clone))
    assert config != snippet, "the snippet no longer names the repository by its placeholder address"
    project = _project(tmp_path / "project", {"serve.py": BAD, ".pre-commit-config.yaml": config})
    proc = subprocess.run([pre_commit, "run", "--all-files"], cwd=project, capture_output=True, text=True,
                          env={**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "home"), "NO_COLOR": "1"},
                          timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "serve.py:5:12: TL301" in proc.stdout


def test_ci_snippet_installs_from_the_repository(tmp_path):
    snippet = _block("### In CI (GitHub Actions)", "yaml")
    line = next(ln.strip() for ln in snippet.splitlines() if "pip install" in ln)
    clone = _clone(tmp_path)
    branch = subprocess.run(["git", "-C", str(clone), "rev-parse", "--abbrev-ref", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    command = line.split("#")[0].strip().replace(f"git+{PLACEHOLDER}@main", f"git+file://{clone}@{branch}")
    assert command != line.split("#")[0].strip(), "the CI step no longer installs from the repository's address"
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    proc = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
                               "VIRTUAL_ENV": str(env_dir)})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "serve.py").write_text(BAD)
    lint = subprocess.run([str(bin_dir / "torchlint"), "check", "src/", "--format", "github"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert lint.returncode == 1 and lint.stdout.startswith("::error file=src/serve.py,line=5"), lint.stdout
