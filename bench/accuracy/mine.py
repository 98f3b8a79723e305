"""Candidate fire labels from upstream fix commits: lines a later commit changed by adding
a fix token (`.cpu()` before `.numpy()`, a CUDA availability guard, ...).

    python bench/accuracy/mine.py MIRRORS REPO [--rule TL302]

Prints `rule repo parent path line | old line -> new line` for a person to judge; nothing
printed here is a label until someone has read it in context and written it to labels.yaml.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

# rule: (git -G pattern, test on (removed, added) line pair)
_CPU = re.compile(r"\.(?:detach\(\)\.)?cpu\(\)")


def _tl302(old: str, new: str) -> bool:
    return bool(re.search(r"\.(numpy|tolist)\(\)", old)) and _CPU.sub("", new).replace(" ", "") == \
        _CPU.sub("", old).replace(".detach()", "").replace(" ", "").replace(".detach()", "") and not _CPU.search(old)


def _tl101(old: str, new: str) -> bool:
    return bool(re.search(r"\.cuda\(\)|[\"']cuda(:\d)?[\"']", old)) and not re.search(r"\.cuda\(\)|[\"']cuda(:\d)?[\"']", new) \
        and "device" in new


def _tl201(old: str, new: str) -> bool:
    return bool(re.search(r"float16|\.half\(\)", old)) and not re.search(r"float16|\.half\(\)", new)


def _tl401(old: str, new: str) -> bool:
    placed = re.compile(r"device_map|\.to\(|\.cuda\(|device=")
    return "from_pretrained(" in old and "from_pretrained(" in new and not placed.search(old) and bool(placed.search(new))


RULES = {
    "TL302": (r"\.cpu\(\)\.(numpy|tolist)", _tl302),
    "TL101": (r"\.cuda\(\)|[\"']cuda[\"']", _tl101),
    "TL201": (r"float16|\.half\(\)", _tl201),
    "TL401": (r"device_map|from_pretrained", _tl401),
}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, errors="replace").stdout


def candidates(repo: Path, rule: str):
    pattern, test = RULES[rule]
    log = _git(repo, "log", "-p", "-U0", "--no-merges", "--format=@@@%H %P", f"-G{pattern}", "--", "*.py")
    commit = parent = path = None
    old_line = 0
    removed: list[tuple[int, str]] = []
    added = 0
    seen: set[tuple[str, str, int]] = set()
    for line in log.splitlines():
        if line.startswith("@@@"):
            parts = line[3:].split()
            commit, parent = parts[0], (parts[1] if len(parts) > 1 else None)
        elif line.startswith("--- "):
            path = line[6:] if line.startswith("--- a/") else None
        elif line.startswith("@@ "):
            m = re.match(r"@@ -(\d+)", line)
            old_line = int(m.group(1)) if m else 0
            removed, added = [], 0
        elif line.startswith("-") and not line.startswith("---"):
            removed.append((old_line + len(removed), line[1:]))
        elif line.startswith("+") and not line.startswith("+++") and path and parent:
            # the removed line in the same position of the hunk: a line rewritten in place
            if added < len(removed):
                number, old = removed[added]
                key = (parent, path, number)
                if key not in seen and test(old.strip(), line[1:].strip()):
                    seen.add(key)
                    yield rule, parent[:10], commit[:10], path, number, old.strip(), line[1:].strip()
            added += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mirrors", type=Path)
    ap.add_argument("repo")
    ap.add_argument("--rule", action="append")
    args = ap.parse_args()
    for rule in args.rule or RULES:
        for rule_, parent, commit, path, number, old, new in candidates(args.mirrors / args.repo / "repo", rule):
            print(f"{rule_} {args.repo} {parent}->{commit} {path}:{number} | {old[:90]}  ->  {new[:90]}")


if __name__ == "__main__":
    main()
