"""Candidate labels, second source: findings on lines an upstream commit changed that the
commit made go away (the finding fires on the parent, and the rule fires less often after).

    python bench/accuracy/vanished.py MIRRORS OWNER+NAME [OWNER+NAME ...] [--per-repo 250]

This only proposes what torchlint already finds, so it cannot measure recall alone: each
candidate is read in context (`git show PARENT:PATH`) and the diff checked for a real fix
before it goes into labels.yaml; bench/accuracy/mine.py proposes fixes torchlint misses.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

# Fix words of the rules: a commit that touches none of them is not worth linting.
PATTERN = (r"no_grad|inference_mode|empty_cache|is_available|torch_dtype|\.cpu\(\)|run_in_executor|to_thread|"
           r"max_workers|shutdown\(|get_device_capability|float16|\.half\(\)|flash_attn|xformers|lru_cache")


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, errors="replace").stdout


def _changed_lines(diff: str) -> dict[str, set[int]]:
    changed: dict[str, set[int]] = defaultdict(set)
    path = None
    for line in diff.splitlines():
        if line.startswith("--- "):
            path = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("@@ ") and path:
            m = re.match(r"@@ -(\d+)(?:,(\d+))?", line)
            start, count = int(m.group(1)), int(m.group(2) or 1)
            changed[path].update(range(start - 1, start + max(count, 1) + 1))
    return changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mirrors", type=Path)
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--per-repo", type=int, default=250)
    ap.add_argument("--torchlint", default=str(Path(sys.executable).parent / "torchlint"))
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="torchlint-vanished-"))
    changed_at: dict[tuple[str, str, str], tuple[str, set[int]]] = {}
    for name in args.repos:
        repo = args.mirrors / name / "repo"
        log = _git(repo, "log", "--no-merges", "--format=%H %P", f"-G{PATTERN}", "-n", str(args.per_repo), "--", "*.py")
        for entry in log.splitlines():
            parts = entry.split()
            if len(parts) < 2:
                continue
            commit, parent = parts[0], parts[1]
            changed = _changed_lines(_git(repo, "diff", "-U0", parent, commit, "--", "*.py"))
            if not changed or len(changed) > 8:
                continue  # a sweeping change is a refactor, not a fix
            for path, lines in changed.items():
                for side, rev in (("a", parent), ("b", commit)):
                    blob = subprocess.run(["git", "-C", str(repo), "show", f"{rev}:{path}"], capture_output=True).stdout
                    if blob:
                        target = root / name / commit[:10] / side / path
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(blob)
                changed_at[(name, commit[:10], path)] = (parent[:10], lines)
    run = subprocess.run([args.torchlint, "check", ".", "--output-format", "json", "--no-cache"],
                         cwd=root, capture_output=True, text=True)
    found: dict[tuple[str, str, str, str, str], list[int]] = defaultdict(list)
    for f in json.loads(run.stdout or "[]"):
        parts = f["path"].split("/", 3)
        if len(parts) == 4:
            found[(*parts, f["rule"])].append(f["line"])
    for (name, commit, side, path, rule), lines in sorted(found.items()):
        parent, changed = changed_at.get((name, commit, path), ("", set()))
        after = found.get((name, commit, "b", path, rule), [])
        if side != "a":
            continue
        for line in lines:
            if line in changed and len(after) < len(lines):
                print(f"{rule} {name} {parent} {path}:{line} (gone in {commit})")


if __name__ == "__main__":
    main()
