"""A lint-and-fix run over a 5,000-file tree with faults injected (issue 18), not a test.

The tree: the installed torch package's Python sources plus generated serving modules with
fixable findings, up to `--files` files. Faults, all at once during one `check --fix` run:
  - a worker killed: every process capped with RLIMIT_AS, and one 3 MB module whose libcst
    parse needs more (the worker aborts; the pool breaks);
  - a read-only subfolder (write bits off: root writes anyway, so permissions, not access);
  - an editor appending a function to one file every 0.2 s;
  - a damaged cache: the run before left entries, a third are overwritten with wrong shapes.
Then the report of the faulted run is compared, file by file, with a clean run (no cache, no
limit) over the tree as the faulted run left it: every file's findings must be the same (the
killed file aside, which must be TL001), no read-only file may change, and every edit of
the editor must be in its file.

    python bench/fault_run.py [--files 5000] [--work /tmp/torchlint-faults]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

BAD = "import torch\n\n\ndef predict_{n}(model, x):\n    return model(x).tolist()\n"
EDITOR = """
import sys, time
path, stop = sys.argv[1], time.time() + 600
n = 0
while time.time() < stop and not __import__("os").path.exists(sys.argv[2]):
    with open(path, "a") as fh:
        fh.write(f"\\n\\ndef edited_{n}(model, x):\\n    return model(x).tolist()\\n")
    n += 1
    time.sleep(0.2)
print(n)
"""
DAMAGE = ['{"a": 1}', "[1]", '{"findings": [{"severity": "bogus"}], "facts": {}}', "\x00 not json"]


def build(work: Path, files: int) -> Path:
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    src = Path(torch.__file__).parent
    copied = 0
    for path in sorted(src.rglob("*.py")):
        if path.stat().st_size > 1_000_000 or copied >= files - 1000:
            continue
        dest = tree / "torch" / path.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        copied += 1
    n = 0
    while copied + n < files - 2:
        folder = "ro" if n < 400 else f"serve/pkg{n // 200}"
        (tree / folder).mkdir(parents=True, exist_ok=True)
        (tree / folder / f"m{n}.py").write_text(BAD.format(n=n))
        n += 1
    (tree / "editing").mkdir()
    (tree / "editing" / "live.py").write_text(BAD.format(n="live"))
    with open(tree / "big.py", "w") as fh:
        fh.write(BAD.format(n="big"))
        i = 0
        while fh.tell() < 3_000_000:
            fh.write(f"\ndef f{i}(a, b):\n    c = torch.zeros(a, b).cuda()\n    return [c[k] + k for k in range(a)]\n")
            i += 1
    return tree


def torchlint(tree: Path, *args: str, limit_mb: int | None = None) -> list[dict]:
    def cap() -> None:
        if limit_mb:
            resource.setrlimit(resource.RLIMIT_AS, (limit_mb << 20, limit_mb << 20))
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--format", "json", "--exit-zero",
                           "--max-file-size", "0", "-j", "2", *args, "."], cwd=tree, preexec_fn=cap,
                          capture_output=True, text=True)
    if "Traceback" in proc.stderr or proc.returncode != 0:
        sys.exit(f"torchlint failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def by_file(findings: list[dict]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = {}
    for f in findings:
        out.setdefault(f["path"], []).append((f["line"], f["column"], f["rule"], f["message"]))
    return {k: sorted(v) for k, v in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/torchlint-faults"))
    args = parser.parse_args()
    tree = build(args.work, args.files)
    count = sum(1 for _ in tree.rglob("*.py"))
    ro = sorted((tree / "ro").glob("*.py"))
    before_ro = {p: p.read_bytes() for p in ro}
    torchlint(tree, "--select", "TL000")  # leaves a cache to damage (summaries and findings)
    torchlint(tree)
    entries = sorted((tree / ".torchlint_cache").rglob("*.json"))
    random.seed(0)
    damaged = random.sample(entries, len(entries) // 3)
    for i, entry in enumerate(damaged):
        entry.write_text(DAMAGE[i % len(DAMAGE)])
    for p in ro:
        p.chmod(0o444)
    stop = args.work / "stop-editor"
    stop.unlink(missing_ok=True)
    editor = subprocess.Popen([sys.executable, "-c", EDITOR, str(tree / "editing" / "live.py"), str(stop)],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    start = time.time()
    faulted = by_file(torchlint(tree, "--fix", limit_mb=1500))
    seconds = time.time() - start
    stop.touch()
    edits = int(editor.communicate()[0])
    truth = by_file(torchlint(tree, "--no-cache"))
    live = (tree / "editing" / "live.py").read_text()
    lost_edits = [n for n in range(edits) if f"def edited_{n}(" not in live]
    killed = faulted.pop("big.py", [])
    truth.pop("big.py", None)
    faulted.pop("editing/live.py", None)
    truth.pop("editing/live.py", None)
    differ = sorted(p for p in set(faulted) | set(truth) if faulted.get(p) != truth.get(p))
    changed_ro = [p for p in ro if p.read_bytes() != before_ro[p]]
    print(f"files: {count}; cache entries damaged: {len(damaged)} of {len(entries)}; faulted run: {seconds:.1f} s")
    print(f"killed worker's file: {[f[2] for f in killed]} (want ['TL001'])")
    print(f"files whose reported findings differ from the tree as left: {len(differ)} {differ[:5]}")
    print(f"read-only files changed: {len(changed_ro)} of {len(ro)}; reported: "
          f"{sum(1 for p in ro if truth.get(str(p.relative_to(tree))))} of {len(ro)}")
    print(f"editor: {edits} saves, {len(lost_edits)} lost")
    ok = [f[2] for f in killed] == ["TL001"] and not differ and not changed_ro and not lost_edits
    print("OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
