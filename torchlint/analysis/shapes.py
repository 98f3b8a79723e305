"""Documented tensor shapes: parse `(num_layers, 2, B, H, T, D)` from comments and docstrings,
and name dimensions fuzzily (B ~ batch ~ batch_size).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import libcst as cst

from torchlint.analysis.names import last_name

_TOKEN = r"[A-Za-z_][A-Za-z0-9_.]*|\d+"
SHAPE_RE = re.compile(rf"[(\[]\s*((?:{_TOKEN})(?:\s*,\s*(?:{_TOKEN})){{2,}})\s*,?\s*[)\]]")
# "dim 3 (num_heads)", "3 (num_heads)" and "num_heads (dim 3)".
INDEX_NAME_RE = re.compile(r"\b(\d+)\s*\(\s*([A-Za-z_]\w*)\s*\)")
NAME_INDEX_RE = re.compile(r"\b([A-Za-z_]\w*)\s*\(\s*(?:dim|index|axis)?\s*(\d+)\s*\)")
# "ix 0: num_layers, 1: k/v, 2: batch_size"
INDEX_COLON_RE = re.compile(r"\b(\d+)\s*:\s*([A-Za-z_]\w*)")
WORD_RE = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Shape:
    dims: tuple[str, ...]  # normalised: a canonical dim name, a literal int, or "?" for unknown
    text: str  # as written
    node: cst.CSTNode  # the comment or docstring

    @property
    def known(self) -> int:
        return sum(1 for d in self.dims if not d.isdigit() and d != "?")


class DimNames:
    """Canonical dimension names from configurable synonym groups."""

    def __init__(self, groups: Mapping[str, Iterable[str]]):
        self.canon: dict[str, str] = {}
        for canon, names in groups.items():
            self.canon[canon.lower()] = canon
            for name in names:
                self.canon[str(name).lower()] = canon

    def normalise(self, token: str) -> str:
        token = token.strip()
        if token.isdigit():
            return token
        return self.canon.get(token.rsplit(".", 1)[-1].lower(), "?")

    def of_expr(self, expr: cst.BaseExpression) -> str:
        if isinstance(expr, cst.Integer):
            value = integer_value(expr)
            return str(value) if value is not None else "?"
        name = last_name(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
        return self.normalise(name) if name else "?"

    def shapes_in(self, text: str, node: cst.CSTNode) -> Iterator[Shape]:
        for match in SHAPE_RE.finditer(text):
            tokens = [t.strip() for t in match.group(1).split(",")]
            shape = Shape(tuple(self.normalise(t) for t in tokens), match.group(0), node)
            if shape.known >= 3:
                yield shape

    def names_in(self, text: str) -> list[str]:
        """Canonical dims a comment mentions, in order (single letters only when upper-case)."""
        out = []
        for word in WORD_RE.findall(text):
            if len(word) == 1 and not word.isupper():
                continue
            canon = self.normalise(word)
            if canon != "?":
                out.append(canon)
        return out

    def indexed_names(self, text: str) -> list[tuple[int, str]]:
        """Explicit (index, canonical dim) pairs: `dim 3 (num_heads)` or `num_heads (3)`."""
        pairs = [(int(i), self.normalise(n)) for i, n in INDEX_NAME_RE.findall(text)]
        pairs += [(int(i), self.normalise(n)) for n, i in NAME_INDEX_RE.findall(text)]
        pairs += [(int(i), self.normalise(n)) for i, n in INDEX_COLON_RE.findall(text)]
        return [(i, n) for i, n in pairs if n != "?"]


def integer_value(node: cst.Integer) -> int | None:
    """The value of any integer literal (`2`, `0b10`, `0x10`, `1_000`)."""
    try:
        return int(node.evaluated_value)
    except (ValueError, SyntaxError):
        return None


def comments_of(stmt: cst.CSTNode) -> list[cst.Comment]:
    """Comments on the lines before a statement and at the end of its (header) line."""
    out = [line.comment for line in getattr(stmt, "leading_lines", ()) if line.comment is not None]
    body = getattr(stmt, "body", None)
    header = getattr(body, "header", None)
    if header is not None and header.comment is not None:
        out.append(header.comment)
    first = body.body[0] if isinstance(body, cst.IndentedBlock) and body.body else None
    if first is not None:
        out += [line.comment for line in first.leading_lines if line.comment is not None]
    trailing = getattr(stmt, "trailing_whitespace", None)
    if trailing is not None and trailing.comment is not None:
        out.append(trailing.comment)
    return out
