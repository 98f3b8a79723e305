"""`torchlint check`: settings from config and flags, the run (files, stdin or a review against a
git ref), and the report."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from rich.console import Console

from torchlint.checks import load_catalog
from torchlint.cli.parser import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS
from torchlint.config import Config, ConfigError, expand_selectors, find_pyproject, load_config, resolve_selection
from torchlint.model import Severity

# Below this many files to parse a run is too short for a progress bar to help.
PROGRESS_MIN_FILES = 100


def _settings(args: argparse.Namespace) -> Config:
    """The config file's settings with the command line's on top."""
    anchor = Path(args.stdin_filename) if args.stdin_filename and args.paths == ["-"] else \
        Path(args.paths[0]) if args.paths and args.paths != ["-"] else Path.cwd()
    cfg = load_config(args.config or find_pyproject(anchor))
    if args.max_file_size is not None:
        cfg.max_file_size = max(0, args.max_file_size)
    if args.exclude is not None:
        cfg.exclude = args.exclude
    cfg.extend_exclude += args.extend_exclude
    if args.per_file_ignores is not None:
        cfg.per_file_ignores = {}
    for glob, rules in [*(args.per_file_ignores or []), *args.extend_per_file_ignores]:
        cfg.per_file_ignores.setdefault(glob, []).extend(rules)
    env = os.environ.get("TORCHLINT_CACHE_DIR")
    if args.cache_dir is not None or env:
        cfg.cache_dir = (args.cache_dir or Path(env)).resolve()
    return cfg


def cmd_check(args: argparse.Namespace) -> int:
    from torchlint.lint import Linter
    from torchlint.model import FixMode
    from torchlint.session import open_cache, run

    if args.add_noqa and (args.diff or args.fix):
        raise ConfigError("--add-noqa writes suppressions for the findings as they are: "
                          "it cannot be combined with --fix or --diff")
    if args.statistics and args.format in ("sarif", "github", "junit"):
        raise ConfigError(f"--statistics counts findings per rule: use --output-format text, json or json-lines, "
                          f"not {args.format}")
    cfg = _settings(args)
    catalog = load_catalog(cfg.rule_dirs)
    rules = resolve_selection(catalog, cfg, args.select, args.ignore, args.extend_select)
    for glob, selectors in [*(args.per_file_ignores or []), *args.extend_per_file_ignores]:
        expand_selectors(catalog, selectors, f"--per-file-ignores {glob!r}")
    if args.show_settings:
        return _show_settings(cfg, rules)
    if args.stdin_filename and args.paths != ["-"]:
        raise ConfigError("--stdin-filename names the source read from stdin: give `-` as the path")
    linter = Linter(catalog, rules, cfg, debug=args.debug)
    if args.paths == ["-"]:
        return _check_stdin(args, linter)
    if "-" in args.paths:
        raise ConfigError("`-` (stdin) cannot be mixed with other paths")
    if args.show_files:
        from torchlint.session.files import discover

        sys.stdout.write("".join(f"{f}\n" for f in discover(args.paths, cfg.excluded, cfg.root, cfg.extend_include)))
        return EXIT_CLEAN
    changed = None
    if args.diff_base:
        from torchlint.session.review import ReviewError, changed_lines

        try:
            changed = changed_lines(args.diff_base, Path(args.paths[0]) if args.paths else Path.cwd())
        except ReviewError as exc:
            raise ConfigError(str(exc)) from None
    jobs = args.jobs if args.jobs > 0 else (os.cpu_count() or 1)
    cache = None if args.no_cache else open_cache(linter, cfg.root, cfg.cache_dir)
    fix = None
    if args.fix or args.diff:
        fix = FixMode(unsafe=args.unsafe_fixes, write=not args.diff, diff=args.diff)
    with _progress_bar() as progress:
        result = run(linter, args.paths, jobs=jobs, cache=cache, fix=fix, progress=progress)
    if not args.quiet:
        for note in (n for r in result.files for n in r.notes):
            print(f"torchlint: {note}", file=sys.stderr)
        for path, size in result.skipped:
            print(f"torchlint: {path}: skipped: {size / 1e6:.1f} MB is over max-file-size "
                  f"({cfg.max_file_size / 1e6:.1f} MB; --max-file-size 0 lints it)", file=sys.stderr)
    if args.diff:
        return _report_diff(result)
    if args.add_noqa:
        return _add_noqa(result)
    if changed is not None:
        from torchlint.session.review import keep_changed

        result, left_out = keep_changed(result, changed)
        if left_out and not args.quiet:
            print(f"torchlint: review against {args.diff_base}: {left_out} finding{'s' if left_out != 1 else ''} "
                  "on lines unchanged since then left out", file=sys.stderr)
    return _report(args, cfg, catalog, rules, result)


def _report(args, cfg, catalog, rules, result) -> int:
    from torchlint.report import FORMATTERS

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

        color = _color(args.output_file)
        report = render(result, unsafe_fixes=args.unsafe_fixes, show_fixes=args.show_fixes, quiet=args.quiet,
                        color=color)
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
    if result.findings and not failing and not args.quiet:
        n = len(result.findings)
        print(f"torchlint: {n} finding{'s' if n != 1 else ''} below fail-on `{fail_on.label}`: exit 0",
              file=sys.stderr)
    return EXIT_FINDINGS if failing else EXIT_CLEAN


def _color(output_file: str | None) -> bool:
    """Colour on a terminal, as ruff: NO_COLOR (any value) turns it off, FORCE_COLOR on."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return output_file in (None, "-") and sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def _check_stdin(args: argparse.Namespace, linter) -> int:
    """`check -`: lint the source on stdin as `--stdin-filename` (default `-`); with --fix the
    fixed source goes to stdout and the findings left to stderr, as ruff does."""
    from torchlint.model import RunResult

    data = sys.stdin.buffer.read()
    name = args.stdin_filename or "-"
    if args.fix:
        from torchlint.fixing import fix_source

        outcome = fix_source(linter, name, data, unsafe=args.unsafe_fixes)
        sys.stdout.buffer.write(outcome.data)
        sys.stdout.flush()
        from torchlint.report.text import headline

        remaining = outcome.result.findings
        for f in remaining:
            print(headline(f), file=sys.stderr)
        return EXIT_FINDINGS if remaining and not args.exit_zero else EXIT_CLEAN
    result = RunResult(files=[linter.lint_source(name, data)], checked=1, parsed=1)
    return _report(args, linter.config, linter.catalog, linter.rules, result)


def _show_settings(cfg: Config, rules: list) -> int:
    """`--show-settings`: what this run would use, resolved."""
    rows = {
        "config": str(cfg.path) if cfg.path else "(none: defaults)",
        "root": str(cfg.root),
        "rules": ", ".join(r.id for r in rules),
        "exclude": ", ".join(cfg.excluded) or "(defaults only)",
        "per-file-ignores": "; ".join(f"{g}: {', '.join(v)}" for g, v in cfg.per_file_ignores.items()) or "(none)",
        "fail-on": cfg.fail_on.label,
        "max-file-size": str(cfg.max_file_size),
        "cache-dir": str(cfg.cache_dir or cfg.root / ".torchlint_cache"),
        "rule-dirs": ", ".join(map(str, cfg.rule_dirs)) or "(none)",
        "params": json.dumps(cfg.params, sort_keys=True) if cfg.params else "(defaults)",
    }
    width = max(map(len, rows))
    sys.stdout.write("".join(f"{k:<{width}}  {v}\n" for k, v in rows.items()))
    return EXIT_CLEAN


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
