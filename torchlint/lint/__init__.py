"""One file, in pure stages: parse -> traverse (every active check) -> positions -> suppress ->
fix descriptions. No I/O: the session reads files and the fixing layer writes them."""

from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass, field
from typing import Iterable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.edits import Fix
from torchlint.analysis.project import FileFacts
from torchlint.analysis.summary import summarise
from torchlint.analysis.suppressions import file_directives, is_suppressed
from torchlint.catalog import Catalog, Rule, compile_prefilter
from torchlint.checks import Check, registry
from torchlint.config import Config, load_vocabulary, per_file_ignored, resolve_params
from torchlint.lint.describe import describe
from torchlint.lint.dispatch import Dispatcher
from torchlint.lint.elide import MIN_BYTES as MIN_TABLE_BYTES
from torchlint.lint.elide import Span, blank_tables, elide_tables
from torchlint.lint.notebook import NotebookError, is_notebook
from torchlint.lint.notebook import to_source as notebook_source
from torchlint.lint.parse import (
    cpython_parse, deep_stack, gc_paused, libcst_refusal, on_deep_stack, parse_module,
)
from torchlint.lint.positions import resolve as resolve_positions
from torchlint.lint.positions import top_statements
from torchlint.model import (
    ALWAYS_REPORTED, INTERNAL_ERROR, SYNTAX_ERROR, UNSAFE, UNUSED_SUPPRESSION, FileResult, Finding, FixInfo,
)
from torchlint.source import one_line, source_encoding

# An unused directive must not hide its own report (a bare `# torchlint: ignore` covers all
# codes); TL002 is silenced only by naming it, which its check honours itself.
_UNSUPPRESSIBLE = {UNUSED_SUPPRESSION}


@dataclass
class Linted:
    """A linted file: its result, and for fixing, the parsed module and each fix offered."""

    result: FileResult
    module: cst.Module | None = None
    fixes: list[tuple[Finding, Fix]] = field(default_factory=list)


@dataclass
class _Emitted:
    rule: Rule
    node: cst.CSTNode
    message: str
    severity: str | None
    fix: Fix | None
    guess: cst.CSTNode | None  # the top-level statement being traversed when it was reported


