"""Review mode (`check --diff-base REF`): keep the findings on lines added or changed since a
git ref, for pull requests on code bases that already have findings."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
from pathlib import Path

from torchlint.model import FileResult, RunResult

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class ReviewError(Exception):
    """The ref or the repository cannot be read: a usage error (exit 2)."""


@dataclasses.dataclass
class ChangedLines:
    """Lines added or changed since the base, by absolute path; whole files for new ones."""

    lines: dict[str, set[int]]
    new_files: set[str]

    def covers(self, path: str, first: int, last: int) -> bool:
        key = os.path.realpath(path)
        if key in self.new_files:
            return True
        changed = self.lines.get(key)
        return changed is not None and any(n in changed for n in range(first, max(first, last) + 1))


def _git(root: Path, *args: str) -> str:
    run = subprocess.run(["git", "-c", "core.fsmonitor=false", "-C", str(root), *args],
                         capture_output=True, text=True, errors="replace")
    if run.returncode != 0:
        raise ReviewError(run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"git {args[0]} failed")
    return run.stdout


def changed_lines(base: str, where: Path) -> ChangedLines:
    """What `git diff BASE` (the working tree against BASE) adds or changes under the repository
    that holds `where`, plus untracked files (wholly new)."""
    start = where if where.is_dir() else where.parent
    try:
        top = Path(_git(start, "rev-parse", "--show-toplevel").strip())
    except (ReviewError, OSError) as exc:
        raise ReviewError(f"--diff-base needs a git repository: {exc}") from None
    try:
        _git(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}")
    except ReviewError:
        raise ReviewError(f"--diff-base: unknown git ref {base!r}") from None
    diff = _git(top, "diff", "--no-color", "--no-ext-diff", "-U0", "--no-renames", base, "--")
    lines: dict[str, set[int]] = {}
    current: str | None = None
    for text in diff.splitlines():
        if text.startswith("+++ "):
            name = text[4:]
            current = os.path.realpath(top / name[2:]) if name.startswith("b/") else None
            if current is not None:
                lines.setdefault(current, set())
        elif current is not None and (m := _HUNK.match(text)):
            first, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
            lines[current].update(range(first, first + count))
    untracked = _git(top, "ls-files", "--others", "--exclude-standard", "-z")
    new_files = {os.path.realpath(top / name) for name in untracked.split("\0") if name}
    return ChangedLines(lines, new_files)


def keep_changed(result: RunResult, changed: ChangedLines) -> tuple[RunResult, int]:
    """`result` with only the findings on changed lines, and how many were left out."""
    files: list[FileResult] = []
    left_out = 0
    for r in result.files:
        kept = [f for f in r.findings if changed.covers(r.path, f.line, f.end_line or f.line)]
        left_out += len(r.findings) - len(kept)
        files.append(dataclasses.replace(r, findings=kept))
    return dataclasses.replace(result, files=files), left_out
