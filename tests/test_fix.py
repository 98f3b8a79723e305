"""Autofixes: `.fixed.py` expectations per rule, idempotence, and the file-level guarantees
(`--fix` keeps encoding, BOM, line endings and mode; never writes code that does not parse)."""

from __future__ import annotations

import json
import os
import py_compile
import shutil
import stat

import libcst as cst
import pytest

from tests.conftest import FIXTURES, PROJECTS, ROOT, rule_fixtures, run_cli
from torchlint.analysis.edits import replace
from torchlint.checks import load_catalog
from torchlint.config import Config
from torchlint.fixing import fix_file, fix_source
from torchlint.lint import Linter
from torchlint.lint.describe import parses
from torchlint.model import SAFE
from torchlint.model import FixMode

CATALOG = load_catalog()
FIXABLE = [r for r in CATALOG if r.fixable]
# `bad_x.py` with a sibling `bad_x.fixed.py`: the file after every fix of its rule (safe and unsafe).
CASES = sorted(p for p in rule_fixtures("*/**/bad_*.py") if not p.name.endswith(".fixed.py")
               and p.with_name(p.stem + ".fixed.py").exists())
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def _rule_of(path):
    return CATALOG.rules[path.relative_to(FIXTURES).parts[0].split("-")[0]]


def _linter(rule) -> Linter:
    # TL002 judges the directives of rules that ran: it needs them all.
    rules = list(CATALOG) if rule.check == "unused_suppression" else [rule]
    return Linter(CATALOG, rules, Config())


@pytest.mark.parametrize("rule", FIXABLE, ids=lambda r: r.id)
def test_every_fixable_rule_has_a_fixed_expectation(rule):
    directory = FIXTURES / f"{rule.id}-{rule.name}"
    assert any(p.parent == directory or directory in p.parents for p in CASES), (
        f"{rule.id} declares `fix: {rule.fix}` but no bad_*.py in {directory.name} has a .fixed.py"
    )


@pytest.mark.parametrize("rule", [r for r in CATALOG if not r.fixable and not r.infrastructure], ids=lambda r: r.id)
def test_rules_without_fix_offer_none(rule):
    linter = _linter(rule)
    for path in sorted((FIXTURES / f"{rule.id}-{rule.name}").glob("**/bad_*.py")):
        result = linter.lint_source(str(path), path.read_bytes())
        assert all(f.fix is None for f in result.findings), f"{rule.id} has `fix: none` but fixes {path.name}"


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fix_matches_expectation_and_is_idempotent(path):
    rule = _rule_of(path)
    linter = _linter(rule)
    expected_path = path.with_name(path.stem + ".fixed.py")
    outcome = fix_source(linter, str(path), path.read_bytes(), unsafe=True)
    if UPDATE:
        expected_path.write_bytes(outcome.data)
    assert outcome.data.decode() == expected_path.read_text(encoding="utf-8")
    assert outcome.fixed, "the expectation fixes nothing"
    assert {f.rule for f in outcome.fixed} == {rule.id}
    assert parses(outcome.data)
    # What is left has no fix to offer, and fixing again changes nothing.
    assert all(f.fix is None for f in outcome.result.findings), outcome.result.findings
    again = fix_source(linter, str(path), outcome.data, unsafe=True)
    assert again.data == outcome.data and not again.fixed


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_reported_edits_reproduce_each_fix(path):
    """The JSON `fix` edits, applied as text to the original, give what the CST fix gives."""
    rule = _rule_of(path)
    linter = _linter(rule)
    source = path.read_text(encoding="utf-8")
    for finding in linter.lint_source(str(path), source.encode()).findings:
        if finding.fix is None:
            continue
        lines = source.splitlines(keepends=True)
        for edit in sorted(finding.fix.edits, reverse=True):
            assert edit.column == edit.end_column == 1
            lines[edit.line - 1:edit.end_line - 1] = [edit.content]
        assert parses("".join(lines).encode()), finding


