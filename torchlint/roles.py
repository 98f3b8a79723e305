"""`torchlint roles PATH...`: the code role of each file (and of each function whose role
differs from its file's), with the evidence that decided it."""

from __future__ import annotations

import json

from torchlint.lint import Linter
from torchlint.session.files import discover
from torchlint.session.project import scan_project


def explain_roles(linter: Linter, paths: list[str]) -> list[dict]:
    """One entry per Python file: its role, why, and the parts of it whose role differs."""
    cfg = linter.config
    files = [f for f in discover(paths, cfg.excluded, cfg.root) if f.endswith((".py", ".pyi"))]
    facts, _ = scan_project(linter, files, None, 1)
    out = []
    for path in files:
        here = facts.for_file(path)
        role = here.role
        parts = []
        for qual, data in sorted(here.summary.get("functions", {}).items(), key=lambda kv: kv[1]["line"]):
            own = here.function_role(qual)
            if own != role:
                parts.append({"function": qual, "line": data["line"], "role": own.role, "why": own.why})
        if here.summary.get("main"):
            main = here.main_block_role()
            if main != role:
                parts.append({"function": "__main__", "line": here.summary["main"][0], "role": main.role,
                              "why": main.why})
        out.append({"path": path, "role": role.role, "why": role.why, "parts": parts})
    return out


def render(entries: list[dict], fmt: str = "text") -> str:
    if fmt == "json":
        return json.dumps(entries, indent=2) + "\n"
    lines = []
    for e in entries:
        lines.append(f"{e['path']}: {e['role']} ({e['why']})")
        lines += [f"  {p['line']}: {p['function']}: {p['role']} ({p['why']})" for p in e["parts"]]
    return "\n".join(lines) + ("\n" if lines else "")
