"""Mutation proofs: a small edit to a copy of the reference engine introduces exactly one
rule's defect; torchlint must report exactly that rule at the mutated lines and nothing else
new, and where the defect has a runtime cost, the mutated engine fails the matching
`torchlint validate` check (that runtime half runs a validate per mutation: slow, run by .ci/run)."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from reference_engine.mutations import MUTATIONS, apply
from tests.conftest import ROOT, run_cli
from torchlint.checks import load_catalog
from torchlint.config import Config
from torchlint.lint import Linter
from torchlint.session import run


def _findings(root) -> set[tuple[str, str, int]]:
    catalog = load_catalog()
    linter = Linter(catalog, list(catalog), Config(root=root))
    return {(f.path.split("reference_engine/", 1)[1], f.rule, f.line) for f in run(linter, [str(root / "reference_engine")]).findings}


def test_every_catalog_rule_has_a_mutation():
    covered = {m.rule for m in MUTATIONS}
    missing = sorted(r.id for r in load_catalog() if not r.infrastructure and r.id not in covered)
    assert not missing, f"rules without a mutation of the reference engine: {missing}"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.rule)
def test_mutation_is_reported_exactly(mutation, tmp_path):
    shutil.copytree(ROOT / "reference_engine", tmp_path / "reference_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    baseline = _findings(tmp_path)
    text = apply(mutation, tmp_path / "reference_engine")
    lines = text.splitlines()
    expected = set()
    for snippet in mutation.report_at:
        hits = [i + 1 for i, line in enumerate(lines) if snippet in line]
        assert len(hits) == 1, f"{snippet!r} must identify one line, found {hits}"
        expected.add((mutation.path, mutation.rule, hits[0]))
    new = _findings(tmp_path) - baseline
    assert new == expected, f"{mutation.why}\nexpected {sorted(expected)}\ngot {sorted(new)}"


@pytest.mark.slow  # a validate run per mutation: .ci/run runs it after the quick start's tests
@pytest.mark.parametrize("mutation", [m for m in MUTATIONS if m.failing_check], ids=lambda m: m.rule)
def test_mutation_fails_its_runtime_check(mutation, tmp_path):
    """Where the defect has a runtime cost, the mutated engine fails the matching check."""
    torch = pytest.importorskip("torch", reason="runtime half of the proof needs torch")
    if mutation.only_without_cuda and torch.cuda.is_available():
        pytest.skip(f"{mutation.rule}'s runtime check shows the defect only on a machine without CUDA")
    shutil.copytree(ROOT / "reference_engine", tmp_path / "reference_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    apply(mutation, tmp_path / "reference_engine")
    proc = run_cli("validate", "--device", "cpu", "--format", "json", cwd=tmp_path,
                   env={"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))})
    checks = {c["number"]: c for c in json.loads(proc.stdout)["checks"]} if proc.stdout.strip() else {}
    shown = checks.get(mutation.failing_check, {})
    if mutation.absent_here and shown.get("status") == "pass" and mutation.absent_here in shown.get("detail", ""):
        pytest.skip(f"{mutation.rule}: this machine shows no runtime cost ({shown['detail']})")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    status = {number: c["status"] for number, c in checks.items()}
    assert status[mutation.failing_check] == "fail", f"{mutation.why}: {status}"


@pytest.mark.slow
def test_validate_mutations_prints_the_matrix():
    """`torchlint validate --mutations`: each rule's mutation against every check. The rules
    whose runtime check exists on a CPU are shown by exactly their own check; the rest carry
    their reason (the matrix's exit code stays 1 while any rule fails other checks too)."""
    pytest.importorskip("torch", reason="the matrix runs the engine")
    proc = run_cli("validate", "--mutations", "--device", "cpu", "--format", "json", cwd=ROOT)
    rows = {r["rule"]: r for r in json.loads(proc.stdout)["rules"]}
    assert set(rows) == {m.rule for m in MUTATIONS}
    for rule, check in (("TL301", "4"), ("TL603", "7"), ("TL601", "9")):
        assert rows[rule]["failed"] == [check] and rows[rule]["verdict"] == "shown", rows[rule]
    for rule in ("TL102", "TL302", "TL502", "TL702"):
        assert rows[rule]["verdict"] == "not shown here" and rows[rule]["detail"], rows[rule]
    assert proc.returncode == (0 if all(r["ok"] for r in rows.values()) else 1)
