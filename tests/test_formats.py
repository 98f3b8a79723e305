"""Every output format, snapshot-tested through the real CLI on a run with findings, a clean file
and a syntax error. Regenerate with UPDATE_SNAPSHOTS=1 after an intended change, and read the diff."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from torchlint import __version__
from torchlint.report.ci import _escape_property

SNAPSHOTS = ROOT / "tests" / "snapshots"
FORMATS = ["text", "json", "json-lines", "sarif", "github", "junit"]
SOURCES = {
    "serve.py": "import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n",
    "clean.py": "import torch\n\n\n@torch.inference_mode()\ndef predict(model, x):\n    return model(x).cpu().tolist()\n",
    "broken.py": "import torch\n\n\ndef predict(model, x:\n    return model(x)\n",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name, text in SOURCES.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def _run(project: Path, fmt: str, *extra: str) -> str:
    proc = run_cli("check", ".", "--format", fmt, *extra, cwd=project)
    assert proc.returncode == 1, proc.stderr  # findings (including TL000) fail the run
    return proc.stdout


def _stable(fmt: str, out: str) -> str:
    """The snapshot pins the format, not the catalog's prose: rule help texts are elided."""
    out = out.replace(__version__, "<version>")
    if fmt == "sarif":
        doc = json.loads(out)
        for rule in doc["runs"][0]["tool"]["driver"]["rules"]:
            rule["fullDescription"]["text"] = "<explain, first paragraph>"
            rule["help"]["markdown"] = "<explain page>"
        out = json.dumps(doc, indent=2) + "\n"
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_snapshot(project, fmt):
    out = _stable(fmt, _run(project, fmt))
    snapshot = SNAPSHOTS / f"{fmt}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        snapshot.write_text(out)
    assert out == snapshot.read_text(), f"{fmt} output changed; UPDATE_SNAPSHOTS=1 regenerates {snapshot.name}"


def test_sarif_structure(project):
    doc = json.loads(_run(project, "sarif"))
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    by_id = {r["id"]: i for i, r in enumerate(rules)}
    for rule in rules:
        assert {"id", "name", "shortDescription", "fullDescription", "help", "defaultConfiguration"} <= set(rule)
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    results = run["results"]
    assert {r["ruleId"] for r in results} == {"TL000", "TL301", "TL302"}
    for r in results:
        assert r["ruleIndex"] == by_id[r["ruleId"]]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    syntax = next(r for r in results if r["ruleId"] == "TL000")
    assert syntax["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "broken.py"


def test_github_commands_and_escaping(project):
    lines = _run(project, "github").splitlines()
    assert lines and all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
    assert any("file=broken.py,line=4" in line and "title=TL000 syntax-error" in line for line in lines)
    assert _escape_property("a,b:c%\n") == "a%2Cb%3Ac%25%0A"


def test_junit_is_valid_xml(project):
    root = ET.fromstring(_run(project, "junit"))
    failures = root.findall(".//failure")
    assert int(root.get("failures")) == len(failures) == 3
    assert {f.get("type") for f in failures} == {"TL000", "TL301", "TL302"}


def test_json_lines_match_json(project):
    lines = [json.loads(line) for line in _run(project, "json-lines").splitlines()]
    assert lines == json.loads(_run(project, "json"))


def test_output_file(project):
    target = project / "reports" / "torchlint.sarif"
    proc = run_cli("check", ".", "--format", "sarif", "--output-file", str(target), cwd=project)
    assert proc.returncode == 1 and proc.stdout == ""
    assert json.loads(target.read_text())["runs"][0]["results"]
    assert not list(target.parent.glob(".*.tmp"))
