"""Paths as module names: which dotted names a file may be imported as, and which of several
candidate files an import means."""

from __future__ import annotations

import os
import posixpath
from pathlib import PurePosixPath


def posix(path: str) -> str:
    return posixpath.normpath(path.replace(os.sep, "/"))


def module_of(posix: str) -> str:
    stem = posixpath.splitext(posixpath.basename(posix))[0]
    if stem == "__init__":
        stem = posixpath.basename(posixpath.dirname(posix))
    return stem


def suffixes(path: str) -> list[str]:
    """Dotted names a file may be imported as: `a/b/c.py` -> c, b.c, a.b.c (packages without
    `__init__.py` and `src/` layouts need no configuration)."""
    p = PurePosixPath(posix(path))
    parts = [x for x in p.with_suffix("").parts if x not in ("/", ".", "..")]
    if parts and parts[-1] == "__init__":
        parts.pop()
    return [".".join(parts[i:]) for i in range(len(parts) - 1, max(-1, len(parts) - 7), -1)] if parts else []


def closest(from_path: str, candidates: list[str]) -> str:
    here = PurePosixPath(posix(from_path)).parts
    return max(candidates, key=lambda c: (_common(here, PurePosixPath(posix(c)).parts), -len(c)))


def _common(a: tuple, b: tuple) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def on_search_path(importer: str, module: str) -> bool:
    """Could `import <module's name>` in `importer` find that top-level module file? A package
    (`pkg/__init__.py`) may sit anywhere on the path; a plain module must sit in the importer's
    folder or one above it (the script's folder and the project root are on `sys.path`), or in a
    `src`/`lib` folder: not in a sibling example's folder (`examples/a/generate.py` is not what
    `examples/b/handler.py` imports as `generate`)."""
    here, there = posix(importer), posix(module)
    if posixpath.basename(there) in ("__init__.py", "__init__.pyi"):
        return True
    folder = posixpath.dirname(there)
    if posixpath.basename(folder) in ("src", "lib"):
        return True
    start = posixpath.dirname(here)
    return folder in ("", ".") or start == folder or start.startswith(folder + "/")
