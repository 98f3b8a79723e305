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


# ----- typed parameters, message placeholders, the shared vocabulary --------------------------

def test_parameters_are_typed_by_the_check(tmp_path):
    from torchlint.checks import registry as kinds

    rule = load_rule(_write(tmp_path, GOOD), kinds())
    assert rule.typed_params().methods == frozenset({"tolist", "numpy"})
    with pytest.raises(CatalogError) as info:
        load_rule(_write(tmp_path, GOOD.replace("methods: [tolist, numpy]", "methods: tolist")), kinds())
    assert info.value.field == "params.methods" and "expected a list" in str(info.value)
    with pytest.raises(CatalogError) as info:
        load_rule(_write(tmp_path, GOOD.replace("methods: [tolist, numpy]", "methods: [tolist]\n  metods: [x]")),
                  kinds())
    assert info.value.field == "params.metods" and "unknown parameter" in str(info.value)


def test_a_message_placeholder_typo_is_a_rule_file_error(tmp_path):
    bad = GOOD.replace("`.{method}()`", "`.{methd}()`")
    assert bad != GOOD
    with pytest.raises(CatalogError) as info:
        load_rule(_write(tmp_path, bad), registry())
    assert info.value.field == "message" and "{methd}" in str(info.value) and "{method}" in str(info.value)


def test_test_rules_catches_a_placeholder_typo(tmp_path):
    from tests.test_custom_rules import COOKBOOK

    rules = shutil.copytree(COOKBOOK, tmp_path / "rules")
    path = rules / "ACME001-torch-load-without-weights-only.yaml"
    text = path.read_text()
    assert "{call}" in text
    path.write_text(text.replace("{call}", "{cal}", 1))
    proc = run_cli("test-rules", str(rules))
    assert proc.returncode == 2 and "field `message`" in proc.stderr and "{cal}" in proc.stderr


def test_every_check_declares_the_fields_its_messages_use():
    from torchlint.checks import load_catalog

    for rule in load_catalog():
        if rule.infrastructure:
            continue
        kind = registry()[rule.check]
        names = {n for _, n, _, _ in __import__("string").Formatter().parse(rule.message) if n}
        assert names <= kind.message_fields({"match": rule.match}), rule.id


def test_vocabulary_is_one_list_extended_once_in_config(tmp_path):
    from torchlint import vocabulary

    shipped = vocabulary.load()
    extended = vocabulary.load({"extend_entry_points": ["vectorize"], "model_words": ["net"]})
    assert "vectorize" in extended.entry_points and shipped.entry_points <= extended.entry_points
    assert extended.model_words == frozenset({"net"}) and "model" in shipped.model_words
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint.vocabulary]\nextend_entry_ponts = ['x']\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "vocabulary.extend_entry_ponts" in proc.stderr
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint.vocabulary]\nextend_entry_points = 'x'\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "extend_entry_points" in proc.stderr and "list" in proc.stderr
    # A vocabulary list set per rule is pointed at the vocabulary table.
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint.params.TL301]\nextend_entry_points = ['x']\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "[tool.torchlint.vocabulary]" in proc.stderr


def test_config_parameter_types_are_checked_against_the_check(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint.params.TL302]\nmethods = 'numpy'\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "params.TL302.methods" in proc.stderr and "expected a list" in proc.stderr


def test_no_rule_keeps_its_own_copy_of_a_vocabulary_list():
    from torchlint import vocabulary

    shared = set(vocabulary.Vocabulary.names())
    for path in builtin_rules_dir().glob("TL*.yaml"):
        import yaml

        params = yaml.safe_load(path.read_text()).get("params") or {}
        assert not shared & set(params), (path.name, shared & set(params))
