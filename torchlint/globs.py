"""gitignore-flavoured path globs, as `exclude`, `per-file-ignores` and role globs use them."""

from __future__ import annotations

import re
from fnmatch import fnmatchcase, translate
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Iterable


def is_excluded(path: str, patterns: Iterable[str], root: Path | None = None) -> bool:
    """gitignore-flavoured globs: a pattern without `/` matches any path component."""
    component, anchored = _compiled(tuple(patterns))
    if component is None and not anchored:
        return False
    rel = path
    if root is not None:
        try:
            rel = Path(path).resolve().relative_to(root.resolve()).as_posix()
        except (ValueError, OSError, RuntimeError):  # outside the root; a symlink loop
            rel = PurePosixPath(Path(path)).as_posix()
    if component is not None:
        for part in PurePosixPath(rel).parts:
            if component.match(part):
                return True
    for pat in anchored:
        if fnmatchcase(rel, pat) or fnmatchcase(rel, pat + "/*") or rel.startswith(pat + "/"):
            return True
    return False


@lru_cache(maxsize=32)
def _compiled(patterns: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    """The patterns without `/` as one regex over a path component (what `fnmatchcase` would
    match, each), and the others as globs over the whole relative path."""
    cleaned = [p.rstrip("/") for p in patterns]
    cleaned = [p[2:] if p.startswith("./") else p for p in cleaned]
    component = [p for p in cleaned if "/" not in p]
    anchored = tuple(p for p in cleaned if "/" in p)
    regex = re.compile("|".join(f"(?:{translate(p)})" for p in component)) if component else None
    return regex, anchored
