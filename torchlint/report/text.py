"""Human output in the style of ruff: location, code, message, the line and a caret."""

from __future__ import annotations

from collections import Counter

from torchlint.model import RunResult


# ANSI styles for a terminal: bold path, rule in its severity's colour, carets red.
_SEVERITY_STYLE = {"critical": "1;31", "high": "31", "medium": "33", "low": "36"}


def _style(text: str, code: str, on: bool) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if on else text


def headline(f, unsafe_fixes: bool = False, color: bool = False) -> str:
    """`path:line:col: RULE [*] [severity] message`, the first line of a finding."""
    mark = " [*]" if f.fixable(unsafe_fixes) else ""
    where = f"{f.path}:cell {f.cell}" if f.cell is not None else f.path
    style = _SEVERITY_STYLE.get(f.severity, "0")
    return (f"{_style(f'{where}:{f.line}:{f.column}:', '1', color)} {_style(f.rule, '1;' + style, color)}"
            f"{mark} {_style(f'[{f.severity}]', style, color)} {f.message}")


def render(result: RunResult, unsafe_fixes: bool = False, show_fixes: bool = False, quiet: bool = False,
           color: bool = False) -> str:
    """Findings with their source line; `[*]` marks a finding `--fix` can fix. `quiet`: the
    findings only (no summary); `color`: ANSI colours for a terminal."""
    findings = result.findings
    out: list[str] = []
    for f in findings:
        out.append(headline(f, unsafe_fixes, color))
        source = result.source_line(f.path, f.line, f.cell).expandtabs(1)
        if source.strip():
            gutter = str(f.line)
            pad = " " * len(gutter)
            width = (f.end_column - f.column) if f.end_line == f.line else len(source) - f.column + 1
            out.append(_style(f"{pad} |", "34", color))
            out.append(f"{_style(f'{gutter} |', '34', color)} {source.rstrip()}")
            out.append(f"{_style(f'{pad} |', '34', color)} {' ' * (f.column - 1)}"
                       f"{_style('^' * max(1, width), '31', color)}")
        out.append("")
    if quiet:
        return "\n".join(out[:-1]) + "\n" if out else ""
    if show_fixes and result.fixed:
        out += fixed_list(result) + [""]
    out.append(summary(result, unsafe_fixes))
    return "\n".join(out) + "\n"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def fixed_list(result: RunResult) -> list[str]:
    """`--show-fixes`: what was fixed, per file and rule."""
    lines = [f"Fixed {_plural(len(result.fixed), 'finding')}:"]
    by_file: dict[str, Counter] = {}
    for f in result.fixed:
        by_file.setdefault(f.path, Counter())[(f.rule, f.name)] += 1
    for path, counts in sorted(by_file.items()):
        lines.append(f"{path}:")
        lines += [f"    {n} × {rule} ({name})" for (rule, name), n in sorted(counts.items())]
    return lines


def summary(result: RunResult, unsafe_fixes: bool = False) -> str:
    findings = result.findings
    files = f"{_plural(result.checked, 'file')} checked"
    if result.skipped:
        files += f", {len(result.skipped)} skipped as too big"
    fixed = f"Fixed {_plural(len(result.fixed), 'finding')}; " if result.fixed else ""
    if not findings:
        return f"{fixed}All checks passed ({files})." if not fixed else f"{fixed}no findings remain ({files})."
    counts = Counter(f.rule for f in findings)
    per_rule = ", ".join(f"{rule}: {n}" for rule, n in sorted(counts.items()))
    text = f"{fixed}Found {_plural(len(findings), 'finding')} ({per_rule}); {files}."
    fixable = sum(f.fixable(unsafe_fixes) for f in findings)
    hidden = sum(f.fix is not None for f in findings) - fixable
    if fixable:
        flag = "`--fix --unsafe-fixes`" if unsafe_fixes else "`--fix`"
        text += f"\n[*] {fixable} fixable with {flag}."
    if hidden:
        text += f"\n{hidden} more {'fix is' if hidden == 1 else 'fixes are'} available with `--unsafe-fixes`."
    return text


def statistics(result: RunResult, unsafe_fixes: bool = False) -> str:
    """`--statistics`: findings per rule, most frequent first (`[*]` where `--fix`, with
    `--unsafe-fixes` when given, would fix some), then the summary line."""
    rows = statistics_rows(result, unsafe_fixes)
    width = max((len(str(r["count"])) for r in rows), default=1)
    lines = [f"{r['count']:>{width}}  {r['code']}  {'[*]' if r['fixable'] else '   '}  [{r['severity']}]  {r['name']}"
             for r in rows]
    return "".join(line + "\n" for line in lines) + summary(result, unsafe_fixes) + "\n"


def statistics_rows(result: RunResult, unsafe_fixes: bool = False) -> list[dict]:
    """One row per rule: code, name, severity, count, fixable (how many `--fix` would fix)."""
    counts = Counter((f.rule, f.name, f.severity) for f in result.findings)
    fixable = Counter(f.rule for f in result.findings if f.fixable(unsafe_fixes))
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0][0]))
    return [{"code": rule, "name": name, "severity": severity, "count": n, "fixable": fixable[rule]}
            for (rule, name, severity), n in rows]
