"""Jupyter notebooks: the code cells joined into one module, with a map back to cell and line.

Cells are joined in order (names imported in one cell resolve in the next, as when the
notebook runs top to bottom). IPython syntax that is not Python is blanked line for line so
that every line keeps its number: a cell magic (`%%bash`) blanks its cell, a line magic or
shell escape (`%pip install`, `!nvidia-smi`, `x = !ls`, `obj?`) becomes `pass`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

SUFFIX = ".ipynb"
_ASSIGNED_MAGIC = re.compile(r"[A-Za-z_][\w.]*\s*=\s*[%!]")  # `files = !ls`, `t = %timeit -o f()`


class NotebookError(ValueError):
    """Not a notebook torchlint can read (bad JSON, no cells list)."""


@dataclass
class Source:
    text: str
    starts: list[int]  # 0-based line in `text` where each notebook cell starts (-1: not code)

    def locate(self, line: int) -> tuple[int, int]:
        """(1-based cell number among all cells, 1-based line in that cell) of a line of `text`."""
        best = None
        for i, start in enumerate(self.starts):
            if 0 <= start < line:
                best = (i + 1, line - start)
        return best or (1, line)

    def line_of(self, cell: int, line: int) -> int:
        return self.starts[cell - 1] + line


def is_notebook(path: str) -> bool:
    return path.endswith(SUFFIX)


def to_source(data: bytes) -> Source:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
        cells = doc["cells"]
        if not isinstance(cells, list):
            raise TypeError("cells is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise NotebookError(f"not a readable notebook: {exc}") from None
    language = (doc.get("metadata", {}).get("kernelspec", {}) or {}).get("language", "python")
    lines: list[str] = []
    starts: list[int] = []
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or language != "python":
            starts.append(-1)
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        cell_lines = text.splitlines()
        starts.append(len(lines))
        if cell_lines and cell_lines[0].lstrip().startswith("%%"):
            lines += [""] * len(cell_lines)
            continue
        lines += [_blank_magic(line) for line in cell_lines]
    return Source("".join(line + "\n" for line in lines), starts)


def _blank_magic(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("%", "!")) or _ASSIGNED_MAGIC.match(stripped) or (
        stripped.endswith("?") and not stripped.startswith("#")
    ):
        return line[: len(line) - len(stripped)] + "pass"
    return line