def test_safe_only_by_default_unsafe_on_request(tmp_path):
    rule = CATALOG.rules["TL402"]
    code = (
        "from transformers import AutoModel\n\n"
        "def load(path, device):\n"
        "    return AutoModel.from_pretrained(path).to(device)\n"
    ).encode()
    linter = _linter(rule)
    assert fix_source(linter, "m.py", code).data == code
    fixed = fix_source(linter, "m.py", code, unsafe=True).data
    assert b'from_pretrained(path, torch_dtype="auto")' in fixed


def test_a_fix_that_does_not_parse_is_never_written(tmp_path, monkeypatch):
    """A broken fix (simulated: it makes the body of a `def` the bare word `def`) leaves the file as it was."""
    from torchlint.checks.tensor_to_python import TensorToPython

    original = TensorToPython.report

    def broken(self, node, **kw):
        func = self.ctx.function
        kw["fix"] = replace("break it", func, lambda updated: updated.with_changes(
            body=cst.IndentedBlock([cst.SimpleStatementLine([cst.Expr(cst.Name("def"))])])
        ), safety=SAFE) if func is not None else None
        original(self, node, **kw)

    monkeypatch.setattr(TensorToPython, "report", broken)
    path = tmp_path / "serve.py"
    code = b"import torch\n\ndef embed(model, x, device):\n    return [model(t.to(device)).logits.tolist() for t in x]\n"
    path.write_bytes(code)
    linter = _linter(CATALOG.rules["TL302"])
    result = fix_file(linter, str(path), code, FixMode())
    assert path.read_bytes() == code
    assert not result.fixed and [f.rule for f in result.findings] == ["TL302"]
    assert result.findings[0].fix is None  # not offered either


def test_a_file_changed_during_the_run_is_not_overwritten(tmp_path, monkeypatch):
    path = tmp_path / "serve.py"
    code = b"import torch\n\ndef embed(model, x, device):\n    return [model(t.to(device)).logits.tolist() for t in x]\n"
    path.write_bytes(code)
    linter = _linter(CATALOG.rules["TL302"])
    import torchlint.fixing as fixing

    real = fixing.fix_source

    def edit_meanwhile(*args, **kwargs):
        outcome = real(*args, **kwargs)
        path.write_bytes(code + b"# edited in the editor\n")
        return outcome

    monkeypatch.setattr(fixing, "fix_source", edit_meanwhile)
    result = fix_file(linter, str(path), code, FixMode())
    assert path.read_bytes().endswith(b"# edited in the editor\n")
    assert not result.fixed and "changed on disk" in result.notes[0]


def test_fix_of_nested_nodes_compose_in_one_pass():
    """A decorator on the function and `.cpu()` inside it: both land, in one pass."""
    code = b"import torch\n\ndef embed(model, x, device):\n    return [model(t.to(device)).logits.tolist() for t in x]\n"
    linter = Linter(CATALOG, [CATALOG.rules["TL301"], CATALOG.rules["TL302"]], Config())
    linted = linter.lint("m.py", code)
    fixes = [fx for _, fx in linted.fixes]
    assert len(fixes) == 2
    from torchlint.lint.describe import apply

    out = apply(linted.module, fixes).code
    assert "@torch.inference_mode()\ndef embed" in out and ".logits.cpu().tolist()" in out


def test_fix_adds_import_torch_when_missing():
    code = b"from torch import nn\n\n\ndef predict(model, x):\n    return model(x)\n"
    outcome = fix_source(_linter(CATALOG.rules["TL301"]), "m.py", code)
    assert outcome.data.startswith(b"from torch import nn\nimport torch\n")
    assert b"@torch.inference_mode()\ndef predict" in outcome.data


# ----- through the CLI ------------------------------------------------------------------------

SERVE = "import torch\n\ndef embed(model, x, device):\n    return [model(t.to(device)).logits.tolist() for t in x]\n"


