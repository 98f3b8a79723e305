"""The command line's grammar: commands, their options in groups, examples and exit codes."""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from pathlib import Path

from torchlint import __version__
from torchlint.model import Severity

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2

_EXIT_CODES = """exit codes:
  0  no findings at or above --fail-on (default: any finding), or --exit-zero
  1  findings at or above --fail-on{extra}
  2  usage, configuration or rule-file error (one line on stderr)"""

_CHECK_EXAMPLES = """examples:
  torchlint check                                  lint the current directory
  torchlint check src/ --select TL3 --ignore TL302 one category, minus a rule
  torchlint check --fix --unsafe-fixes             apply fixes, then report the rest
  torchlint check --diff-base origin/main          only findings on lines changed since a ref
  torchlint check --output-format sarif -o out.sarif
  cat app.py | torchlint check - --stdin-filename app.py
  torchlint check --per-file-ignores 'tests/*:TL301'"""


def csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def per_file_ignore(value: str) -> tuple[str, list[str]]:
    """`GLOB:RULE[,RULE...]`, as ruff spells a per-file ignore on the command line."""
    glob, sep, rules = value.rpartition(":")
    if not sep or not glob or not csv(rules):
        raise argparse.ArgumentTypeError(f"expected GLOB:RULES (e.g. 'tests/*:TL301'), got {value!r}")
    return glob, csv(rules)


class Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # No abbreviations: `--output json` must not silently mean `--output-file json`.
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # usage errors exit 2, like ruff
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"torchlint: error: {message}{self._suggestion(message)}\n")

    def _suggestion(self, message: str) -> str:
        """`did you mean --output-format?` for an unknown option, from this parser's options."""
        m = re.search(r"unrecognized arguments: (\S+)", message)
        if m is None or not m.group(1).startswith("-"):
            return ""
        flag = m.group(1).split("=", 1)[0]
        known = [o for action in self._actions for o in action.option_strings if o.startswith("--")]
        for sub in self._subparsers._group_actions if self._subparsers else ():
            for choice in getattr(sub, "choices", {}).values():
                known += [o for a in choice._actions for o in a.option_strings if o.startswith("--")]
        close = difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
        return f" (did you mean {close[0]}?)" if close else ""


