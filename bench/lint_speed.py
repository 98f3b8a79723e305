"""Lint speed against a peer, measured in one process tree (not a test).

Lints the same Python files with: torchlint cold (empty cache), torchlint warm (nothing
changed), TorchFix `--select ALL` (installed by this script into its own virtualenv under
`--work`), and a libcst parse-only pass on the same number of processes. Prints wall time, CPU
time and peak memory of each, and the ratios the speed issue asks for.

    python bench/lint_speed.py                       # the installed torch package's sources
    python bench/lint_speed.py --tree path/to/src    # any tree(s), repeatable
    python bench/lint_speed.py --write bench/RESULTS.md
    python bench/lint_speed.py --scaling 1,2,4       # also: cold runs on 1x, 2x, 4x copies
    python bench/lint_speed.py --repeat 3            # cold and parse-only alternated 3 times

Scaling runs lint k copies of the trees' Python files (copied under `--work`) with the cache off
and report wall time, CPU and peak memory per k, the least-squares slope of wall time over
files, and how far each run is from linear (wall(k) / (k * wall(1))).

Each measured command runs as a child process; `os.wait4` gives its own resource usage,
including the worker processes it waited for (CPU summed, peak RSS the largest of them).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from torchlint.config import DEFAULT_MAX_FILE_SIZE

ROOT = Path(__file__).resolve().parents[1]
MAX_FILE_SIZE = DEFAULT_MAX_FILE_SIZE

PARSE_ONLY = """
import sys
from concurrent.futures import ProcessPoolExecutor
import libcst

def parse(path):
    try:
        libcst.parse_module(open(path, "rb").read())
    except Exception:
        pass

if __name__ == "__main__":
    files = open(sys.argv[1]).read().split("\\n")
    with ProcessPoolExecutor(int(sys.argv[2])) as pool:
        list(pool.map(parse, files, chunksize=8))