def test_cli_fix_keeps_crlf_bom_latin1_and_mode(tmp_path):
    crlf = tmp_path / "crlf.py"
    crlf.write_bytes(SERVE.replace("\n", "\r\n").encode())
    bom = tmp_path / "bom.py"
    bom.write_bytes(b"\xef\xbb\xbf" + SERVE.encode())
    latin = tmp_path / "latin.py"
    latin.write_bytes(b"# -*- coding: latin-1 -*-\n" + SERVE.encode() + "# café\n".encode("latin-1"))
    os.chmod(crlf, 0o754)
    proc = run_cli("check", "--fix", "--no-cache", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert b"\r\n@torch.inference_mode()\r\ndef embed" in crlf.read_bytes()
    assert b"\n" not in crlf.read_bytes().replace(b"\r\n", b"")
    assert stat.S_IMODE(os.stat(crlf).st_mode) == 0o754
    assert bom.read_bytes().startswith(b"\xef\xbb\xbfimport torch\n\n@torch.inference_mode()")
    assert latin.read_bytes().endswith("# café\n".encode("latin-1"))
    assert b".logits.cpu().tolist()" in latin.read_bytes()


def test_cli_diff_writes_nothing(tmp_path):
    path = tmp_path / "serve.py"
    path.write_text(SERVE)
    proc = run_cli("check", "--diff", "--no-cache", "serve.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith("--- serve.py\n+++ serve.py\n")
    assert "+@torch.inference_mode()" in proc.stdout and "+    return [model(t.to(device)).logits.cpu().tolist() for t in x]" in proc.stdout
    assert "Would fix 2 findings." in proc.stderr
    assert path.read_text() == SERVE
    clean = run_cli("check", "--diff", "--no-cache", "serve.py", "--select", "TL101", cwd=tmp_path)
    assert clean.returncode == 0 and clean.stdout == ""


def test_cli_show_fixes_and_marks(tmp_path):
    path = tmp_path / "serve.py"
    path.write_text(SERVE)
    before = run_cli("check", "--no-cache", "serve.py", cwd=tmp_path)
    assert "TL302 [*] [low]" in before.stdout and "[*] 2 fixable with `--fix`." in before.stdout
    proc = run_cli("check", "--fix", "--show-fixes", "--no-cache", "serve.py", cwd=tmp_path)
    assert proc.returncode == 0
    assert "Fixed 2 findings:\nserve.py:\n    1 × TL301 (missing-no-grad)\n    1 × TL302" in proc.stdout


def test_cli_fix_on_copied_bad_fixtures_leaves_no_safe_fix(tmp_path):
    """The issue's acceptance check: `check --fix` then `check` leaves only findings without a
    safe fix, and every fixed file still compiles."""
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, copy, ignore=shutil.ignore_patterns("good_*", "*.fixed.py", PROJECTS.name))
    before = json.loads(run_cli("check", "--no-cache", "--format", "json", str(copy)).stdout)
    proc = run_cli("check", "--fix", "--no-cache", str(copy))
    assert proc.returncode == 1, proc.stderr  # rules without a fix still report
    after = json.loads(run_cli("check", "--no-cache", "--format", "json", str(copy)).stdout)
    assert len(after) < len(before)
    assert [f for f in after if f["fix"] and f["fix"]["safety"] == "safe"] == []
    fixed_rules = {f["rule"] for f in before if f["fix"] and f["fix"]["safety"] == "safe"}
    assert fixed_rules >= {"TL301", "TL302", "TL303", "TL603"}
    for path in copy.rglob("*.py"):
        py_compile.compile(str(path), doraise=True, cfile=str(tmp_path / "x.pyc"))


def test_cli_unsafe_fixes_fix_more(tmp_path):
    copy = tmp_path / "fixtures"
    shutil.copytree(FIXTURES / "TL202-integer-tensor-cast", copy, ignore=shutil.ignore_patterns("*.fixed.py"))
    proc = run_cli("check", "--fix", "--unsafe-fixes", "--show-fixes", "--no-cache", "--select", "TL202", str(copy))
    assert "× TL202 (integer-tensor-cast)" in proc.stdout
    after = json.loads(run_cli("check", "--no-cache", "--format", "json", "--select", "TL202", str(copy)).stdout)
    assert after and all(f["fix"] is None for f in after)  # blanket casts and helpers are left to the author


def test_fixed_expectations_are_not_fixtures_of_their_own():
    """`.fixed.py` files keep the `# expect:` comments of their source; the generic fixture
    test skips them, and they are named after an existing bad fixture."""
    for path in rule_fixtures("*/**/*.fixed.py"):
        assert path.with_name(path.name.replace(".fixed.py", ".py")).exists(), path.relative_to(ROOT)


# ----- suppressions: TL002 and --add-noqa -----------------------------------------------------


def test_unused_suppressions_judge_only_rules_that_ran(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("import torch\n\n\ndef predict(model, x):\n    return model(x)  # noqa: TL302, E501\n")
    every = json.loads(run_cli("check", "--no-cache", "--format", "json", str(path)).stdout)
    assert [(f["rule"], f["line"]) for f in every] == [("TL301", 5), ("TL002", 5)]
    narrowed = json.loads(run_cli("check", "--no-cache", "--format", "json", "--select", "TL301,TL002",
                                  str(path)).stdout)
    assert [f["rule"] for f in narrowed] == ["TL301"]  # TL302 did not run: its code is not judged


def test_add_noqa_then_check_is_clean(tmp_path):
    path = tmp_path / "serve.py"
    path.write_bytes((
        "import torch\r\n\r\n\r\n"
        "def predict(model, x):\r\n"
        "    y = model(x)  # torchlint: ignore[TL302]\r\n"
        '    s = """\r\n    text""" + str([model(t).tolist() for t in x])\r\n'
        "    return [model(t).tolist() for t in x]  # a note\r\n"
    ).encode())
    proc = run_cli("check", "--no-cache", "--add-noqa", str(tmp_path))
    assert proc.returncode == 0 and "Added 3 suppressions in 1 file." in proc.stdout, proc.stdout + proc.stderr
    text = path.read_bytes().decode()
    assert '    text""" + str([model(t).tolist() for t in x])  # torchlint: ignore[TL301, TL302]\r\n' in text
    assert "    return [model(t).tolist() for t in x]  # a note  # torchlint: ignore[TL301, TL302]\r\n" in text
    assert "# torchlint: ignore[TL302, TL002, TL301]\r\n" in text  # merged into the directive there
    assert "\n" not in text.replace("\r\n", "")
    clean = run_cli("check", "--no-cache", str(tmp_path))
    assert clean.returncode == 0, clean.stdout


def test_add_noqa_leaves_lines_inside_strings(tmp_path):
    path = tmp_path / "serve.py"
    code = 'import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x] if x else """\n    """\n'
    path.write_text(code)
    proc = run_cli("check", "--no-cache", "--add-noqa", str(path))
    assert "serve.py:5: cannot add a comment there" in proc.stderr
    assert path.read_text() == code


@pytest.mark.parametrize("path", CASES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_a_fix_described_in_its_statement_equals_the_whole_file_description(path, monkeypatch):
    """Fixes are regenerated and re-parsed in their top-level statement alone; the edits are
    those of applying them to the whole file."""
    import torchlint.lint as lint

    linter = _linter(_rule_of(path))
    data = path.read_bytes()
    local = linter.lint_source(str(path), data).findings
    real = lint.describe
    monkeypatch.setattr(lint, "describe", lambda module, fix, safety, place=None: real(module, fix, safety))
    assert local == linter.lint_source(str(path), data).findings