def _check(sub) -> None:
    check = sub.add_parser(
        "check", help="lint files and directories",
        description="Lint Python files, notebooks and directories for PyTorch inference hazards.",
        epilog=f"{_CHECK_EXAMPLES}\n\n" + _EXIT_CODES.format(
            extra="; with --diff-base, only findings on changed lines count"),
    )
    check.add_argument("paths", nargs="*", default=["."], help="files or directories (default: .); `-` reads stdin")
    rules = check.add_argument_group("rule selection")
    # Repeated options accumulate (`--select TL1 --select TL3`), as in ruff.
    rules.add_argument("--select", type=csv, action="extend",
                       help="comma-separated rule IDs, names, prefixes or categories (replaces config; repeatable)")
    rules.add_argument("--ignore", type=csv, action="extend", default=[], help="rules to skip (repeatable)")
    rules.add_argument("--extend-select", type=csv, action="extend", default=[],
                       help="rules to add to the selection (repeatable)")
    rules.add_argument("--per-file-ignores", type=per_file_ignore, action="append", metavar="GLOB:RULES",
                       help="rules to skip in matching files, replacing the config's table (repeatable)")
    rules.add_argument("--extend-per-file-ignores", type=per_file_ignore, action="append", default=[],
                       metavar="GLOB:RULES", help="per-file ignores added to the config's (repeatable)")
    rules.add_argument("--fail-on", choices=[s.label for s in Severity], help="lowest severity that makes the exit code 1")
    files = check.add_argument_group("file selection")
    files.add_argument("--exclude", type=csv, action="extend", metavar="GLOBS",
                       help="exclusion globs, replacing the config's `exclude` (repeatable; default exclusions stay)")
    files.add_argument("--extend-exclude", type=csv, action="extend", default=[], metavar="GLOBS",
                       help="exclusion globs added to the config's (repeatable)")
    files.add_argument("--stdin-filename", metavar="PATH",
                       help="with `-`: the path the source on stdin stands for (roles, config, per-file ignores)")
    files.add_argument("--diff-base", metavar="REF",
                       help="review mode: report only findings on lines added or changed since git ref REF")
    files.add_argument("--max-file-size", type=int, metavar="BYTES",
                       help="skip (and name on stderr) files bigger than this; 0: no limit (default 1000000)")
    out = check.add_argument_group("output")
    out.add_argument(
        "--output-format", "--format", dest="format", choices=("text", "json", "json-lines", "sarif", "github", "junit"),
        default="text", help="output format (`--format` is the same option)",
    )
    out.add_argument("--output-file", "-o", help="write the report to this file instead of stdout "
                     "(`-` is stdout; symbolic links, devices and pipes are written through)")
    out.add_argument("--statistics", action="store_true", help="print the number of findings per rule instead")
    out.add_argument("--quiet", "-q", action="store_true", help="print the findings only: no summary, no notes")
    out.add_argument("--show-files", action="store_true", help="list the files that would be linted, then stop")
    out.add_argument("--show-settings", action="store_true", help="print the resolved settings, then stop")
    fixes = check.add_argument_group("fixes")
    fixes.add_argument("--fix", action="store_true", help="apply safe fixes, then report what remains")
    fixes.add_argument("--unsafe-fixes", action="store_true", help="also offer and apply unsafe fixes")
    fixes.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    fixes.add_argument("--show-fixes", action="store_true", help="list the findings that --fix fixed")
    fixes.add_argument(
        "--add-noqa", action="store_true",
        help="suppress every current finding with `# torchlint: ignore[ID]` on its line (adopting torchlint)",
    )
    run = check.add_argument_group("run")
    run.add_argument("--jobs", "-j", type=int, default=0, help="processes to use (default: one per CPU core)")
    run.add_argument("--no-cache", action="store_true", help="ignore and do not write the cache")
    run.add_argument("--cache-dir", type=Path, metavar="DIR",
                     help="where the cache lives (default: .torchlint_cache/ at the project root; "
                     "env TORCHLINT_CACHE_DIR)")
    run.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    run.add_argument("--config", type=Path, help="pyproject.toml to read (default: nearest with [tool.torchlint])")
    run.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def _simple(sub, name: str, help_text: str, examples: str, exit_codes: str = _EXIT_CODES.format(extra="")):
    return sub.add_parser(name, help=help_text, description=help_text[:1].upper() + help_text[1:] + ".",
                          epilog=f"examples:\n{examples}\n\n{exit_codes}")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="torchlint", description="Static-analysis reviewer for PyTorch inference code.",
                    epilog="examples:\n  torchlint check .\n  torchlint explain TL301\n  torchlint rules\n\n"
                    "`torchlint COMMAND --help` shows each command's options, examples and exit codes.")
    parser.add_argument("--version", action="version", version=f"torchlint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _check(sub)
    info = "exit codes:\n  0  shown\n  2  unknown rule or bad configuration"
    explain = _simple(sub, "explain", "show a rule's explanation, examples and fix",
                      "  torchlint explain TL301\n  torchlint explain missing-no-grad --format markdown", info)
    explain.add_argument("rule", help="rule ID or name, e.g. TL301 or missing-no-grad")
    explain.add_argument("--format", choices=("rich", "markdown"), default="rich")
    explain.add_argument("--config", type=Path, help="pyproject.toml whose rule-dirs to load (default: nearest)")

    rules = _simple(sub, "rules", "list the rules", "  torchlint rules\n  torchlint rules --format json", info)
    rules.add_argument("--format", choices=("table", "json"), default="table")
    rules.add_argument("--config", type=Path, help="pyproject.toml whose rule-dirs to load (default: nearest)")

    test_rules = _simple(
        sub, "test-rules", "run rule directories' examples and fixtures against their annotations",
        "  torchlint test-rules my_rules/",
        "exit codes:\n  0  every example and fixture matches\n  1  a mismatch\n  2  no such directory")
    test_rules.add_argument("dirs", nargs="*", type=Path, help="rule directories (default: the config's rule-dirs)")
    test_rules.add_argument("--config", type=Path, help="pyproject.toml to read (default: nearest with [tool.torchlint])")

    roles = _simple(sub, "roles", "show the code role of each file and why (rules apply per role)",
                    "  torchlint roles src/\n  torchlint roles --format json", info)
    roles.add_argument("paths", nargs="*", default=["."], help="files or directories (default: .)")
    roles.add_argument("--format", choices=("text", "json"), default="text")
    roles.add_argument("--config", type=Path, help="pyproject.toml to read (default: nearest with [tool.torchlint])")

    validate = _simple(
        sub, "validate", "run the reference engine and check its runtime invariants",
        "  torchlint validate --device cpu\n  torchlint validate --mutations --device cpu",
        "exit codes:\n  0  every check passed or was skipped with its reason (--mutations: every rule shown or\n"
        "     excused with its reason)\n  1  a check failed (--mutations: a rule's mutation failed the wrong checks)\n"
        "  2  the engine cannot run here (torch missing)")
    validate.add_argument("--device", choices=("cpu", "cuda", "mps"), help="default: the best available")
    validate.add_argument("--format", choices=("table", "json"), default="table")
    validate.add_argument("--mutations", action="store_true",
                          help="run every rule's mutation of the engine against every check and print the matrix")
    return parser
