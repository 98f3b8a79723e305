"""Find the files to lint and drop, before parsing, those no selected rule can match."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath
from typing import Iterable

from torchlint.catalog import compile_prefilter
from torchlint.globs import is_excluded

# Directories never worth linting (tool caches, environments, VCS metadata).
DEFAULT_EXCLUDE = (
    ".bzr", ".direnv", ".eggs", ".git", ".hg", ".ipynb_checkpoints", ".mypy_cache", ".nox",
    ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox", ".venv", ".torchlint_cache",
    "__pypackages__", "__pycache__", "_build", "buck-out", "dist", "node_modules",
    "site-packages", "venv",
    "*{{*}}*",  # a cookiecutter/Jinja template (`{{cookiecutter.name}}/`): not Python until rendered
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


def _wanted(name: str, include: Iterable[str]) -> bool:
    """A Python file, or a file matching an `extend-include` glob (`*.ipynb`)."""
    base = os.path.basename(name)
    return name.endswith(PY_SUFFIXES) or any(fnmatchcase(base, g) or fnmatchcase(name, g) for g in include)


def _walk_with_rg(rg: str, directory: str, include: Iterable[str] = ()) -> list[str] | None:
    globs = [arg for g in ("*.py", "*.pyi", *include) for arg in ("-g", g)]
    # NUL-separated: a file name may hold a newline
    cmd = [rg, "--files", "--null", "--no-require-git", "--no-messages", *globs, "--", directory]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode not in (0, 1):
        return None
    return [os.fsdecode(name) for name in proc.stdout.split(b"\0") if name]


def _walk_with_git(directory: str, include: Iterable[str] = ()) -> list[str] | None:
    try:
        proc = subprocess.run(
            # The linted repository's config must not run anything (`core.fsmonitor` names a command).
            ["git", "-c", "core.fsmonitor=false", "ls-files", "-z", "--cached", "--others", "--exclude-standard",
             "--", "."],
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


def not_regular(path: str) -> str | None:
    """What `path` is when it is not a regular file (reading a FIFO or a device would block or
    never end); None for a regular file, or one that cannot be stat'ed (reading it says why)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode):
        return None
    for test, what in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory")):
        if test(mode):
            return what
    return "not a regular file"


def file_size(path: str) -> int:
    """Bytes on disk (0 when it cannot be read: linting it reports why)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _clean(path: str) -> str:
    norm = os.path.normpath(path)
    return PurePosixPath(Path(norm)).as_posix() if os.sep != "/" else norm


def prefilter(files: list[str], rules: dict[str, list[str]]) -> dict[str, list[str] | None]:
    """The rules each file may trigger: those all of whose patterns match its bytes. Files no
    rule matches are left out; an unreadable file maps to None (all rules: the linter then
    reports why). ripgrep runs each pattern once over all files, in multiline mode so that
    `\\s` spans lines as in Python's `re`; Python decides where rg is missing or refuses a
    pattern (a look-around, say)."""
    patterns = sorted({p for ps in rules.values() for p in ps})
    if not files:
        return {}
    rg = rg_binary()
    hits: dict[str, set[str]] = {}
    if rg is not None and patterns:
        with ThreadPoolExecutor(min(4, len(patterns))) as pool:
            for pattern, matched in zip(patterns, pool.map(lambda p: _matching_rg(rg, files, p), patterns)):
                if matched is not None:
                    hits[pattern] = matched
    unreadable: set[str] = set()
    rest = [p for p in patterns if p not in hits]
    if rest:
        hits.update(_matching_python(files, rest, unreadable))
    else:
        unreadable = {f for f in files if not os.access(f, os.R_OK)}
    out: dict[str, list[str] | None] = {}
    for f in files:
        if f in unreadable:
            out[f] = None
            continue
        ids = [rule for rule, ps in rules.items() if all(f in hits[p] for p in ps)]
        if ids:
            out[f] = ids
    return out


def _matching_rg(rg: str, files: list[str], pattern: str) -> set[str] | None:
    """The files `pattern` matches, or None where rg cannot run it."""
    matched: set[str] = set()
    base = [rg, "--files-with-matches", "--null", "--no-messages", "--no-ignore", "--hidden", "--no-config",
            "--multiline", "-e", pattern]
    for i in range(0, len(files), _CHUNK):
        chunk = files[i : i + _CHUNK]
        proc = subprocess.run([*base, "--", *chunk], capture_output=True)
        if proc.returncode == 2 and b"regex" in proc.stderr:
            return None  # a regex rg cannot compile (file errors are silenced by --no-messages)
        matched.update(_clean(os.fsdecode(name)) for name in proc.stdout.split(b"\0") if name)
    return matched


def _matching_python(files: list[str], patterns: list[str], unreadable: set[str]) -> dict[str, set[str]]:
    compiled = [(p, compile_prefilter(p)) for p in patterns]
    hits: dict[str, set[str]] = {p: set() for p in patterns}
    for f in files:
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except OSError:
            unreadable.add(f)
            continue
        for p, rx in compiled:
            if rx.search(data):
                hits[p].add(f)
    return hits
