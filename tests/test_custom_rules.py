"""User rules in YAML (`check: match`), `rule-dirs`, `torchlint test-rules` and the cookbook."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from torchlint.catalog import Catalog, CatalogError, load_rule
from torchlint.checks import load_catalog
from torchlint.checks import registry
from torchlint.config import Config
from torchlint.lint import Linter

COOKBOOK = ROOT / "examples" / "custom-rules"
COOKBOOK_RULES = sorted(p.stem for p in COOKBOOK.glob("*.yaml"))


def _project(tmp_path: Path) -> Path:
    """A project whose pyproject.toml points rule-dirs at a copy of the cookbook."""
    shutil.copytree(COOKBOOK, tmp_path / "lint_rules")
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nrule-dirs = ["lint_rules"]\n')
    return tmp_path


def test_the_cookbook_has_five_worked_rules():
    assert len(COOKBOOK_RULES) == 5
    for stem in COOKBOOK_RULES:
        assert (COOKBOOK / f"{stem}.py").is_file() or (COOKBOOK / stem).is_dir(), f"{stem} has no fixture"


def test_test_rules_passes_on_the_cookbook():
    proc = run_cli("test-rules", str(COOKBOOK), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()[1:6]]
    assert [r[0] for r in rows] == [s.split("-")[0] for s in COOKBOOK_RULES]
    assert all(r[1:] == ["ok", "ok", "ok"] for r in rows), proc.stdout
    assert "5 rules: 15 of 15 checks passed." in proc.stdout


def test_test_rules_lists_every_mismatch(tmp_path):
    rules = shutil.copytree(COOKBOOK, tmp_path / "rules")
    fixture = rules / "ACME001-torch-load-without-weights-only.py"
    text = fixture.read_text()
    # Two annotations dropped and one added where nothing is reported: three mismatches.
    text = text.replace("a = torch.load(path)  # expect: ACME001", "a = torch.load(path)")
    text = text.replace('b = th.load(path, map_location="cpu")  # expect: ACME001', 'b = th.load(path, map_location="cpu")')
    text = text.replace("d = torch.load(path, weights_only=True)", "d = torch.load(path, weights_only=True)  # expect: ACME001")
    fixture.write_text(text)
    yaml_path = rules / "ACME003-compile-in-request-handler.yaml"
    yaml_path.write_text(yaml_path.read_text().replace("        return FAST(text)", "        return torch.compile(FAST)(text)"))
    proc = run_cli("test-rules", str(rules))
    assert proc.returncode == 1
    out = proc.stdout
    assert "ACME001  ok            ok            FAIL (3)" in out
    assert "ACME003  ok            FAIL (1)      ok" in out
    assert "ACME001-torch-load-without-weights-only.py:9: extra   ACME001" in out
    assert "ACME001-torch-load-without-weights-only.py:10: extra   ACME001" in out
    assert "ACME001-torch-load-without-weights-only.py:12: missing ACME001" in out
    assert "<ACME003 good example>:9: extra   ACME003" in out


def test_test_rules_wants_a_directory_and_fixtures(tmp_path):
    proc = run_cli("test-rules", cwd=tmp_path)
    assert proc.returncode == 2 and "rule-dirs" in proc.stderr
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(COOKBOOK / "ACME003-compile-in-request-handler.yaml", rules)
    proc = run_cli("test-rules", str(rules))
    assert proc.returncode == 1 and "ACME003: no fixture" in proc.stdout


def test_check_reports_user_rules_like_built_in_ones(tmp_path):
    project = _project(tmp_path)
    target = project / "lint_rules" / "ACME001-torch-load-without-weights-only.py"
    proc = run_cli("check", "--no-cache", "--select", "ACME", "--format", "json", str(target), cwd=project)
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(proc.stdout)
    assert [(f["rule"], f["line"]) for f in findings] == [("ACME001", 9), ("ACME001", 10), ("ACME001", 11)]
    assert findings[0]["name"] == "torch-load-without-weights-only" and findings[0]["severity"] == "high"
    assert findings[0]["fix"]["safety"] == "unsafe"
    sarif = json.loads(run_cli("check", "--no-cache", "--select", "ACME001", "--format", "sarif", str(target),
                               cwd=project).stdout)
    assert "ACME001" in {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    # Suppression, by ID and by name, and TL002 for a stale one.
    text = target.read_text()
    text = text.replace("a = torch.load(path)  # expect: ACME001", "a = torch.load(path)  # torchlint: ignore[ACME001]")
    text = text.replace('b = th.load(path, map_location="cpu")  # expect: ACME001',
                        'b = th.load(path, map_location="cpu")  # noqa: torch-load-without-weights-only')
    text = text.replace("d = torch.load(path, weights_only=True)", "d = torch.load(path, weights_only=True)  # noqa: ACME001")
    target.write_text(text)
    proc = run_cli("check", "--no-cache", "--select", "ACME001,TL002", "--format", "json", str(target), cwd=project)
    assert [(f["rule"], f["line"]) for f in json.loads(proc.stdout)] == [("ACME001", 11), ("TL002", 12)]


def test_fix_applies_a_template(tmp_path):
    project = _project(tmp_path)
    target = project / "serve.py"
    target.write_text("import torch\n\nstate = torch.load('m.pt', map_location='cpu')\nother = torch.load('n.pt', weights_only=False)\n")
    proc = run_cli("check", "--no-cache", "--select", "ACME001", "--fix", "--unsafe-fixes", str(target), cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert target.read_text() == ("import torch\n\nstate = torch.load('m.pt', map_location='cpu', weights_only=True)\n"
                                  "other = torch.load('n.pt', weights_only=True)\n")


def test_explain_and_rules_list_user_rules(tmp_path):
    project = _project(tmp_path)
    proc = run_cli("explain", "ACME002", "--format", "markdown", cwd=project)
    assert proc.returncode == 0 and "pinned" in proc.stdout and "# expect" not in proc.stdout
    listed = json.loads(run_cli("rules", "--format", "json", cwd=project).stdout)
    assert {r["id"] for r in listed} >= {"ACME001", "ACME005", "TL301"}


def test_user_rules_change_the_cache_key(tmp_path):
    project = _project(tmp_path)
    target = project / "serve.py"
    target.write_text("import torch\nstate = torch.load('m.pt')\n")
    first = run_cli("check", "--select", "ACME001", "--format", "json", str(target), cwd=project)
    assert [f["line"] for f in json.loads(first.stdout)] == [2]
    rule = project / "lint_rules" / "ACME001-torch-load-without-weights-only.yaml"
    rule.write_text(rule.read_text().replace("severity: high", "severity: low"))
    again = json.loads(run_cli("check", "--select", "ACME001", "--format", "json", str(target), cwd=project).stdout)
    assert again[0]["severity"] == "low"


@pytest.mark.parametrize(
    "change, field",
    [
        (("id: ACME001", "id: TL901"), "id"),
        (("  require_keywords:", "  require_kw:"), "match.require_kw"),
        (("  calls: [torch.load]", "  calls: []"), "match.calls"),
        (("    add_keywords: {weights_only: \"True\"}", "    add_keywords: {weights_only: \"(\"}"), "match.fix.add_keywords"),
        (("check: match", "check: tensor_to_python"), "match"),
    ],
)
def test_malformed_user_rule_names_file_and_field(tmp_path, change, field):
    project = _project(tmp_path)
    rule = project / "lint_rules" / "ACME001-torch-load-without-weights-only.yaml"
    old, new = change
    assert old in rule.read_text()
    rule.write_text(rule.read_text().replace(old, new, 1))
    proc = run_cli("check", "--no-cache", str(project / "lint_rules"), cwd=project)
    assert proc.returncode == 2
    assert "ACME001-torch-load-without-weights-only.yaml" in proc.stderr and f"field `{field}`" in proc.stderr


def test_missing_rule_dir_is_a_config_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nrule-dirs = ["nope"]\n')
    proc = run_cli("check", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2 and "rule-dirs" in proc.stderr and "'nope'" in proc.stderr


# ----- the match kind's semantics ------------------------------------------------------------

def _rule(tmp_path: Path, match: str, fix: str = "none") -> Linter:
    spec = textwrap.indent(textwrap.dedent(match).strip(), "  ")
    text = (
        "id: ZZ001\nname: probe\ntitle: Probe\nseverity: low\ncategory: test\nprefilter: '.'\n"
        f"check: match\nmatch:\n{spec}\nfix: {fix}\n"
        'message: "{call} {problem}"\nexplain: probe\n'
        'examples:\n  bad: "x  # expect: ZZ001"\n  good: "y"\n'
    )
    path = tmp_path / "ZZ001-probe.yaml"
    path.write_text(text)
    rule = load_rule(path, registry(), builtin=False)
    catalog = Catalog([*load_catalog(), rule])
    return Linter(catalog, [rule], Config())


def _lines(linter: Linter, code: str) -> list[int]:
    return [f.line for f in linter.lint_source("serve.py", textwrap.dedent(code).encode()).findings]


def test_calls_resolve_through_imports(tmp_path):
    linter = _rule(tmp_path, "calls: [torch.load]")
    assert _lines(linter, """\
        import torch as th
        from torch import load as tload
        from mylib import load
        th.load(p)
        tload(p)
        load(p)
        torch.load(p)
        """) == [4, 5]  # `load` is mylib's; `torch` is not imported here


def test_wildcards_match_methods_on_any_receiver(tmp_path):
    linter = _rule(tmp_path, 'calls: ["*.from_pretrained"]')
    assert _lines(linter, """\
        from transformers import AutoModel
        a = AutoModel.from_pretrained(p)
        b = self.loader().from_pretrained(p)
        c = from_pretrained(p)
        """) == [2, 3]


def test_keyword_conditions(tmp_path):
    linter = _rule(tmp_path, """\
        calls: [torch.load]
        require_keywords: {weights_only: true}
        forbid_keywords: {mmap: null}
        """)
    assert _lines(linter, """\
        import torch
        torch.load(p)
        torch.load(p, weights_only=True)
        torch.load(p, weights_only=False)
        torch.load(p, weights_only=flag)
        torch.load(p, **kw)
        torch.load(p, weights_only=True, mmap=False)
        """) == [2, 4, 7]


def test_places(tmp_path):
    linter = _rule(tmp_path, """\
        calls: [torch.compile]
        inside: [function]
        not_inside: [try_except, test_function]
        """)
    assert _lines(linter, """\
        import torch
        torch.compile(m)
        def serve():
            torch.compile(m)
            try:
                torch.compile(m)
            except RuntimeError:
                pass
        def test_compile():
            torch.compile(m)
        """) == [4]


def test_rename_fix_only_where_the_new_name_is_importable(tmp_path):
    linter = _rule(tmp_path, """\
        calls: [acme.old]
        fix: {rename: acme.new.helper}
        """, fix="safe")
    reachable = linter.lint_source("a.py", b"import acme\nacme.old()\n").findings
    assert reachable[0].fix is not None and reachable[0].fix.edits[0].content == "acme.new.helper()\n"
    unreachable = linter.lint_source("b.py", b"from acme import old\nold()\n").findings
    assert len(unreachable) == 1 and unreachable[0].fix is None


def test_a_user_rule_cannot_take_a_tl_id(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text((COOKBOOK / "ACME004-deprecated-device-helper.yaml").read_text().replace("id: ACME004", "id: TL999"))
    with pytest.raises(CatalogError) as info:
        load_rule(path, registry(), builtin=False)
    assert info.value.field == "id"
    assert load_rule(path, registry()).id == "TL999"  # the built-in directory may
