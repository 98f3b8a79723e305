"""Suppressions: `# torchlint: ignore[TL301,missing-no-grad]`, `# torchlint: ignore`,
`# noqa: TL301`, bare `# noqa`, on any line the reported node spans (the closing line of a
multi-line call counts); `# torchlint: ignore-file` / `# torchlint: ignore-file[TL301]` on a line
of its own, anywhere in the file, for the whole file."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TORCHLINT = re.compile(r"#\s*torchlint\s*:\s*ignore\b(?!-)(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_FILE = re.compile(r"^\s*#\s*torchlint\s*:\s*ignore-file\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_NOQA = re.compile(r"#\s*noqa\b(?::\s*(?P<codes>[A-Za-z][\w-]*(?:\s*,\s*[A-Za-z][\w-]*)*))?", re.IGNORECASE)


@dataclass(frozen=True)
class Directive:
    """Codes suppressed on one line; `codes is None` suppresses everything."""

    codes: frozenset[str] | None

    def covers(self, rule_id: str, rule_name: str) -> bool:
        return self.codes is None or rule_id.upper() in self.codes or rule_name.upper() in self.codes


def parse_line(text: str) -> Directive | None:
    """The suppression directive on a source line, if any."""
    if "#" not in text:
        return None
    codes: set[str] = set()
    found = False
    for pattern in (_TORCHLINT, _NOQA):
        for m in pattern.finditer(text):
            found = True
            raw = m.group("codes")
            if raw is None or not raw.strip():
                return Directive(None)
            codes.update(c.strip().upper() for c in raw.split(",") if c.strip())
    return Directive(frozenset(codes)) if found else None


def file_directives(lines: list[str]) -> list[Directive]:
    """The file-level directives: `# torchlint: ignore-file[...]` alone on a line."""
    out = []
    for text in lines:
        if "ignore-file" not in text:
            continue
        m = _FILE.match(text)
        if m is not None:
            raw = m.group("codes")
            codes = frozenset(c.strip().upper() for c in raw.split(",") if c.strip()) if raw else None
            out.append(Directive(codes or None))
    return out


def is_suppressed(lines: list[str], line: int, rule_id: str, rule_name: str, end_line: int | None = None,
                  whole_file: list[Directive] | None = None) -> bool:
    """Is the finding on `line`..`end_line` suppressed by a directive on one of those lines, or
    by a file-level one (`whole_file`, from `file_directives`)?"""
    if whole_file and any(d.covers(rule_id, rule_name) for d in whole_file):
        return True
    last = min(max(end_line or line, line), len(lines))
    for number in range(max(line, 1), last + 1):
        directive = parse_line(lines[number - 1])
        if directive is not None and directive.covers(rule_id, rule_name):
            return True
    return False


@dataclass(frozen=True)
class Part:
    """One directive inside a comment: `torchlint` or `noqa`, its codes (None when bare)."""

    tool: str
    codes: tuple[str, ...] | None


def parts(comment: str) -> list[Part]:
    """The directives in a comment, in order (`# noqa: E501, TL301` is one `noqa` part)."""
    out = []
    for tool, pattern in (("torchlint", _TORCHLINT), ("noqa", _NOQA)):
        for m in pattern.finditer(comment):
            raw = m.group("codes")
            codes = tuple(c.strip() for c in raw.split(",") if c.strip()) if raw else ()
            out.append(Part(tool, codes or None))
    return out


def without(comment: str, unused: set[str]) -> str:
    """`comment` with the codes in `unused` (upper case; "*" for a bare torchlint directive)
    removed; a directive left with no code goes, and so does a comment left empty ("")."""

    def rewrite(m: re.Match, tool: str) -> str:
        raw = m.group("codes")
        if raw is None or not raw.strip():
            return "" if tool == "torchlint" and "*" in unused else m.group(0)
        keep = [c.strip() for c in raw.split(",") if c.strip() and c.strip().upper() not in unused]
        if not keep:
            return ""
        return f"# torchlint: ignore[{', '.join(keep)}]" if tool == "torchlint" else f"# noqa: {', '.join(keep)}"

    text = _TORCHLINT.sub(lambda m: rewrite(m, "torchlint"), comment)
    text = _NOQA.sub(lambda m: rewrite(m, "noqa"), text)
    text = re.sub(r"\s+(?=#)", "  ", text).strip()
    return "" if text in ("", "#") else text


def add_directives(text: str, codes_by_line: dict[int, set[str]]) -> tuple[str, list[int]]:
    """`text` with `# torchlint: ignore[...]` for `codes_by_line` (1-based) appended to each
    line, or merged into a torchlint directive already there. Lines whose end lies inside a
    string or after a backslash cannot take a comment: they are returned as skipped."""
    import io
    import tokenize

    lines = text.splitlines(keepends=True)
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.end[0] > tok.start[0] and tok.type != tokenize.NL:
                inside.update(range(tok.start[0], tok.end[0]))
    except (tokenize.TokenError, SyntaxError):
        return text, sorted(codes_by_line)
    skipped = []
    for lineno, codes in sorted(codes_by_line.items()):
        if not 1 <= lineno <= len(lines):
            continue
        line = lines[lineno - 1]
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        if lineno in inside or body.rstrip().endswith("\\"):
            skipped.append(lineno)
            continue
        existing = _TORCHLINT.search(body)
        if existing is not None and existing.group("codes") is not None:
            have = [c.strip() for c in existing.group("codes").split(",") if c.strip()]
            merged = have + sorted(c for c in codes if c.upper() not in {h.upper() for h in have})
            body = body[:existing.start()] + f"# torchlint: ignore[{', '.join(merged)}]" + body[existing.end():]
        elif existing is None:
            body = body.rstrip() + f"  # torchlint: ignore[{', '.join(sorted(codes))}]"
        lines[lineno - 1] = body + ending
    return "".join(lines), skipped
