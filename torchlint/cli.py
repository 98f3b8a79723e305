"""Command line: thin glue between argparse, the catalog, the runner and the reporters."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from torchlint import __version__
from torchlint.catalog import CatalogError
from torchlint.checks import load_catalog
from torchlint.config import ConfigError, find_pyproject, load_config, resolve_selection
from torchlint.model import Severity
from torchlint.session.files import DiscoveryError

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        # No abbreviations: `--output json` must not silently mean `--output-file json`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # usage errors exit 2, like ruff
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"torchlint: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="torchlint", description="Static-analysis reviewer for PyTorch inference code.")
    parser.add_argument("--version", action="version", version=f"torchlint {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    check = sub.add_parser("check", help="lint files and directories")
    check.add_argument("paths", nargs="*", default=["."], help="files or directories (default: .)")
    # Repeated options accumulate (`--select TL1 --select TL3`), as in ruff.
    check.add_argument("--select", type=_csv, action="extend",
                       help="comma-separated rule IDs, names or prefixes (replaces config; repeatable)")
    check.add_argument("--ignore", type=_csv, action="extend", default=[], help="rules to skip (repeatable)")
    check.add_argument("--extend-select", type=_csv, action="extend", default=[],
                       help="rules to add to the selection (repeatable)")
    check.add_argument("--exclude", type=_csv, action="extend", metavar="GLOBS",
                       help="exclusion globs, replacing the config's `exclude` (repeatable; default exclusions stay)")
    check.add_argument("--extend-exclude", type=_csv, action="extend", default=[], metavar="GLOBS",
                       help="exclusion globs added to the config's (repeatable)")
    check.add_argument(
        "--output-format", "--format", dest="format", choices=("text", "json", "json-lines", "sarif", "github", "junit"),
        default="text", help="output format (`--format` is the same option)",
    )
    check.add_argument("--output-file", "-o", help="write the report to this file instead of stdout "
                       "(`-` is stdout; symbolic links, devices and pipes are written through)")
    check.add_argument("--statistics", action="store_true", help="print the number of findings per rule instead")
    check.add_argument("--fix", action="store_true", help="apply safe fixes, then report what remains")
    check.add_argument("--unsafe-fixes", action="store_true", help="also offer and apply unsafe fixes")
    check.add_argument("--diff", action="store_true", help="print the fixes as a unified diff; write nothing")
    check.add_argument("--show-fixes", action="store_true", help="list the findings that --fix fixed")
    check.add_argument(
        "--add-noqa", action="store_true",
        help="suppress every current finding with `# torchlint: ignore[ID]` on its line (adopting torchlint)",
    )
    check.add_argument("--jobs", "-j", type=int, default=0, help="processes to use (default: one per CPU core)")
    check.add_argument("--max-file-size", type=int, metavar="BYTES",
                       help="skip (and name on stderr) files bigger than this; 0: no limit (default 1000000)")
    check.add_argument("--no-cache", action="store_true", help="ignore and do not write .torchlint_cache/")
    check.add_argument(
        "--fail-on", choices=[s.label for s in Severity], help="lowest severity that makes the exit code 1"
    )
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--config", type=Path, help="pyproject.toml to read (default: nearest with [tool.torchlint])")
    check.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")

    explain = sub.add_parser("explain", help="show a rule's explanation, examples and fix")
    explain.add_argument("rule", help="rule ID or name, e.g. TL301 or missing-no-grad")
    explain.add_argument("--format", choices=("rich", "markdown"), default="rich")
    explain.add_argument("--config", type=Path, help="pyproject.toml whose rule-dirs to load (default: nearest)")

    rules = sub.add_parser("rules", help="list the rules")
    rules.add_argument("--format", choices=("table", "json"), default="table")
    rules.add_argument("--config", type=Path, help="pyproject.toml whose rule-dirs to load (default: nearest)")

    test_rules = sub.add_parser("test-rules", help="run rule directories' examples and fixtures against their annotations")
    test_rules.add_argument("dirs", nargs="*", type=Path, help="rule directories (default: the config's rule-dirs)")
    test_rules.add_argument("--config", type=Path, help="pyproject.toml to read (default: nearest with [tool.torchlint])")

    roles = sub.add_parser("roles", help="show the code role of each file and why (rules apply per role)")
    roles.add_argument("paths", nargs="*", default=["."], help="files or directories (default: .)")
    roles.add_argument("--format", choices=("text", "json"), default="text")
    roles.add_argument("--config", type=Path, help="pyproject.toml to read (default: nearest with [tool.torchlint])")

    validate = sub.add_parser("validate", help="run the reference engine and check its runtime invariants")
    validate.add_argument("--device", choices=("cpu", "cuda", "mps"), help="default: the best available")
    validate.add_argument("--format", choices=("table", "json"), default="table")
    return parser


def _cmd_check(args: argparse.Namespace) -> int:
    from torchlint.report import FORMATTERS
    from torchlint.lint import Linter
    from torchlint.model import FixMode
    from torchlint.session import open_cache, run

    config_path = args.config or find_pyproject(Path(args.paths[0]) if args.paths else Path.cwd())
    cfg = load_config(config_path)
    if args.max_file_size is not None:
        cfg.max_file_size = max(0, args.max_file_size)
    if args.exclude is not None:
        cfg.exclude = args.exclude
    cfg.extend_exclude += args.extend_exclude
    catalog = load_catalog(cfg.rule_dirs)
    rules = resolve_selection(catalog, cfg, args.select, args.ignore, args.extend_select)
    linter = Linter(catalog, rules, cfg, debug=args.debug)
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    cache = None if args.no_cache else open_cache(linter, cfg.root)
    fix = None
    if args.fix or args.diff:
        fix = FixMode(unsafe=args.unsafe_fixes, write=not args.diff, diff=args.diff)
    with _progress_bar() as progress:
        result = run(linter, args.paths, jobs=jobs, cache=cache, fix=fix, progress=progress)
    for note in (n for r in result.files for n in r.notes):
        print(f"torchlint: {note}", file=sys.stderr)
    for path, size in result.skipped:
        print(f"torchlint: {path}: skipped: {size / 1e6:.1f} MB is over max-file-size "
              f"({cfg.max_file_size / 1e6:.1f} MB; --max-file-size 0 lints it)", file=sys.stderr)
    if args.diff:
        return _report_diff(result)
    if args.add_noqa:
        return _add_noqa(result)
    if args.statistics:
        from torchlint.report.text import statistics, statistics_rows

        if args.format in ("json", "json-lines"):
            rows = statistics_rows(result, args.unsafe_fixes)
            report = (json.dumps(rows, indent=2) + "\n" if args.format == "json"
                      else "".join(json.dumps(r) + "\n" for r in rows))
        else:
            report = statistics(result, args.unsafe_fixes)
    elif args.format == "text":
        from torchlint.report.text import render

        report = render(result, unsafe_fixes=args.unsafe_fixes, show_fixes=args.show_fixes)
    else:
        report = FORMATTERS[args.format](result, [*rules, *(r for r in catalog if r.infrastructure)])
    if args.output_file not in (None, "-"):
        from torchlint.atomic import write_report

        try:
            write_report(args.output_file, report)
        except OSError as exc:
            print(f"torchlint: error: cannot write the report to {args.output_file}: {exc.strerror or exc}",
                  file=sys.stderr)
            return EXIT_ERROR
    else:
        sys.stdout.write(report)
    if args.exit_zero:
        return EXIT_CLEAN
    fail_on = Severity.parse(args.fail_on) if args.fail_on else cfg.fail_on
    failing = [f for f in result.findings if Severity.parse(f.severity) >= fail_on]
    if result.findings and not failing:
        n = len(result.findings)
        print(f"torchlint: {n} finding{'s' if n != 1 else ''} below fail-on `{fail_on.label}`: exit 0",
              file=sys.stderr)
    return EXIT_FINDINGS if failing else EXIT_CLEAN


# Below this many files to parse a run is too short for a progress bar to help.
PROGRESS_MIN_FILES = 100


@contextlib.contextmanager
def _progress_bar():
    """A transient progress bar on stderr when it is a terminal (never in CI logs, pipes or
    files, so JSON and SARIF stay clean); yields the runner's progress callback or None."""
    if not sys.stderr.isatty() or os.environ.get("CI") or os.environ.get("TERM") == "dumb":
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("torchlint"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = None

    def update(done: int, total: int) -> None:
        nonlocal task
        if total < PROGRESS_MIN_FILES:
            return
        if task is None:
            bar.start()
            task = bar.add_task("lint", total=total)
        bar.update(task, completed=done)

    try:
        yield update
    finally:
        bar.stop()


def _report_diff(result) -> int:
    """`--diff`: the diffs on stdout, a count on stderr; exit 1 when something would change."""
    diffs = [r.diff for r in sorted(result.files, key=lambda r: r.path) if r.diff]
    sys.stdout.write("".join(diffs))
    n = len(result.fixed)
    print(f"Would fix {n} finding{'s' if n != 1 else ''}." if n else "No fixes available.", file=sys.stderr)
    return EXIT_FINDINGS if diffs else EXIT_CLEAN


def _add_noqa(result) -> int:
    """`--add-noqa`: report what was written; the work is `fixing.write_directives`."""
    from torchlint.fixing import write_directives

    added, files, problems = write_directives(result.files)
    for problem in problems:
        print(f"torchlint: {problem}", file=sys.stderr)
    print(f"Added {added} suppression{'s' if added != 1 else ''} in {files} file{'s' if files != 1 else ''}.")
    return EXIT_CLEAN


def _config(args: argparse.Namespace):
    """The --config file, else the nearest pyproject.toml with [tool.torchlint] from here."""
    return load_config(args.config or find_pyproject(Path.cwd()))


def _cmd_test_rules(args: argparse.Namespace) -> int:
    from torchlint import rule_tests

    cfg = _config(args)
    dirs = args.dirs or cfg.rule_dirs
    if not dirs:
        print("torchlint: error: name a rule directory, or set rule-dirs in [tool.torchlint]", file=sys.stderr)
        return EXIT_ERROR
    failed = False
    for directory in dirs:
        if not directory.is_dir():
            print(f"torchlint: error: {directory}: no such directory", file=sys.stderr)
            return EXIT_ERROR
        outcomes = rule_tests.run(directory, cfg)
        if len(dirs) > 1:
            print(f"{directory}:")
        sys.stdout.write(rule_tests.render(outcomes))
        failed = failed or not outcomes or not all(o.passed for o in outcomes)
        if not outcomes:
            print(f"torchlint: {directory}: no rules (*.yaml) here", file=sys.stderr)
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def _cmd_explain(args: argparse.Namespace) -> int:
    from torchlint.explain import page_markdown, show

    catalog = load_catalog(_config(args).rule_dirs)
    rule = catalog.get(args.rule)
    if rule is None:
        print(f"torchlint: error: unknown rule {args.rule!r} (see `torchlint rules`)", file=sys.stderr)
        return EXIT_ERROR
    if args.format == "markdown":
        sys.stdout.write(page_markdown(rule, catalog))
    else:
        show(rule, catalog, Console())
    return EXIT_CLEAN


def _cmd_rules(args: argparse.Namespace) -> int:
    from torchlint.pages import render_rules_table, rules_json

    catalog = load_catalog(_config(args).rule_dirs)
    if args.format == "json":
        sys.stdout.write(rules_json(catalog))
    else:
        render_rules_table(catalog, Console())
    return EXIT_CLEAN


def _cmd_roles(args: argparse.Namespace) -> int:
    from torchlint.lint import Linter
    from torchlint.roles import explain_roles, render

    cfg = load_config(args.config or find_pyproject(Path(args.paths[0]) if args.paths else Path.cwd()))
    catalog = load_catalog(cfg.rule_dirs)
    sys.stdout.write(render(explain_roles(Linter(catalog, list(catalog), cfg), args.paths), args.format))
    return EXIT_CLEAN


def _cmd_validate(args: argparse.Namespace) -> int:
    from torchlint.validate import FAIL, ValidationError, render, run_checks

    try:
        device, results = run_checks(args.device)
    except ValidationError as exc:
        print(f"torchlint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(render(device, results, args.format))
    return EXIT_FINDINGS if any(r.status == FAIL for r in results) else EXIT_CLEAN


COMMANDS = {"check": _cmd_check, "explain": _cmd_explain, "rules": _cmd_rules, "test-rules": _cmd_test_rules,
            "roles": _cmd_roles, "validate": _cmd_validate}


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


def entry() -> None:
    """The `torchlint` command. After Ctrl-C the process ends at once: the interpreter's exit
    handlers would join the pools' management threads, which can wait on a terminated worker."""
    code = main()
    if code == EXIT_INTERRUPTED:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    try:
        return COMMANDS[args.command](args)
    except (CatalogError, ConfigError, DiscoveryError) as exc:
        print(f"torchlint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_CLEAN
    except KeyboardInterrupt:
        print("torchlint: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
