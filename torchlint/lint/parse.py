"""libcst's parse, made cheaper for source that CPython has already accepted.

libcst builds each node through its dataclass constructor, which validates the node (that a
comma's whitespace is whitespace, that a call's keywords follow its positionals...). For
source CPython has compiled, the parser's own output passes those checks by construction;
libcst notes the same in `CSTNode.__post_init__` ("avoid validating the tree when parsing a
file"). Skipping them saves about a fifth of the parse. `gc_paused` saves about a tenth more:
a parse allocates millions of acyclic objects, and each pass of the cyclic collector scans
them all again; cycles made while a file is linted are collected after it. The trees are equal (`deep_equals`) to validated ones;
tests/test_parse.py checks that on the fixtures, the reference engine and torchlint itself.
"""

from __future__ import annotations

import ast
import gc
import sys
import threading
import warnings
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

import libcst as cst
from libcst._nodes.base import CSTNode  # the class whose __post_init__ validates

from torchlint.source import one_line

T = TypeVar("T")

_VALIDATE = CSTNode.__dict__.get("__post_init__")


def _no_validation(self: CSTNode) -> None:
    return None


def parse_module(data: bytes, compiled: bool) -> cst.Module:
    """`cst.parse_module(data)`. With `compiled` (CPython accepted `data`), node validation
    is skipped; otherwise libcst validates as usual, since it may then have to refuse."""
    if not compiled or _VALIDATE is None:
        return cst.parse_module(data)
    CSTNode.__post_init__ = _no_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(data)
    finally:
        CSTNode.__post_init__ = _VALIDATE  # type: ignore[method-assign]


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Everything alive now moved out of the cyclic collector's sight for the block (forked
    workers inherit it: they would otherwise scan the parent's whole heap on each collection)."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (reference counting still frees)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# CPython's limits (nesting, NUL bytes): past them libcst's native parser may crash the process.
_FATAL_SYNTAX = ("too many nested", "too many levels of indentation", "too complex", "null bytes")


def cpython_parse(data: bytes) -> tuple[ast.Module | None, tuple[int, int, str] | None, bool]:
    """CPython's AST or the TL000 (line, column, message) it gives, and whether that verdict is
    final (the file must not reach libcst). CPython goes first: it is ~10x faster than libcst,
    gives the clearer message, and refuses nesting libcst's native parser would overflow its
    stack on."""
    try:
        with warnings.catch_warnings():  # `1if x else 2`: CPython's SyntaxWarning is not ours to print
            warnings.simplefilter("ignore")
            return compile(data, "<file>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True), None, False
    except SyntaxError as exc:
        fatal = any(words in exc.msg for words in _FATAL_SYNTAX)
        return None, (exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}"), fatal
    except (RecursionError, MemoryError):
        return None, (1, 1, "cannot parse: nested too deeply for Python's own parser"), True
    except ValueError as exc:  # NUL bytes
        return None, (1, 1, f"syntax error: {str(exc) or 'source cannot be compiled'}"), True
    except Exception as exc:
        return None, (1, 1, f"cannot parse: {one_line(exc)}"), False


def libcst_refusal(data: bytes, exc: cst.ParserSyntaxError) -> tuple[int, int, str]:
    """TL000 (line, column, message) for valid Python (CPython compiled it) that libcst's parser
    refuses: say so, and point at the cause where it is known (indentation that mixes tabs
    and spaces, which CPython resolves by tab stops and libcst does not)."""
    line = _mixed_indentation(data)
    if line is not None:
        return line, 1, ("valid Python that torchlint's parser (libcst) cannot read: indentation mixes tabs "
                         "and spaces from here; the file is not linted (indent with spaces only)")
    return (exc.raw_line, exc.raw_column + 1,
            f"valid Python that torchlint's parser (libcst) cannot read ({exc.message}); the file is not linted")


def _mixed_indentation(data: bytes) -> int | None:
    """The first line whose indentation holds a tab in a file that also indents with spaces
    (or mixes both on the line), None when indentation is consistent."""
    tabbed: int | None = None
    spaced = False
    for number, raw in enumerate(data.splitlines(), 1):
        stripped = raw.lstrip(b" \t")
        if not stripped or stripped.startswith(b"#"):
            continue
        indent = raw[: len(raw) - len(stripped)]
        if b"\t" in indent and tabbed is None:
            tabbed = number
            if b" " in indent:
                return number
        elif indent.startswith(b" "):
            spaced = True
        if tabbed is not None and spaced:
            return tabbed
    return None


_DEEP = "torchlint-deep"


def on_deep_stack() -> bool:
    """Is this the thread `deep_stack` started?"""
    return threading.current_thread().name == _DEEP


def deep_stack(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a thread with a 512 MB stack and a recursion limit to match: valid code can
    nest deeper than Python's default limit allows a tree walk (a 700 kB run of implicitly
    concatenated strings)."""
    box: dict[str, Any] = {}

    def target() -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(200_000)
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            sys.setrecursionlimit(limit)

    previous = threading.stack_size(512 * 1024 * 1024)
    try:
        thread = threading.Thread(target=target, name=_DEEP)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
