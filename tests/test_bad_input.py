"""Hostile input, end to end: every file yields a finding or a one-line error, never a
traceback, and the other files are still linted."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import run_cli

BAD = "import torch\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    (root / "ok_bad.py").write_text(BAD)
    (root / "syntax.py").write_text("import torch\ndef f(:\n    torch.device('cuda')\n")
    # (each carries text that TL101's prefilter matches: files no prefilter matches are never parsed)
    (root / "nul.py").write_bytes(b"import torch\x00\x00 device = 'cuda'\n")
    (root / "binary.py").write_bytes(bytes(range(256)) * 4 + b"device = 'cuda'")
    (root / "latin1.py").write_bytes(("# -*- coding: latin-1 -*-\n# café\n" + BAD).encode("latin-1"))
    (root / "bom.py").write_bytes(b"\xef\xbb\xbf" + BAD.encode())
    (root / "crlf.py").write_bytes(BAD.replace("\n", "\r\n").encode())
    (root / "tabs.py").write_text(BAD.replace("    ", "\t"))
    # valid Python (CPython resolves tabs by tab stops) that libcst refuses: said so, at the line
    (root / "mixed.py").write_text(
        BAD + "\n\nclass M:\n    def f(self):\n\t\t    return torch.device('cuda')\n\n    def g(self):\n        return 1\n")
    (root / "empty.py").write_text("")
    (root / "nested.py").write_text("import torch\nx = " + "(" * 5000 + "torch.device('cuda')" + ")" * 5000 + "\n")
    (root / "chain.py").write_text("import torch\nd = torch.device('cuda')\nx = " + "1+" * 20000 + "1\n")
    # valid, but deeper than Python's default recursion limit lets a tree walk go (pydoc's topics)
    (root / "concat.py").write_text("import torch\nDOC = (\n" + '    "text "\n' * 3000 + ")\nd = torch.device('cuda')\n")
    (root / "dir.py").mkdir()
    os.symlink("loop", root / "loop")
    os.symlink("loop.py", root / "loop.py")
    (root / "a").mkdir()
    os.symlink("..", root / "a" / "up")  # a directory cycle
    (root / os.fsdecode(b"caf\xe9.py")).write_text(BAD)
    _generated(root / "generated.py", 5_000_000)
    return root


def _generated(path, size: int) -> None:
    """A generated module of about `size` bytes: one big literal, then a TL101 line."""
    with open(path, "w") as fh:
        fh.write("import torch\n\nWEIGHTS = [\n")
        while fh.tell() < size:
            fh.write("    0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0,\n")
        fh.write("]\nDEVICE = torch.device('cuda')\n")


def _json(proc):
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def test_every_hostile_file_gets_a_finding_or_a_line(tree):
    proc = run_cli("check", "--no-cache", "--format", "json", ".", cwd=tree)
    found = {}
    for f in _json(proc):
        found.setdefault(f["path"], set()).add((f["rule"], f["line"]))
    assert proc.returncode == 1
    normal = {("TL301", 4), ("TL302", 4)}
    for name in ("ok_bad.py", "bom.py", "crlf.py", "tabs.py", os.fsdecode(b"caf\xe9.py")):
        assert found[name] == normal, name
    assert found["latin1.py"] == {("TL301", 6), ("TL302", 6)}  # PEP 263 honoured
    assert found["syntax.py"] == {("TL000", 2)}
    assert found["nul.py"] == {("TL000", 1)} and found["binary.py"] == {("TL000", 1)}
    assert found["nested.py"] == {("TL000", 2)}  # refused before libcst's parser could overflow
    assert found["chain.py"] == {("TL000", 1)}
    assert found["mixed.py"] == {("TL000", 9)}
    assert "mixed.py:9:1: TL000 [high] valid Python that torchlint's parser (libcst) cannot read: " \
           "indentation mixes tabs and spaces" in run_cli("check", "--no-cache", "mixed.py", cwd=tree).stdout
    assert found["concat.py"] == {("TL101", 3004)}  # linted on a deep stack, no TL001
    assert "empty.py" not in found and "dir.py" not in found and "loop.py" not in found
    assert "generated.py: skipped: 5.0 MB is over max-file-size" in proc.stderr


def test_a_big_generated_file_when_asked(tmp_path):
    """Over the limit it is linted on request (1.2 MB here: the 5 MB one takes a minute)."""
    _generated(tmp_path / "generated.py", 1_200_000)
    skipped = run_cli("check", "--no-cache", "generated.py", cwd=tmp_path)
    assert skipped.returncode == 0 and "0 files checked, 1 skipped as too big" in skipped.stdout
    proc = run_cli("check", "--no-cache", "--format", "json", "--max-file-size", "0", "generated.py", cwd=tmp_path)
    assert [f["rule"] for f in _json(proc)] == ["TL101"]


def test_paths_that_cannot_be_linted_exit_2_naming_them(tree):
    for path, words in (("missing.py", "missing.py: no such file or directory"),
                        ("loop", "loop: broken symbolic link or symbolic link loop")):
        proc = run_cli("check", path, cwd=tree)
        assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path):
    (tmp_path / "ok_bad.py").write_text(BAD)
    locked = tmp_path / "locked.py"
    locked.write_text(BAD)
    locked.chmod(0)
    try:
        found = _json(run_cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path))
    finally:
        locked.chmod(0o644)
    assert {(f["path"], f["rule"]) for f in found} >= {("locked.py", "TL000"), ("ok_bad.py", "TL301")}


def test_python_syntax_warnings_stay_out_of_the_output(tmp_path):
    # CPython warns about `1if x else 2` as it compiles; that is the file's business, not a line
    # torchlint prints (a pre-commit hook or CI log would fill with them).
    (tmp_path / "app.py").write_text("x = [0x1for i in range(3)]\ny = 1if True else 2\n")
    proc = run_cli("check", str(tmp_path), "--no-cache")
    assert proc.returncode == 0, proc.stdout
    assert proc.stderr == "", proc.stderr
