"""Human output in the style of ruff: location, code, message, the line and a caret."""

from __future__ import annotations

from collections import Counter

from torchlint.runner import RunResult


def render(result: RunResult) -> str:
    findings = result.findings
    out: list[str] = []
    for f in findings:
        out.append(f"{f.path}:{f.line}:{f.column}: {f.rule} [{f.severity}] {f.message}")
        source = result.source_line(f.path, f.line).expandtabs(1)
        if source.strip():
            gutter = str(f.line)
            pad = " " * len(gutter)
            width = (f.end_column - f.column) if f.end_line == f.line else len(source) - f.column + 1
            out.append(f"{pad} |")
            out.append(f"{gutter} | {source.rstrip()}")
            out.append(f"{pad} | {' ' * (f.column - 1)}{'^' * max(1, width)}")
        out.append("")
    out.append(summary(result))
    return "\n".join(out) + "\n"


def summary(result: RunResult) -> str:
    findings = result.findings
    files = f"{result.checked} file{'s' if result.checked != 1 else ''} checked"
    if not findings:
        return f"All checks passed ({files})."
    counts = Counter(f.rule for f in findings)
    per_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(counts.items()))
    noun = "finding" if len(findings) == 1 else "findings"
    return f"Found {len(findings)} {noun} ({per_rule}); {files}."


def statistics(result: RunResult) -> str:
    """`--statistics`: findings per rule, most frequent first, then the summary line."""
    counts = Counter((f.rule, f.name, f.severity) for f in result.findings)
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    width = max((len(str(n)) for n in counts.values()), default=1)
    lines = [f"{n:>{width}}  {rule}  [{severity}]  {name}" for (rule, name, severity), n in rows]
    return "".join(line + "\n" for line in lines) + summary(result) + "\n"
