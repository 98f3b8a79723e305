"""Jupyter notebooks: opt-in via `extend-include`, code cells joined, findings at cell and line."""

from __future__ import annotations

import json

from tests.conftest import run_cli
from torchlint.lint.notebook import to_source

CELLS = [
    ("markdown", ["# Serving demo\n"]),
    ("code", ["%pip install torch\n", "import torch\n", "model = torch.nn.Linear(2, 2).to('cuda')\n"]),
    ("code", ["%%bash\n", "nvidia-smi --query-gpu=name --format=csv\n"]),
    ("code", ["files = !ls\n", "def predict(model, x):\n", "    return model(x)\n", "predict?"]),
]


def _notebook(path, cells=CELLS):
    doc = {
        "cells": [{"cell_type": kind, "metadata": {}, "source": src,
                   **({"outputs": [], "execution_count": None} if kind == "code" else {})}
                  for kind, src in cells],
        "metadata": {"kernelspec": {"language": "python", "name": "python3", "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    path.write_text(json.dumps(doc, indent=1))
    return path


def test_magics_are_blanked_line_for_line():
    source = to_source(json.dumps({"cells": [{"cell_type": k, "source": s} for k, s in CELLS]}).encode())
    assert source.starts == [-1, 0, 3, 5]
    assert source.text.splitlines() == [
        "pass", "import torch", "model = torch.nn.Linear(2, 2).to('cuda')",
        "", "",
        "pass", "def predict(model, x):", "    return model(x)", "pass",
    ]
    assert source.locate(7) == (4, 2)


def test_notebooks_are_opt_in_and_reported_by_cell(tmp_path):
    _notebook(tmp_path / "demo.ipynb")
    skipped = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert skipped.returncode == 0 and "(0 files checked)" in skipped.stdout
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-include = ["*.ipynb"]\n')
    proc = run_cli("check", "--no-cache", ".", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("demo.ipynb:cell 2:3:9: TL101 [high]")
    assert "3 | model = torch.nn.Linear(2, 2).to('cuda')" in proc.stdout
    assert any(line.startswith("demo.ipynb:cell 4:3:12: TL301") for line in lines), proc.stdout
    data = json.loads(run_cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path).stdout)
    assert [(f["rule"], f["cell"], f["line"]) for f in data] == [("TL101", 2, 3), ("TL301", 4, 3)]
    assert all(f["fix"] is None for f in data)  # no fixes inside notebooks
    warm = run_cli("check", ".", cwd=tmp_path)
    assert warm.stdout == proc.stdout  # from the cache: same cells, same source lines


def test_a_notebook_named_on_the_command_line_is_linted(tmp_path):
    _notebook(tmp_path / "demo.ipynb")
    proc = run_cli("check", "--no-cache", "--format", "github", "demo.ipynb", cwd=tmp_path)
    assert proc.returncode == 1
    assert "::error file=demo.ipynb,line=3,col=9" in proc.stdout and "::cell 2: device hard-coded" in proc.stdout


def test_broken_notebook_and_syntax_error_in_a_cell(tmp_path):
    # (as for .py files, only files that a rule's prefilter matches are parsed at all)
    (tmp_path / "broken.ipynb").write_text('{"cells": [{"source": "torch.device(\'cuda\')"')
    _notebook(tmp_path / "typo.ipynb", [("code", ["import torch\n"]), ("code", ["x = torch.device('cuda',\n"])])
    data = json.loads(run_cli("check", "--no-cache", "--format", "json", "broken.ipynb", "typo.ipynb",
                              cwd=tmp_path).stdout)
    assert [(f["path"], f["rule"]) for f in data] == [("broken.ipynb", "TL000"), ("typo.ipynb", "TL000")]
    assert data[0]["message"].startswith("cannot read notebook:")
    assert data[1]["cell"] == 2 and data[1]["line"] == 1


def test_fix_never_rewrites_a_notebook(tmp_path):
    nb = _notebook(tmp_path / "demo.ipynb")
    before = nb.read_bytes()
    proc = run_cli("check", "--no-cache", "--fix", "demo.ipynb", cwd=tmp_path)
    assert proc.returncode == 1 and nb.read_bytes() == before


def test_extend_include_accepts_only_notebooks(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-include = ["*.txt"]\n')
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "extend-include: '*.txt': only notebooks" in proc.stderr
