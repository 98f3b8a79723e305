"""Score torchlint on the mined labels (labels.yaml): upstream fixes in serving repositories.

    python bench/accuracy/score.py MIRRORS [--torchlint .venv/bin/torchlint] [--verbose]

MIRRORS holds git mirrors as `<owner>+<name>/repo` (the `fetch` tool's layout). Each labelled
file is written byte-exact at its commit into a folder named like a clone of its repository
(with the files that say what a folder is: `__init__.py`, setup and licence files, deployment
manifests), each such checkout is linted from its own root with `--format json` as a user
would lint it, and a finding matches a label when it has the same
rule and its line is within 1 of the label's, as the dev set's scorer does. A label's optional
`context` lists further files of the same commit that the project phase needs (the module that
defines a loader the labelled file calls); they are written beside it. Prints tp/fn/fp/tn
per rule, per-rule recall, every miss and false finding, and one summary line.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def held_out() -> set[str]:
    """The repositories the dev set holds out (held_out.txt): no label may come from them."""
    lines = (HERE / "held_out.txt").read_text().splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def _checkout(repo: str, commit: str) -> str:
    """Where a labelled commit is materialised: a folder named like a clone of the repository
    (`whisper-webui/` for jhj0517/Whisper-WebUI), one per commit, since the project's own name
    decides what counts as a copy of another library inside it."""
    return f"{repo.replace('/', '+')}@{commit[:10]}/{repo.split('/')[1]}"


# Files that say what a folder is (a package, another project's root, a deployment), written
# with each labelled commit as a checkout has them, though no label points at them.
_SKELETON = re.compile(r"(^|/)(__init__\.py|setup\.py|pyproject\.toml|LICEN[CS]E[^/]*|COPYING|cog\.ya?ml(\.template)?"
                       r"|Dockerfile[^/]*|requirements[^/]*\.txt|[^/]*\.envd|README[^/]*|\.gitignore|environment\.ya?ml"
                       r"|hubconf\.py|(?i:model_zoo\.md))$")


def _skeleton(git: Path, commit: str) -> list[str]:
    tree = subprocess.run(["git", "-C", str(git), "ls-tree", "-r", "--name-only", commit],
                          capture_output=True, text=True)
    return [p for p in tree.stdout.splitlines() if _SKELETON.search(p)]


def _materialise(mirrors: Path, labels: list[dict], root: Path) -> list[str]:
    missing = []
    files = {(l["repo"], l["commit"], p) for l in labels for p in [l["path"], *l.get("context", [])]}
    for repo, commit in {(r, c) for r, c, _ in files}:
        files |= {(repo, commit, p) for p in _skeleton(mirrors / repo.replace("/", "+") / "repo", commit)}
    labelled = {(l["repo"], l["commit"], l["path"]) for l in labels}
    for key in sorted(files):
        repo, commit, path = key
        git = mirrors / repo.replace("/", "+") / "repo"
        blob = subprocess.run(["git", "-C", str(git), "show", f"{commit}:{path}"], capture_output=True)
        if blob.returncode != 0:
            if key in labelled:
                missing.append(f"{repo}@{commit[:10]}:{path}")
            continue
        target = root / _checkout(repo, commit) / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.stdout)
    return missing


def _findings(torchlint: str, root: Path) -> dict[tuple[str, str], list[int]]:
    """Findings of each materialised checkout, linted from its own root as a user would (the
    folders above it, `Plachtaa+VITS-fast-fine-tuning/`, are no path words of the project)."""
    argv = shlex.split(torchlint) + ["check", ".", "--output-format", "json"]
    if Path(argv[0]).exists():
        argv[0] = str(Path(argv[0]).resolve())
    found: dict[tuple[str, str], list[int]] = defaultdict(list)
    for checkout in sorted(c for repo in root.iterdir() for c in repo.iterdir()):
        run = subprocess.run(argv, cwd=checkout, capture_output=True, text=True, timeout=900)
        if run.returncode not in (0, 1):
            sys.exit(f"torchlint failed in {checkout.name} ({run.returncode}): {run.stderr.strip()[:500]}")
        prefix = checkout.relative_to(root).as_posix()
        for f in json.loads(run.stdout):
            found[(f"{prefix}/{f['path']}".replace("\\", "/"), f["rule"])].append(f["line"])
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mirrors", type=Path)
    ap.add_argument("--torchlint", default=str(Path(sys.executable).parent / "torchlint"))
    ap.add_argument("--labels", type=Path, default=HERE / "labels.yaml")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    labels = yaml.safe_load(args.labels.read_text())["labels"]
    forbidden = sorted({l["repo"] for l in labels} & held_out())
    if forbidden:
        sys.exit(f"{args.labels}: labels from held-out repositories: {', '.join(forbidden)}")
    with tempfile.TemporaryDirectory(prefix="torchlint-mined-") as tmp:
        root = Path(tmp)
        missing = _materialise(args.mirrors, labels, root)
        found = _findings(args.torchlint, root)
    counts: dict[str, Counter] = defaultdict(Counter)
    misses = []
    for l in labels:
        rel = f"{_checkout(l['repo'], l['commit'])}/{l['path']}"
        if any(m.endswith(l["path"]) and l["commit"][:10] in m for m in missing):
            continue
        hit = any(abs(line - l["line"]) <= 1 for line in found.get((rel, l["rule"]), []))
        kind = {("fire", True): "tp", ("fire", False): "fn", ("silent", True): "fp", ("silent", False): "tn"}[
            (l["expect"], hit)]
        counts[l["rule"]][kind] += 1
        if kind in ("fn", "fp"):
            misses.append(f"{kind.upper()} {l['rule']} {rel}:{l['line']}  ({l['why'][:100]})")
    print(f"{'rule':6} {'tp':>4} {'fn':>4} {'fp':>4} {'tn':>4} {'recall':>7}")
    total = Counter()
    for rule in sorted(counts):
        c = counts[rule]
        total.update(c)
        fires = c["tp"] + c["fn"]
        recall = f"{c['tp'] / fires:.2f}" if fires else "-"
        print(f"{rule:6} {c['tp']:4} {c['fn']:4} {c['fp']:4} {c['tn']:4} {recall:>7}")
    if args.verbose:
        print("\n".join(misses))
    fires = total["tp"] + total["fn"]
    repos = len({l["repo"] for l in labels})
    rules = len({l["rule"] for l in labels if l["expect"] == "fire"})
    reported = total["tp"] + total["fp"]
    print(f"{'mined' if args.labels.stem == 'labels' else args.labels.stem}: {len(labels)} labels ({fires} fire, "
          f"{total['fp'] + total['tn']} silent) from {repos} repositories, "
          f"{rules} rules with fire labels; recall {total['tp']}/{fires}"
          f" = {total['tp'] / max(fires, 1):.2f}; silent kept {total['tn']}/{total['fp'] + total['tn']}; "
          f"labelled precision {total['tp']}/{reported} = {total['tp'] / max(reported, 1):.2f}")
    for m in missing:
        print(f"missing: {m} (fetch the mirror)", file=sys.stderr)


if __name__ == "__main__":
    main()
