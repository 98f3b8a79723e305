"""Rule files are validated at load time; errors name the file, the field and the line."""

from __future__ import annotations

import os
import shutil
import textwrap

import pytest

from tests.conftest import ROOT, run_cli
from torchlint.catalog import CatalogError, builtin_rules_dir, load_rule
from torchlint.checks import registry

GOOD = (ROOT / "rules" / "TL302-tensor-to-python-without-cpu.yaml").read_text()


def _write(tmp_path, text, name="TL999-x.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def _error(tmp_path, text) -> CatalogError:
    with pytest.raises(CatalogError) as info:
        load_rule(_write(tmp_path, text), registry().keys())
    return info.value


def test_shipped_rules_are_discovered_not_listed():
    files = sorted(p.name for p in builtin_rules_dir().glob("*.yaml"))
    assert "TL301-missing-no-grad.yaml" in files and len(files) >= 7


def test_valid_rule_loads(tmp_path):
    rule = load_rule(_write(tmp_path, GOOD), registry().keys())
    assert rule.id == "TL302" and rule.params["methods"] == ["tolist", "numpy"]


@pytest.mark.parametrize(
    "old, new, field",
    [
        ("severity: high", "severity: severe", "severity"),
        ("check: tensor_to_python", "check: no_such_kind", "check"),
        ("prefilter: '\\.(tolist|numpy)\\('", "prefilter: '(unclosed'", "prefilter"),
        ("name: tensor-to-python-without-cpu", "name: Tensor_To_Python", "name"),
        ("id: TL302", "id: 302", "id"),
        ("fix: safe", "fix: maybe", "fix"),
        ("title: Move", "titel: Move", "titel"),
    ],
)
def test_malformed_field_is_named(tmp_path, old, new, field):
    assert old in GOOD
    err = _error(tmp_path, GOOD.replace(old, new, 1))
    assert err.field == field
    assert "TL999-x.yaml" in str(err) and f"`{field}`" in str(err)
    if field != "titel":
        assert err.line is not None and f":{err.line}:" in str(err)


@pytest.mark.parametrize(
    "prefilter, problem",
    [
        ("[]", "non-empty list"),
        ("['\\\\.numpy', '(unclosed']", "invalid regular expression"),
        ("'{{no_such_param}}'", "names no parameter"),
        ("'\\\\.{{message_words}}'", "needs a list parameter"),
    ],
)
def test_malformed_prefilter_list_or_placeholder_is_named(tmp_path, prefilter, problem):
    text = GOOD.replace("prefilter: '\\.(tolist|numpy)\\('", f"prefilter: {prefilter}", 1)
    text = text.replace("params:\n", "params:\n  message_words: text\n", 1)
    err = _error(tmp_path, text)
    assert err.field == "prefilter" and problem in str(err)


def test_prefilter_list_and_placeholders_expand_from_params(tmp_path):
    text = GOOD.replace("prefilter: '\\.(tolist|numpy)\\('", "prefilter: ['\\.{{methods}}\\(', 'torch']", 1)
    rule = load_rule(_write(tmp_path, text), registry().keys())
    assert rule.prefilters() == ["\\.(?:tolist|numpy)\\(", "torch"]
    assert rule.prefilters({"methods": ["item", "a.b"]}) == ["\\.(?:item|a\\.b)\\(", "torch"]
    assert rule.prefilters({"methods": []})[0] == "\\.(?!)\\("


def test_missing_field_and_yaml_syntax(tmp_path):
    err = _error(tmp_path, GOOD.replace("message:", "mesage:", 1))
    assert err.field in ("mesage", "message")
    err = _error(tmp_path, "id: TL999\nname: [unclosed\n")
    assert "YAML syntax error" in str(err) and err.line == 3


def test_bad_example_without_annotation(tmp_path):
    err = _error(tmp_path, GOOD.replace("# expect: TL302", ""))
    assert err.field == "examples"


def test_cli_exits_2_on_malformed_shipped_rule(tmp_path):
    # A copy of the package whose rules/ holds one broken file, run as a user would.
    shutil.copytree(ROOT / "torchlint", tmp_path / "torchlint", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "rules", tmp_path / "rules")
    (tmp_path / "rules" / "TL999-broken.yaml").write_text(GOOD.replace("id: TL302", "id: TL999").replace(
        "severity: high", "severity: urgent"))
    proc = run_cli("rules", cwd=tmp_path, env={"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))})
    assert proc.returncode == 2
    assert "TL999-broken.yaml" in proc.stderr and "`severity`" in proc.stderr and "urgent" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_duplicate_ids_are_rejected(tmp_path):
    from torchlint.catalog import Catalog

    a = load_rule(_write(tmp_path, GOOD, "a.yaml"), registry().keys())
    b = load_rule(_write(tmp_path, GOOD.replace("name: tensor-to-python-without-cpu", "name: other"), "b.yaml"),
                  registry().keys())
    with pytest.raises(CatalogError, match="duplicate id 'TL302'"):
        Catalog([a, b])
