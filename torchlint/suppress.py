"""Inline suppressions: `# torchlint: ignore[TL301,missing-no-grad]`, `# torchlint: ignore`,
`# noqa: TL301`, bare `# noqa`, on the reported line."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TORCHLINT = re.compile(r"#\s*torchlint\s*:\s*ignore\b(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
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


def is_suppressed(lines: list[str], line: int, rule_id: str, rule_name: str) -> bool:
    if not 1 <= line <= len(lines):
        return False
    directive = parse_line(lines[line - 1])
    return directive is not None and directive.covers(rule_id, rule_name)


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
