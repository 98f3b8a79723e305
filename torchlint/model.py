"""The shared types: findings, per-file and per-run results, severities, infrastructure codes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum

# Codes torchlint itself emits. TL000 and TL001 are never dropped by rule selection: a file
# that cannot be read or a rule that crashed must be seen whatever `--select` says.
SYNTAX_ERROR, INTERNAL_ERROR, UNUSED_SUPPRESSION = "TL000", "TL001", "TL002"
ALWAYS_REPORTED = frozenset({SYNTAX_ERROR, INTERNAL_ERROR})

# Code roles (RULES.md, "Where rules apply"): what a file or function is for, decided from
# evidence by torchlint.analysis.roles. Each rule names the roles it applies to.
ROLES = {
    "serving": "answers requests: route handlers, async servers, model workers",
    "inference": "runs a model for its output: pipelines, model wrappers, demos, CLIs",
    "library": "reusable model code with no stronger evidence (the default)",
    "training": "trains: backward passes, optimizer steps, trainers",
    "distributed": "launches or joins NCCL process groups (GPU-only by construction)",
    "evaluation": "evaluation harnesses that loop over a dataset and score it",
    "benchmark": "benchmarks and profiling",
    "tests": "tests (pytest, unittest) and their fixtures",
    "selftest": "an `if __name__ == \"__main__\":` block of a library module",
    "tooling": "offline tools: weight conversion, export, quantization",
    "vendored": "third-party code copied into the project",
    "foreign": "code of another deep-learning framework (OneFlow, Paddle, MindSpore, MXNet...), not PyTorch",
}


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
        """From `to_json`'s shape; ValueError for anything else (a damaged cache entry)."""
        _expect(isinstance(data, dict) and data.get("safety") in (SAFE, UNSAFE) and isinstance(data.get("title"), str)
                and isinstance(data.get("edits"), list), "fix")
        edits = []
        for e in data["edits"]:
            _expect(isinstance(e, dict) and set(e) == {"line", "column", "end_line", "end_column", "content"}
                    and all(_is_position(e[k]) for k in ("line", "column", "end_line", "end_column"))
                    and isinstance(e["content"], str), "edit")
            edits.append(Edit(**e))
        return cls(data["safety"], data["title"], tuple(edits))


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
    role: str = ""  # the code role of the function or file the finding is in (serving, training, ...)

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
        """From `to_json`'s shape; ValueError for anything else (a damaged cache entry)."""
        _expect(isinstance(data, dict) and set(data) <= _FINDING_FIELDS and _REQUIRED <= set(data), "finding")
        _expect(all(_is_position(data[k]) for k in ("line", "column", "end_line", "end_column"))
                and all(isinstance(data[k], str) for k in ("path", "rule", "name", "message"))
                and data["severity"] in {s.label for s in Severity}
                and isinstance(data.get("role", ""), str)
                and (data.get("cell") is None or _is_position(data["cell"])), "finding")
        fix = data.get("fix")
        return cls(**{**data, "fix": FixInfo.from_json(fix) if fix else None})


_FINDING_FIELDS = frozenset({"path", "line", "column", "end_line", "end_column", "rule", "name", "severity",
                             "message", "fix", "cell", "role"})
_REQUIRED = _FINDING_FIELDS - {"fix", "cell", "role"}


def _is_position(value: object) -> bool:
    return type(value) is int and value >= 0


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"not a {what} as torchlint writes it")


@dataclass
class FileResult:
    """What a run has to say about one file."""

    path: str
    findings: list[Finding]
    lines: list[str] = field(default_factory=list)  # source lines, for text output
    fixed: list[Finding] = field(default_factory=list)  # findings whose fix was applied
    diff: str = ""  # unified diff of the fixes (--diff)
    notes: list[str] = field(default_factory=list)  # one-line messages for stderr
    cell_starts: list[int] | None = None  # notebooks: where each cell starts in `lines`


@dataclass
class FixMode:
    """How `check` applies fixes: `unsafe` ones too, `write` them, and/or show a `diff`."""

    unsafe: bool = False
    write: bool = True
    diff: bool = False


@dataclass
class RunResult:
    files: list[FileResult]
    checked: int  # files discovered
    parsed: int  # files that reached the parser
    skipped: list[tuple[str, int]] = field(default_factory=list)  # (path, size) over max-file-size

    @property
    def findings(self) -> list[Finding]:
        return sorted(f for r in self.files for f in r.findings)

    @property
    def fixed(self) -> list[Finding]:
        return sorted(f for r in self.files for f in r.fixed)

    def source_line(self, path: str, line: int, cell: int | None = None) -> str:
        for r in self.files:
            if r.path != path:
                continue
            if cell is not None and r.cell_starts is not None and 1 <= cell <= len(r.cell_starts):
                line = r.cell_starts[cell - 1] + line
            if 1 <= line <= len(r.lines):
                return r.lines[line - 1]
        return ""


@dataclass(frozen=True)
class Manifests:
    """What the files beside the code say about each Python file (by path as spelled): why a
    manifest runs it on CUDA only, the packages the manifests above it install, why it lies in
    another project copied in, and the CUDA extension its package builds (the names it is
    imported by, and why) when it does. `cuda_modules`: the extension modules a setup.py builds
    for CUDA only (no CppExtension beside them), by dotted name (`nunchaku._C`), each with the
    absolute POSIX path it would lie at without its suffix (relative imports resolve to it)."""

    deployments: dict[str, str] = field(default_factory=dict)
    declared: dict[str, dict[str, str]] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    cuda_modules: dict[str, str] = field(default_factory=dict)
