"""Facts about source bytes every layer needs: their encoding, and one-line error text."""

from __future__ import annotations

import io
import tokenize


def source_encoding(data: bytes) -> str:
    """The source encoding of `data` (PEP 263 cookie or BOM), UTF-8 when unsure."""
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except (SyntaxError, LookupError):
        return "utf-8"


def one_line(exc: BaseException) -> str:
    """`Type: first line of the message`, for findings and stderr notes."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
