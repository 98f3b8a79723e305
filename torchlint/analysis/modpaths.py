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
