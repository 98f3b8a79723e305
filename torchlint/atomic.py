"""Writing files so that a reader (or a concurrent run) never sees half of one, and so that a
file is only replaced while it still holds what torchlint read (an editor's save is never
overwritten)."""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from pathlib import Path


class NotWritten(OSError):
    """A file torchlint leaves alone: read-only, hard-linked, owned by another user (the
    message is the reason)."""


def atomic_write(path: Path, content: str | bytes, keep_mode: bool = False) -> None:
    """Write `content` (text as UTF-8) to a temporary sibling, then rename it over `path`
    (atomic on POSIX). `keep_mode` gives the new file the old one's permission bits."""
    path = Path(path)
    tmp = _sibling(path)
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        if keep_mode:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise


def write_report(path: str | Path, text: str) -> None:
    """Write a report where the user asked: through a symbolic link to its target, straight
    into a character device or a pipe (`/dev/stdout`, a FIFO: never replaced), atomically for
    a regular file (its folder created). OSError when it cannot be written."""
    try:
        mode = os.stat(path).st_mode  # through symbolic links (and /proc's magic ones)
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "is a directory", str(path))
        with open(path, "w", encoding="utf-8") as fh:  # a device or a pipe: written, never replaced
            fh.write(text)
        return
    target = Path(os.path.realpath(path))  # a link's target is replaced, the link stays
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, text, keep_mode=mode is not None)


def replace_if_unchanged(path: Path, content: bytes, expected: bytes) -> bool:
    """Replace `path` with `content` only while it holds `expected`; False (nothing written)
    when it changed. Mode and owner are kept; NotWritten for a file whose write permission is
    off, that has other hard links (a rename would split them), or whose owner cannot be kept.

    The swap is atomic where Linux offers it (renameat2 with RENAME_EXCHANGE): the new file and
    the old one trade places, the old one is compared, and swapped back if an editor saved in
    between. Elsewhere the file is compared just before the rename. Either way a write into
    the old file after the comparison (an editor holding it open) is detected and that version
    is put back."""
    path = Path(path)
    st = os.stat(path)
    if not st.st_mode & stat.S_IWUSR:
        raise NotWritten("read-only (its write permission is off)")
    if st.st_nlink > 1:
        raise NotWritten(f"it has {st.st_nlink} hard links, which replacing it would break")
    tmp = _sibling(path)
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
        os.chmod(tmp, stat.S_IMODE(st.st_mode))
        made = os.stat(tmp)  # owned by us, its group the folder's or ours
        if hasattr(os, "chown") and (made.st_uid, made.st_gid) != (st.st_uid, st.st_gid):
            try:
                os.chown(tmp, st.st_uid, st.st_gid)
            except OSError:
                raise NotWritten("owned by another user, whose ownership a rewrite would take") from None
        with open(path, "rb") as old:
            if _exchange(tmp, path):
                if old.read() != expected or os.fstat(old.fileno()).st_ino != os.stat(tmp).st_ino:
                    _exchange(tmp, path)  # theirs goes back
                    return False
            else:
                if old.read() != expected:
                    return False
                os.replace(tmp, path)
            # A save into the old file between the comparison and the swap: restore it.
            old.seek(0)
            latest = old.read()
            if latest != expected:
                atomic_write(path, latest, keep_mode=True)
                return False
        return True
    finally:
        _unlink(tmp)


def _sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2 = None
if sys.platform.startswith("linux"):
    try:
        _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    except (OSError, AttributeError):
        _renameat2 = None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (False where the platform or file system cannot)."""
    if _renameat2 is None:
        return False
    rc = _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0
