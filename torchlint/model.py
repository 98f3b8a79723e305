"""Core value types shared by the runner, the checks and the reporters."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import IntEnum


class Severity(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {text!r}; expected one of: "
                + ", ".join(s.label for s in cls)
            ) from None

    @property
    def label(self) -> str:
        return self.name.lower()


SAFE, UNSAFE = "safe", "unsafe"  # fix safety: `--fix` applies safe ones, `--unsafe-fixes` both


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the text from (line, column) up to (end_line, end_column) with `content`."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str


@dataclass(frozen=True, order=True)
class FixInfo:
    """A finding's autofix as reported: its safety (`safe`/`unsafe`), a title, the edits."""

    safety: str
    title: str
    edits: tuple[Edit, ...]

    @classmethod
    def from_json(cls, data: dict) -> "FixInfo":
        return cls(data["safety"], data["title"], tuple(Edit(**e) for e in data["edits"]))


@dataclass(frozen=True, order=True)
class Finding:
    """One reported problem. Lines and columns are 1-based; end_column is exclusive."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    rule: str
    name: str
    severity: str
    message: str
    fix: FixInfo | None = None
    cell: int | None = None  # notebooks: 1-based cell; `line`/`end_line` are then within it

    def fixable(self, unsafe: bool = False) -> bool:
        """Would `--fix` (with `--unsafe-fixes` when `unsafe`) apply this finding's fix?"""
        return self.fix is not None and (unsafe or self.fix.safety == SAFE)

    def to_json(self) -> dict:
        data = asdict(self)
        if self.cell is None:
            del data["cell"]  # the contract's keys for .py files; `cell` only for notebooks
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Finding":
        fix = data.get("fix")
        return cls(**{**data, "fix": FixInfo.from_json(fix) if fix else None})
