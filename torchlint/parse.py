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

import gc
from contextlib import contextmanager
from typing import Iterator

import libcst as cst
from libcst._nodes.base import CSTNode  # the class whose __post_init__ validates

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
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the block (reference counting still frees)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
