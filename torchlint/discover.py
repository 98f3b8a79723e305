"""Find the files to lint and drop, before parsing, those no selected rule can match."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Iterable

# Directories never worth linting (tool caches, environments, VCS metadata).
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".ipynb_checkpoints", ".mypy_cache", ".nox",
    ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", ".torchlint_cache",
    "__pypackages__", "__pycache__", "_build", "buck-out", "dist", "node_modules",
    "site-packages", "venv",
)
PY_SUFFIXES = (".py", ".pyi")
_CHUNK = 500


class DiscoveryError(Exception):
    """A path given on the command line cannot be linted."""


def rg_binary() -> str | None:
    """`rg` from this interpreter's environment (the `ripgrep` wheel), else from PATH."""
    local = Path(sys.executable).parent / ("rg.exe" if os.name == "nt" else "rg")
    if local.exists():
        return str(local)
    return shutil.which("rg")


def is_excluded(path: str, patterns: Iterable[str], root: Path | None = None) -> bool:
    """gitignore-flavoured globs: a pattern without `/` matches any path component."""
    rel = path
    if root is not None:
        try:
            rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError, RuntimeError):  # outside the root; a symlink loop
            rel = PurePosixPath(Path(path)).as_posix()
    parts = PurePosixPath(rel).parts
    for pattern in patterns:
        pat = pattern.rstrip("/")
        if pat.startswith("./"):
            pat = pat[2:]
        if "/" not in pat:
            if any(fnmatchcase(part, pat) for part in parts):
                return True
        elif fnmatchcase(rel, pat) or fnmatchcase(rel, pat + "/*") or rel.startswith(pat + "/"):
            return True
    return False


def _wanted(name: str, include: Iterable[str]) -> bool:
    """A Python file, or a file matching an `extend-include` glob (`*.ipynb`)."""
    base = os.path.basename(name)
    return name.endswith(PY_SUFFIXES) or any(fnmatchcase(base, g) or fnmatchcase(name, g) for g in include)


def _walk_with_rg(rg: str, directory: str, include: Iterable[str] = ()) -> list[str] | None:
    globs = [arg for g in ("*.py", "*.pyi", *include) for arg in ("-g", g)]
    cmd = [rg, "--files", "--no-require-git", "--no-messages", *globs, "--", directory]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode not in (0, 1):
        return None
    return [os.fsdecode(line) for line in proc.stdout.splitlines() if line]


def _walk_with_git(directory: str, include: Iterable[str] = ()) -> list[str] | None:
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            cwd=directory, capture_output=True,
        )
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    names = [os.fsdecode(n) for n in proc.stdout.split(b"\0") if n]
    return [os.path.join(directory, n) for n in names if _wanted(n, include)]


def _walk_plain(directory: str, include: Iterable[str] = ()) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(os.path.join(dirpath, f) for f in filenames if _wanted(f, include))
    return found


def discover(
    paths: Iterable[str], exclude: Iterable[str] = (), root: Path | None = None, include: Iterable[str] = ()
) -> list[str]:
    """Files to lint, in a stable order. Directories honour .gitignore and yield Python files
    plus those matching `include` globs (`*.ipynb`); files are taken as given."""
    include = list(include)
    rg = rg_binary()
    files: dict[str, None] = {}
    for raw in paths:
        if not os.path.lexists(raw):
            raise DiscoveryError(f"{raw}: no such file or directory")
        if not os.path.exists(raw):
            raise DiscoveryError(f"{raw}: broken symbolic link or symbolic link loop")
        if os.path.isdir(raw):
            listed = _walk_with_rg(rg, raw, include) if rg else None
            if listed is None:
                listed = _walk_with_git(raw, include)
            if listed is None:
                listed = _walk_plain(raw, include)
            for f in listed:
                # Default excludes apply below the directory given, config excludes below the root.
                below = os.path.relpath(f, raw)
                if not is_excluded(below, DEFAULT_EXCLUDE) and not is_excluded(f, exclude, root):
                    files[_clean(f)] = None
        elif not is_excluded(raw, exclude, root):
            files[_clean(raw)] = None
    return sorted(files)


def _clean(path: str) -> str:
    norm = os.path.normpath(path)
    return PurePosixPath(Path(norm)).as_posix() if os.sep != "/" else norm


def prefilter(files: list[str], patterns: Iterable[str]) -> list[str]:
    """The files in which at least one pattern matches; rg when available, Python `re` otherwise."""
    patterns = [p for p in patterns if p]
    if not files or not patterns:
        return []
    rg = rg_binary()
    if rg is not None:
        matched = _prefilter_rg(rg, files, patterns)
        if matched is not None:
            return [f for f in files if f in matched]
    combined = re.compile("|".join(f"(?:{p})" for p in patterns).encode())
    out = []
    for f in files:
        try:
            with open(f, "rb") as fh:
                if combined.search(fh.read()):
                    out.append(f)
        except OSError:
            out.append(f)  # let the linter report the read error
    return out


def _prefilter_rg(rg: str, files: list[str], patterns: list[str]) -> set[str] | None:
    matched: set[str] = set()
    base = [rg, "--files-with-matches", "--no-messages", "--no-ignore", "--hidden", "--no-config"]
    for p in patterns:
        base += ["-e", p]
    for i in range(0, len(files), _CHUNK):
        chunk = files[i : i + _CHUNK]
        proc = subprocess.run([*base, "--", *chunk], capture_output=True)
        if proc.returncode == 2 and not proc.stdout:
            return None  # regex rg cannot compile, or no file readable: use Python
        matched.update(_clean(os.fsdecode(line)) for line in proc.stdout.splitlines() if line)
        if proc.returncode == 2:
            # Some files could not be read: keep them so the linter reports why.
            listed = {_clean(os.fsdecode(line)) for line in proc.stdout.splitlines()}
            matched.update(f for f in chunk if f not in listed and not os.access(f, os.R_OK))
    return matched