class Linter:
    """The selected rules with their parameters, applied to one file at a time."""

    def __init__(self, catalog: Catalog, rules: Iterable[Rule], config: Config | None = None, debug: bool = False):
        self.catalog = catalog
        self.config = config or Config()
        self.rules = list(rules)
        self.debug = debug
        self.params = resolve_params(catalog, self.config)  # plain data: cache keys, prefilters
        self.vocab = load_vocabulary(self.config)
        self.selected = {r.id for r in self.rules}
        self.known = {key.upper(): r.id for r in catalog for key in (r.id, r.name)}
        kinds = registry()
        self.visitor_rules = [r for r in self.rules if not r.infrastructure]
        self._kinds = {r.id: kinds[r.check] for r in self.visitor_rules}
        self.typed = {r.id: r.typed_params(self.params[r.id]) for r in self.visitor_rules}
        # Each rule's prefilter patterns, placeholders filled in (a file must match them all).
        words = self.vocab.raw()
        self.prefilter_rules = {r.id: r.prefilters(self.params[r.id], catalog, words) for r in self.visitor_rules}
        self._prefilters = {rule_id: [compile_prefilter(p) for p in ps] for rule_id, ps in self.prefilter_rules.items()}
        for glob in self.config.per_file_ignores:
            per_file_ignored(self.config, catalog, glob)  # validates selectors early

    # ----- infrastructure findings ----------------------------------------------------------
    def infra(self, rule_id: str, path: str, line: int, column: int, message: str) -> list[Finding]:
        """A TL000/TL001 finding: reported whatever the selection (model.ALWAYS_REPORTED)."""
        if rule_id not in self.selected and rule_id not in ALWAYS_REPORTED:
            return []
        rule = self.catalog.rules[rule_id]
        return [Finding(path, line, column, line, column + 1, rule.id, rule.name, rule.severity.label, message)]

    def unreadable(self, path: str, reason: str) -> FileResult:
        return FileResult(path, self.infra(SYNTAX_ERROR, path, 1, 1, f"cannot read file: {reason}"))

    # ----- entry points ---------------------------------------------------------------------
    def lint_source(self, path: str, data: bytes, rules: Iterable[str] | None = None,
                    facts: FileFacts | None = None, tables: list[Span] | None = None) -> FileResult:
        """Lint one file's bytes. Never raises for bad input or a failing rule. `rules`: the
        rule IDs whose prefilters already matched these bytes (None: test them here).
        `tables`: where the file's data tables are, when CPython is known to accept it (the
        project phase parsed it already: it is not parsed by CPython again)."""
        with gc_paused():
            if is_notebook(path):
                return self._lint_notebook(path, data, facts)
            return self.lint(path, data, rules=rules, facts=facts, tables=tables).result

    def _lint_notebook(self, path: str, data: bytes, facts: FileFacts | None) -> FileResult:
        """The code cells as one module; findings point at cell and line. No fixes are offered
        (a notebook is JSON: edits would have to be written back cell by cell)."""
        try:
            source = notebook_source(data)
        except NotebookError as exc:
            return FileResult(path, self.infra(SYNTAX_ERROR, path, 1, 1, f"cannot read notebook: {exc}"))
        result = self.lint(path, source.text.encode("utf-8"), facts=facts).result
        findings = []
        for f in result.findings:
            cell, line = source.locate(f.line)
            end_cell, end_line = source.locate(f.end_line)
            end_line, end_column = (end_line, f.end_column) if end_cell == cell else (line, f.column + 1)
            findings.append(dataclasses.replace(
                f, line=line, end_line=end_line, end_column=end_column, cell=cell, fix=None
            ))
        lines = source.text.splitlines() if findings else []
        return FileResult(path, sorted(findings), lines, cell_starts=source.starts if findings else None)

    def active(self, path: str, data: bytes, rules: Iterable[str] | None = None,
               roles: set[str] | None = None) -> tuple[list[Rule], set[str]]:
        """The rules to run on `data` (prefilters, per-file ignores, the file's `roles` where
        known, admission tests) and the IDs per-file-ignores switch off for `path`."""
        ignored = per_file_ignored(self.config, self.catalog, path) if self.config.per_file_ignores else set()
        if rules is None:
            active = [
                r for r in self.visitor_rules
                if r.id not in ignored and all(p.search(data) for p in self._prefilters[r.id])
            ]
        else:
            chosen = set(rules)
            active = [r for r in self.visitor_rules if r.id in chosen and r.id not in ignored]
        if roles is not None:  # a rule for none of the roles here would have every finding dropped
            active = [r for r in active if any(_applies(r, role) for role in roles)]
        # A check may rule itself out from the bytes alone (`Check.admits`), before the parse.
        return [r for r in active if self._admits(r, data)], ignored

    def _admits(self, rule: Rule, data: bytes) -> bool:
        try:
            return bool(self._kinds[rule.id].admits(data, self.typed[rule.id]))
        except Exception:
            return True  # the check then runs, and a failure of its own is reported as TL001

    def lint(self, path: str, data: bytes, elide: bool = True, rules: Iterable[str] | None = None,
             facts: FileFacts | None = None, tables: list[Span] | None = None) -> Linted:
        """Lint `data`. With `elide`, large data tables are blanked before libcst parses the
        file (torchlint.lint.elide); fixes then apply to that text, so fixing turns it off."""
        active, ignored = self.active(path, data, rules, facts.roles_present() if facts is not None else None)
        if not active:
            return Linted(FileResult(path, []))
        if tables is not None:  # CPython accepted it in the project phase
            tree, problem = None, None
            if elide and tables:
                data = blank_tables(data, tables)
        else:
            tree, problem, fatal = cpython_parse(data)
            if fatal:
                line, column, msg = problem
                return Linted(FileResult(path, self.infra(SYNTAX_ERROR, path, line, column, msg)))
            if elide and tree is not None and len(data) >= MIN_TABLE_BYTES and source_encoding(data) == "utf-8":
                data, blanked = elide_tables(data, tree)
                if blanked:
                    tree, _, _ = cpython_parse(data)  # the small tree, for positions
        # Syntax errors CPython found are left to libcst too: it knows syntax newer than this interpreter.
        try:
            module = parse_module(data, compiled=tree is not None or tables is not None)
        except cst.ParserSyntaxError as exc:
            if tree is not None or tables is not None:  # CPython accepted it: a limit of libcst's
                line, column, msg = libcst_refusal(data, exc)
            else:
                line, column, msg = problem or (exc.raw_line, exc.raw_column + 1, f"syntax error: {exc.message}")
            return Linted(FileResult(path, self.infra(SYNTAX_ERROR, path, line, column, msg)))
        except RecursionError:
            return Linted(FileResult(path, self.infra(SYNTAX_ERROR, path, 1, 1, "cannot parse: nesting too deep")))
        except Exception as exc:  # encoding errors and the like
            return Linted(FileResult(path, self.infra(SYNTAX_ERROR, path, 1, 1, f"cannot parse: {one_line(exc)}")))
        if facts is None:  # linted on its own: the file is its whole project
            facts = FileFacts.standalone(path, _summary(tree), self.vocab, self.config.roles, self.config.root)
        try:
            return self._analyse(path, data, module, tree, active, ignored, facts)
        except RecursionError:
            return deep_stack(self._analyse, path, data, module, tree, active, ignored, facts)

    # ----- the stages after the parse ---------------------------------------------------------
    def _analyse(self, path: str, data: bytes, module: cst.Module, tree, active: list[Rule],
                 ignored: set[str], facts: FileFacts) -> Linted:
        ctx = Context(module, path, facts, self.vocab)
        emitted, failed, checks, dead = self._traverse(ctx, active)
        text = data.decode(module.encoding, errors="replace")
        lines = text.splitlines()
        shifts: dict[int, int] = {}
        raw = self._place(module, data, tree, path, [e for e in emitted if e.rule.id not in failed], shifts)
        # The role where each finding is: rules outside their roles are dropped here.
        raw = [(dataclasses.replace(f, role=facts.role_at_line(f.line).role), origin) for f, origin in raw]
        raw = [(f, origin) for f, origin in raw if _applies(origin[0].rule, f.role)]
        for rule_id, detail in sorted(failed.items()):
            raw += self._internal_error(path, rule_id, detail)
        # Checks that judge the other rules' findings (TL002: unused suppressions) run last.
        judges = [c for c in checks if c.judges_findings and c.rule.id not in failed and c not in dead]
        if judges:
            start = len(emitted)
            for check in judges:
                try:
                    # Rules that do not apply to this file's role did not run here.
                    ran = {i for i in self.selected - ignored - set(failed)
                           if _applies(self.catalog.rules[i], facts.role.role)}
                    check.judge(
                        [f for f, _ in raw], ran, self.known,
                        lambda nodes: self._positions(module, data, tree, nodes),
                    )
                except Exception as exc:
                    raw += self._internal_error(path, check.rule.id, self._detail(exc))
            raw += self._place(module, data, tree, path, emitted[start:], shifts)
        return self._finish(path, module, lines, raw, shifts, facts)

    def _traverse(self, ctx: Context, active: list[Rule]):
        """Every active check over one traversal: what they emitted, which rules failed (with
        the detail), the checks, and those that died on the way."""
        emitted: list[_Emitted] = []
        failed: dict[str, str] = {}

        def emit(rule: Rule, node: cst.CSTNode, message: str, severity: str | None = None,
                 fix: Fix | None = None) -> None:
            emitted.append(_Emitted(rule, node, message, severity, fix, ctx.top_statement))

        def on_error(check: Check, exc: BaseException) -> None:
            failed[check.rule.id] = self._detail(exc)

        checks: list[Check] = []
        for rule in active:
            try:
                checks.append(self._kinds[rule.id](rule, self.typed[rule.id], ctx, emit))
            except Exception as exc:
                failed[rule.id] = self._detail(exc)
        dispatcher = Dispatcher(ctx, checks, on_error)
        try:
            dispatcher.run(ctx.module)
            dispatcher.finish()
        except RecursionError:
            for check in checks:
                failed.setdefault(check.rule.id, "RecursionError: code nested too deeply")
        if any("RecursionError" in detail for detail in failed.values()) and not on_deep_stack():
            raise RecursionError("retry on a deep stack")
        dead = [c for c in checks if c not in dispatcher.alive()]
        return emitted, failed, checks, dead

    def _detail(self, exc: BaseException) -> str:
        return traceback.format_exc() if self.debug else one_line(exc)

    def _internal_error(self, path: str, rule_id: str, detail: str) -> list[tuple[Finding, None]]:
        return [(f, None) for f in self.infra(INTERNAL_ERROR, path, 1, 1, f"internal error in {rule_id}: {detail}")]

    @staticmethod
    def _positions(module: cst.Module, data: bytes, tree, nodes: list[cst.CSTNode]) -> dict:
        """Source ranges of nodes (for checks that judge positions themselves, TL002)."""
        tops = top_statements(module, [(n, None) for n in nodes])
        return resolve_positions(module, data, list(zip(nodes, tops)), tree)

    def _place(self, module: cst.Module, data: bytes, tree, path: str, emitted: list[_Emitted],
               shifts: dict[int, int]) -> list[tuple[Finding, tuple[_Emitted, cst.CSTNode | None]]]:
        """Findings (without fix descriptions yet) at the source positions of emitted nodes;
        `shifts` receives where the statements placed alone sit in the file (for fixes)."""
        if not emitted:
            return []
        tops = top_statements(module, [(e.node, e.guess) for e in emitted])
        positions = resolve_positions(module, data, [(e.node, top) for e, top in zip(emitted, tops)], tree, shifts)
        out = []
        for e, top in zip(emitted, tops):
            rng = positions[e.node]
            out.append((Finding(
                path, rng.start.line, rng.start.column + 1, rng.end.line, rng.end.column + 1,
                e.rule.id, e.rule.name, e.severity or e.rule.severity.label, e.message,
            ), (e, top)))
        return out

    def _finish(self, path: str, module: cst.Module, lines: list[str], raw: list, shifts: dict[int, int],
                facts: FileFacts) -> Linted:
        """Suppressions, roles and fix descriptions."""
        findings: list[Finding] = []
        fixes: list[tuple[Finding, Fix]] = []
        whole_file = file_directives(lines)
        for finding, origin in raw:
            if finding.rule not in _UNSUPPRESSIBLE and is_suppressed(
                    lines, finding.line, finding.rule, finding.name, finding.end_line, whole_file):
                continue
            if not finding.role:  # those placed after the role filter (TL001, TL002)
                finding = dataclasses.replace(finding, role=facts.role_at_line(finding.line).role)
            fix = origin[0].fix if origin else None
            if fix is not None:
                top = origin[1]
                shift = shifts.get(id(top))
                place = (top, shift, lines) if top is not None and shift is not None else None
                info = self._describe(module, self.catalog.rules[finding.rule], fix, place)
                if info is not None:
                    finding = dataclasses.replace(finding, fix=info)
                    fixes.append((finding, fix))
            findings.append(finding)
        kept = sorted(set(findings))
        return Linted(FileResult(path, kept, lines if kept else []), module, fixes)

    def _describe(self, module: cst.Module, rule: Rule, fix: Fix, place=None) -> FixInfo | None:
        """The reported form of a check's fix; a fix that fails to build is dropped (the
        finding stays), with the traceback under --debug."""
        safety = fix.safety or (rule.fix if rule.fixable else UNSAFE)
        try:
            return describe(module, fix, safety, place)
        except Exception:
            if self.debug:
                traceback.print_exc()
            return None


def _applies(rule: Rule, role: str) -> bool:
    """Does `rule` apply to code of this role? (No roles listed: everywhere.)"""
    return not rule.roles or role in rule.roles


def _summary(tree) -> dict | None:
    if tree is None:
        return None
    try:
        return summarise(tree)
    except Exception:
        return None
