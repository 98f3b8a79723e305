"""Formats for CI systems: SARIF 2.1.0 (code scanning), GitHub workflow commands, JUnit XML,
and JSON Lines. Each is a pure function of the run and the rules it ran."""

from __future__ import annotations

import json
import os
import urllib.parse
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Iterable

from torchlint import __version__
from torchlint.catalog import Rule
from torchlint.model import Finding
from torchlint.model import RunResult
from torchlint.pages import explain_markdown

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# Severity -> SARIF level / GitHub command.
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_GITHUB_COMMAND = {"critical": "error", "high": "error", "medium": "warning", "low": "notice"}


def _first_paragraph(text: str) -> str:
    return " ".join(text.strip().split("\n\n")[0].split())


def _sarif_rule(rule: Rule) -> dict:
    return {
        "id": rule.id,
        "name": rule.name,
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": _first_paragraph(rule.explain)},
        "help": {"text": f"torchlint explain {rule.id}", "markdown": explain_markdown(rule)},
        "defaultConfiguration": {"level": _SARIF_LEVEL[rule.severity.label]},
        "properties": {"tags": [rule.category], "severity": rule.severity.label},
    }


def render_sarif(result: RunResult, rules: Iterable[Rule]) -> str:
    rules = sorted({r.id: r for r in rules}.values(), key=lambda r: r.id)
    index = {r.id: i for i, r in enumerate(rules)}
    results = []
    for f in result.findings:
        entry = {
            "ruleId": f.rule,
            "level": _SARIF_LEVEL.get(f.severity, "warning"),
            "message": {"text": _message(f)},
            "locations": [{
                "physicalLocation": {
                    "artifactLocation": {"uri": _uri(f.path), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.line, "startColumn": f.column,
                               "endLine": f.end_line, "endColumn": f.end_column},
                }
            }],
        }
        if f.rule in index:
            entry["ruleIndex"] = index[f.rule]
        if f.fix is not None:
            entry["fixes"] = [{
                "description": {"text": f"{f.fix.title} ({f.fix.safety})"},
                "artifactChanges": [{
                    "artifactLocation": {"uri": _uri(f.path), "uriBaseId": "%SRCROOT%"},
                    "replacements": [{
                        "deletedRegion": {"startLine": e.line, "startColumn": e.column,
                                          "endLine": e.end_line, "endColumn": e.end_column},
                        "insertedContent": {"text": e.content},
                    } for e in f.fix.edits],
                }],
            }]
        results.append(entry)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "torchlint", "version": __version__,
                                "rules": [_sarif_rule(r) for r in rules]}},
            "results": results,
        }],
    }
    return json.dumps(doc, indent=2) + "\n"


def _uri(path: str) -> str:
    """A relative URI reference for SARIF: `/` separators, every other reserved or non-ASCII
    byte percent-encoded (`#` would start a fragment; a name that is not UTF-8 keeps its bytes)."""
    return urllib.parse.quote(os.fsencode(path.replace("\\", "/")), safe="/")


def _xml(text: str) -> str:
    """Text XML 1.0 can hold: a byte of a non-UTF-8 file name (a lone surrogate) as `\\xNN`,
    other characters XML forbids as `\\uNNNN`."""
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif (code < 0x20 and ch not in "\t\n\r") or 0xD800 <= code <= 0xDFFF or code in (0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _message(f) -> str:
    """The message, led by the notebook cell where there is one (these formats have no field
    for it: their line numbers are lines of the cell)."""
    return f"cell {f.cell}: {f.message}" if f.cell is not None else f.message


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: RunResult, rules: Iterable[Rule] = ()) -> str:
    lines = []
    for f in result.findings:
        props = (f"file={_escape_property(f.path)},line={f.line},col={f.column},endLine={f.end_line},"
                 f"endColumn={f.end_column},title={_escape_property(f'{f.rule} {f.name}')}")
        lines.append(f"::{_GITHUB_COMMAND.get(f.severity, 'warning')} {props}::{_escape_data(_message(f))}")
    return "".join(line + "\n" for line in lines)


def render_junit(result: RunResult, rules: Iterable[Rule] = ()) -> str:
    by_file: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_file[f.path].append(f)
    root = ET.Element("testsuites", name="torchlint", tests=str(max(1, len(result.findings))),
                      failures=str(len(result.findings)))
    if not by_file:
        suite = ET.SubElement(root, "testsuite", name="torchlint", tests="1", failures="0")
        ET.SubElement(suite, "testcase", classname="torchlint", name=f"{result.checked} files checked")
    for raw in sorted(by_file):
        findings, path = by_file[raw], _xml(raw)
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(findings)), failures=str(len(findings)))
        for f in findings:
            case = ET.SubElement(suite, "testcase", classname=path, name=f"{f.rule} {f.name} at {f.line}:{f.column}",
                                 file=path, line=str(f.line))
            failure = ET.SubElement(case, "failure", message=_xml(_message(f)), type=f.rule)
            failure.text = _xml(f"{f.path}:{f.line}:{f.column}: {f.rule} [{f.severity}] {_message(f)}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_json_lines(result: RunResult, rules: Iterable[Rule] = ()) -> str:
    return "".join(json.dumps(f.to_json()) + "\n" for f in result.findings)