"""


@dataclass
class Measure:
    name: str
    wall: float
    cpu: float
    peak_mb: float
    rc: int


def measure(name: str, cmd: list[str], cwd: Path, env: dict | None = None) -> Measure:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env={**os.environ, **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    rc = os.waitstatus_to_exitcode(status)
    if rc not in (0, 1):
        print(f"{name} exited {rc}:\n{err[-2000:]}", file=sys.stderr)
    return Measure(name, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, rc)


def torch_sources() -> Path:
    spec = importlib.util.find_spec("torch")  # located, not imported
    if spec is None or not spec.submodule_search_locations:
        sys.exit("torch is not installed here: pass --tree")
    return Path(list(spec.submodule_search_locations)[0])


def python_files(trees: list[Path]) -> list[str]:
    return sorted(str(p) for t in trees for p in t.rglob("*.py") if p.is_file())


def torchfix_venv(work: Path) -> Path:
    venv = work / "torchfix-venv"
    exe = venv / "bin" / "torchfix"
    if not exe.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "torchfix"], check=True)
    return exe


def copies(files: list[str], trees: list[Path], k: int, work: Path, name: str = "scale") -> Path:
    """k copies of `files` (Python files of `trees`) under work/<name>-k/copy<i>/<tree name>/."""
    dest = work / f"{name}-{k}"
    if dest.exists():
        shutil.rmtree(dest)
    for i in range(k):
        for tree in trees:
            for f in files:
                if not f.startswith(str(tree) + os.sep):
                    continue
                target = dest / f"copy{i}" / tree.name / os.path.relpath(f, tree)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)
    return dest


def scaling(files: list[str], trees: list[Path], ks: list[int], jobs: int, work: Path) -> list[str]:
    rows = []
    for k in ks:
        dest = copies(files, trees, k, work)
        cmd = [sys.executable, "-m", "torchlint", "check", str(dest), "--exit-zero", "--no-cache",
               "--format", "json", "--jobs", str(jobs)]
        m = measure(f"torchlint cold x{k}", cmd, work / "run")
        rows.append((k, len(files) * k, m))
        shutil.rmtree(dest)
    n = [r[1] for r in rows]
    wall = [r[2].wall for r in rows]
    mean_n, mean_w = sum(n) / len(n), sum(wall) / len(wall)
    var = sum((x - mean_n) ** 2 for x in n)
    slope = sum((x - mean_n) * (y - mean_w) for x, y in zip(n, wall)) / var if var else float("nan")
    intercept = mean_w - slope * mean_n
    base = rows[0][2].wall / rows[0][0]
    lines = [
        "| Copies | Files | Wall (s) | CPU (s) | Peak RSS (MB) | Wall / (k x wall(1)) |",
        "|---:|---:|---:|---:|---:|---:|",
        *[f"| {k} | {nf} | {m.wall:.1f} | {m.cpu:.1f} | {m.peak_mb:.0f} | {m.wall / (k * base):.2f} |"
          for k, nf, m in rows],
        "",
        f"Slope: {slope * 1000:.1f} s per 1,000 files (intercept {intercept:.1f} s); "
        f"peak RSS from {rows[0][2].peak_mb:.0f} to {rows[-1][2].peak_mb:.0f} MB.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", action="append", type=Path, help="tree to lint (default: torch's sources)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "torchlint-bench")
    parser.add_argument("--skip-torchfix", action="store_true")
    parser.add_argument("--write", type=Path, help="also write the results as Markdown")
    parser.add_argument("--scaling", default="", help="copy counts for scaling runs, e.g. 1,2,4")
    parser.add_argument("--skip-main", action="store_true", help="only the scaling runs")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run torchlint cold and libcst parse-only this many times, alternately; "
                             "their ratio is then the median of the pairs' ratios (a shared VM's speed drifts)")
    args = parser.parse_args()

    sources = [t.resolve() for t in (args.tree or [torch_sources()])]
    args.work.mkdir(parents=True, exist_ok=True)
    run_dir = args.work / "run"  # torchlint's cache root: no pyproject here
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir()
    everything = python_files(sources)
    # Every tool gets the same files: a copy of the trees' Python files, without those over
    # torchlint's default max-file-size (which it would skip and the others would parse).
    too_big = [f for f in everything if os.path.getsize(f) > MAX_FILE_SIZE]
    kept = [f for f in everything if f not in too_big]
    copied = copies(kept, sources, 1, args.work, "tree")
    trees = [copied / "copy0" / t.name for t in sources]
    files = python_files(trees)
    if args.scaling:
        scale_lines = scaling(kept, sources, [int(k) for k in args.scaling.split(",")], args.jobs, args.work)
    if args.skip_main:
        print("\n".join(scale_lines))
        return
    listing = args.work / "files.txt"
    listing.write_text("\n".join(files))
    torchlint = [sys.executable, "-m", "torchlint", "check", *map(str, trees), "--exit-zero",
                 "--format", "json", "--jobs", str(args.jobs)]

    results = [measure("torchlint cold", torchlint, run_dir), measure("torchlint warm", torchlint, run_dir)]
    touched = Path(files[len(files) // 2])
    touched.write_bytes(touched.read_bytes() + b"\n# edited\n")
    results.append(measure("torchlint warm, 1 file changed", torchlint, run_dir))
    parse_only = [sys.executable, "-c", PARSE_ONLY, str(listing), str(args.jobs)]
    results.append(measure("libcst parse-only", parse_only, run_dir))
    pairs = [(results[0], results[-1])]
    for i in range(2, args.repeat + 1):
        shutil.rmtree(run_dir / ".torchlint_cache", ignore_errors=True)  # cold again
        pairs.append((measure(f"torchlint cold, run {i}", torchlint, run_dir),
                      measure(f"libcst parse-only, run {i}", parse_only, run_dir)))
        results += pairs[-1]
    if not args.skip_torchfix:
        exe = torchfix_venv(args.work)
        results.append(measure("TorchFix --select ALL",
                               [str(exe), "--select", "ALL", "--jobs", str(args.jobs), *map(str, trees)], run_dir))

    by = {m.name: m for m in results}
    lines = [
        f"Files: {len(files)} Python files of {', '.join(str(t) for t in sources)} (copied; "
        f"{len(too_big)} over {MAX_FILE_SIZE // 1000} kB left out for every tool: "
        f"{', '.join(os.path.relpath(f, sources[0].parent) for f in too_big) or 'none'})",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}; processes per tool: {args.jobs}",
        "",
        "| Run | Wall (s) | CPU (s) | Peak RSS (MB) | Exit |",
        "|---|---:|---:|---:|---:|",
        *[f"| {m.name} | {m.wall:.1f} | {m.cpu:.1f} | {m.peak_mb:.0f} | {m.rc} |" for m in results],
        "",
    ]
    cold = by["torchlint cold"]
    ratios = [("torchlint warm / torchlint cold", by["torchlint warm"].wall / cold.wall, "<= 0.05"),
              ("torchlint warm, 1 file changed / torchlint cold",
               by["torchlint warm, 1 file changed"].wall / cold.wall, "<= 0.05"),
              ("torchlint cold / libcst parse-only" + (f" (median of {len(pairs)} alternated pairs)" if len(pairs) > 1 else ""),
               statistics.median(c.wall / p.wall for c, p in pairs), "<= 1.0")]
    if "TorchFix --select ALL" in by:
        ratios.insert(0, ("torchlint cold / TorchFix", cold.wall / by["TorchFix --select ALL"].wall, "<= 0.10"))
    lines += ["| Ratio (wall) | Value | Target |", "|---|---:|---|",
              *[f"| {name} | {value:.3f} | {target} |" for name, value, target in ratios],
              "", f"Peak memory of torchlint cold (largest process): {cold.peak_mb:.0f} MB (target <= 300 MB)"]
    if len(pairs) > 1:
        lines += ["", "torchlint cold / libcst parse-only, pair by pair: "
                  + ", ".join(f"{c.wall / p.wall:.3f}" for c, p in pairs)]
    if args.scaling:
        lines += ["", f"Scaling (torchlint cold, no cache, {args.jobs} processes):", "", *scale_lines]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text("# Lint speed (bench/lint_speed.py)\n\n" + text)


if __name__ == "__main__":
    main()
