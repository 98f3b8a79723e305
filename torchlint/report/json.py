"""`--format json`: the findings array documented in ARCHITECTURE.md (an API: keep it stable)."""

from __future__ import annotations

import json

from torchlint.model import RunResult


def render(result: RunResult) -> str:
    return json.dumps([f.to_json() for f in result.findings], indent=2) + "\n"
