"""Writing files so that a reader (or a concurrent run) never sees half of one."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def atomic_write(path: Path, content: str | bytes, keep_mode: bool = False) -> None:
    """Write `content` (text as UTF-8) to a temporary sibling, then rename it over `path`
    (atomic on POSIX). `keep_mode` gives the new file the old one's permission bits."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        if keep_mode:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
