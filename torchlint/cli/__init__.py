"""Command line: thin glue between argparse, the catalog, the runner and the reporters.
The grammar is `cli.parser`; `check`, the main job, is `cli.check`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from rich.console import Console

from torchlint.catalog import CatalogError
from torchlint.checks import load_catalog
from torchlint.cli.check import cmd_check
from torchlint.cli.parser import EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS, build_parser
from torchlint.config import ConfigError, find_pyproject, load_config
from torchlint.session.files import DiscoveryError

__all__ = ["EXIT_CLEAN", "EXIT_ERROR", "EXIT_FINDINGS", "build_parser", "entry", "main"]


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

    if args.mutations:
        from torchlint.validate import setup_device
        from torchlint.validate_matrix import render as render_matrix, run_matrix

        try:
            _, device = setup_device(args.device)
            rows, baseline = run_matrix(device.type)
        except (ValidationError, RuntimeError) as exc:
            print(f"torchlint: error: {exc}", file=sys.stderr)
            return EXIT_ERROR
        sys.stdout.write(render_matrix(str(device), rows, baseline, args.format))
        return EXIT_CLEAN if all(r.ok for r in rows) else EXIT_FINDINGS
    try:
        device, results = run_checks(args.device)
    except ValidationError as exc:
        print(f"torchlint: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(render(device, results, args.format))
    return EXIT_FINDINGS if any(r.status == FAIL for r in results) else EXIT_CLEAN


COMMANDS = {"check": cmd_check, "explain": _cmd_explain, "rules": _cmd_rules, "test-rules": _cmd_test_rules,
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
