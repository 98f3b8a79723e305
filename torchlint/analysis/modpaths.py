"""Paths as module names: which dotted names a file may be imported as, which of several
candidate files an import means, and the project's own files an import resolves to."""

from __future__ import annotations

import os
import posixpath
from pathlib import PurePosixPath
from typing import Any, Mapping


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


class ModuleResolver:
    """Resolves imports, as a file spells them, to the project's own files."""

    def __init__(self, summaries: Mapping[str, Any]):
        self.summaries = summaries
        self._by_suffix: dict[str, list[str]] = {}
        for path in summaries:
            for suffix in suffixes(path):
                self._by_suffix.setdefault(suffix, []).append(path)

    def resolve(self, from_path: str, target: str) -> tuple[str, list[str]] | None:
        """The project file a dotted name (leading dots for relative imports) lives in, and
        the attribute chain inside it."""
        level = len(target) - len(target.lstrip("."))
        parts = [p for p in target.lstrip(".").split(".") if p]
        if level:
            base = posixpath.dirname(posix(from_path))
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            for i in range(len(parts), -1, -1):
                stem = posixpath.join(base, *parts[:i]) if i else base
                for candidate in (f"{stem}.py", f"{stem}/__init__.py", f"{stem}.pyi"):
                    found = self._known(candidate)
                    if found is not None:
                        return found, parts[i:]
            return None
        for i in range(len(parts), 0, -1):
            candidates = self._by_suffix.get(".".join(parts[:i]))
            if candidates and i == 1:
                candidates = [c for c in candidates if on_search_path(from_path, c)]
            if candidates:
                return closest(from_path, candidates), parts[i:]
        return None

    def _known(self, spelled: str) -> str | None:
        wanted = posix(spelled)
        for path in self._by_suffix.get(module_of(wanted), []):
            mine = posix(path)
            if mine == wanted or mine.endswith("/" + wanted.lstrip("./")):
                return path
        return None

    def star_definition(self, path: str, chain: list[str]) -> tuple[str, str, str] | None:
        """(file, "function" or "class", name) of a name `path` re-exports with `from m import *`."""
        found = self.star_imported(path, chain[0]) if len(chain) == 1 else None
        if found is None:
            return None
        return found[0], "function" if chain[0] in (self.summaries.get(found[0]) or {}).get("functions", {}) \
            else "class", chain[0]

    def star_imported(self, from_path: str, name: str) -> tuple[str, list[str]] | None:
        """A bare name that `from m import *` brought in: where `m` defines it."""
        own = self.summaries.get(from_path) or {}
        if "." in name or name in own.get("functions", {}) or name in own.get("classes", {}):
            return None  # a dotted name, or one this file defines itself
        for local, module, _ in own.get("imports", []):
            if local != "*":
                continue
            found = self.resolve(from_path, f"{module}{'' if module.endswith('.') else '.'}{name}")
            if found is not None and found[1] == [name]:
                summary = self.summaries.get(found[0]) or {}
                if name in summary.get("functions", {}) or name in summary.get("classes", {}):
                    return found
        return None
