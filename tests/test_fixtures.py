"""The generic fixture test: findings must equal the `# expect:` annotations exactly."""

from __future__ import annotations

import pytest

from tests.conftest import FIXTURES, PROJECTS, ROOT, rule_fixtures
from torchlint.checks import load_catalog
from torchlint.testing import compare

CATALOG = load_catalog()
# Path-dependent traps (a vendored directory) live in subdirectories of a rule's fixtures.
# `bad_x.fixed.py` is bad_x.py after its fixes (tests/test_fix.py), not a fixture of its own.
FILES = [p for p in rule_fixtures("*/**/*.py") if not p.name.endswith(".fixed.py")]


def _format(mismatches) -> str:
    return "\n" + "\n".join(str(m) for m in mismatches)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_matches_annotations(path, linter):
    # Linted as a path inside the rule's folder (`bad_x.py`, `_vendor/x.py`): the folder's own
    # name (`TL101-hardcoded-cuda`) is ours, not a folder of the code under test.
    rule_dir = FIXTURES / path.relative_to(FIXTURES).parts[0]
    source = path.read_text(encoding="utf-8")
    result = linter.lint_source(path.relative_to(rule_dir).as_posix(), path.read_bytes())
    mismatches = compare(path.relative_to(rule_dir).as_posix(), source, result.findings)
    assert not mismatches, _format(mismatches)


@pytest.mark.parametrize("rule", [r for r in CATALOG], ids=lambda r: r.id)
@pytest.mark.parametrize("part", ["bad", "good"])
def test_yaml_examples_match_annotations(rule, part, linter):
    code = rule.examples[part]
    if rule.check == "internal-error":
        pytest.skip("TL001 reports torchlint bugs; no source file can be written to trigger it")
    name = f"<{rule.id} example {part}>"
    result = linter.lint_source(name, code.encode())
    mismatches = compare(name, code, result.findings)
    assert not mismatches, _format(mismatches)
    if part == "bad":
        assert result.findings, "a bad example must produce at least one finding"


@pytest.mark.parametrize("rule", [r for r in CATALOG if not r.infrastructure], ids=lambda r: r.id)
def test_every_rule_has_bad_and_good_fixtures(rule):
    directory = FIXTURES / f"{rule.id}-{rule.name}"
    assert directory.is_dir(), f"missing fixture directory {directory.relative_to(ROOT)}"
    bad = sorted(p for p in directory.glob("bad_*.py") if not p.name.endswith(".fixed.py"))
    good = sorted(directory.glob("good_*.py"))
    assert bad and good, f"{directory.name} needs bad_*.py and good_*.py fixtures"
    for path in bad:
        assert f"expect: {rule.id}" in path.read_text(encoding="utf-8"), f"{path.name} annotates no {rule.id}"
    for path in good:
        assert "# expect:" not in path.read_text(encoding="utf-8"), f"{path.name} is a good fixture: no findings"


def test_fixture_directories_name_real_rules():
    names = {f"{r.id}-{r.name}" for r in CATALOG}
    stray = [d.name for d in FIXTURES.iterdir() if d.is_dir() and d.name not in names and d != PROJECTS]
    assert not stray, f"fixture directories for unknown rules: {stray}"


def test_a_server_handler_is_told_only_what_it_lacks(linter):
    """The handler reads the server's `gpu_id` (its override) and falls back to the CPU through a
    variable: the finding names MPS alone, not a missing override or CPU fallback."""
    path = FIXTURES / "TL102-incomplete-device-fallback" / "bad_server_config_no_mps.py"
    findings = linter.lint_source(path.name, path.read_bytes()).findings
    assert len(findings) == 2
    for finding in findings:
        assert "never considers MPS" in finding.message
        assert "override" not in finding.message.split(":")[0] and "CPU fallback" not in finding.message


def test_a_host_cast_before_placement_is_told_its_real_cost(linter):
    """`.to(dtype=...)` before `.to(device)`: the cost is host RAM at load (low), not a float32
    model on the accelerator."""
    path = FIXTURES / "TL402-from-pretrained-without-dtype" / "bad_host_cast_keyword.py"
    [finding] = linter.lint_source(path.name, path.read_bytes()).findings
    assert finding.severity == "low" and "host RAM" in finding.message


def test_a_config_getter_key_is_an_override(linter):
    """`s = config("DEVICE", default="")`, then `torch.device(s)` when it is set: the config
    file chooses the device, so the finding names MPS alone."""
    path = FIXTURES / "TL102-incomplete-device-fallback" / "bad_config_key_override_without_mps.py"
    [finding] = linter.lint_source(path.name, path.read_bytes()).findings
    assert "never considers MPS" in finding.message and "override" not in finding.message.split(":")[0]
