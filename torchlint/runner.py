"""Parse each file once and run every active rule in a single traversal."""

from __future__ import annotations

import ast
import dataclasses
import multiprocessing
import os
import sys
import traceback
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import libcst as cst

from torchlint.analysis.context import ATTRIBUTE_TYPES, CLOSES, OPENS, Context
from torchlint.atomic import atomic_write
from torchlint.cache import Cache, run_key
from torchlint.catalog import Catalog, Rule
from torchlint.checks import Check, registry
from torchlint.config import Config, per_file_ignored, resolve_params
from torchlint.discover import compile_prefilter, discover, prefilter
from torchlint.elide import MIN_BYTES as MIN_TABLE_BYTES
from torchlint.elide import elide_tables
from torchlint.fix import Fix, apply, compatible, describe, parses, unified_diff
from torchlint.model import UNSAFE, Finding, FixInfo
from torchlint.notebook import NotebookError, is_notebook
from torchlint.notebook import to_source as notebook_source
from torchlint.parse import gc_paused, parse_module
from torchlint.positions import resolve as resolve_positions
from torchlint.suppress import is_suppressed
from torchlint.walk import prunable, skippable, walk

SYNTAX_ERROR, INTERNAL_ERROR, UNUSED_SUPPRESSION = "TL000", "TL001", "TL002"
# An unused directive must not hide its own report (a bare `# torchlint: ignore` covers all
# codes); TL002 is silenced only by naming it, which its check honours itself.
_UNSUPPRESSIBLE = {UNUSED_SUPPRESSION}


@dataclass
class FileResult:
    path: str
    findings: list[Finding]
    lines: list[str] = field(default_factory=list)
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
class FixOutcome:
    data: bytes  # the fixed file (the input when nothing applied)
    fixed: list[Finding]
    result: FileResult  # the findings that remain in `data`


@dataclass
class _Linted:
    result: FileResult
    module: cst.Module | None = None
    fixes: list[tuple[Finding, Fix]] = field(default_factory=list)


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


class _CheckFailed(Exception):
    pass


class _Dispatcher:
    """Updates the shared Context around each node and calls every check's handlers
    (`visit_<Node>` / `leave_<Node>` methods, as in libcst visitors)."""

    def __init__(self, ctx: Context, checks: list[Check], on_error):
        self.ctx = ctx
        self.checks = checks
        self.on_error = on_error
        self.dead: set[int] = set()
        self._push, self._pop = ctx.stack.append, ctx.stack.pop
        self.on_visit_attribute = ctx.enter_attribute
        self.on_leave_attribute = ctx.leave_attribute
        self._visit: dict[type, list[tuple[int, Any]]] = {}
        self._leave: dict[type, list[tuple[int, Any]]] = {}
        for i, check in enumerate(checks):
            for name in dir(check):
                prefix, _, node_name = name.partition("_")
                node_type = getattr(cst, node_name, None)
                if prefix in ("visit", "leave") and isinstance(node_type, type) and issubclass(node_type, cst.CSTNode):
                    table = self._visit if prefix == "visit" else self._leave
                    table.setdefault(node_type, []).append((i, getattr(check, name)))

    def run(self, module: cst.Module) -> None:
        handled = {*self._visit, *self._leave}
        walk(module, self, skip=skippable(handled), attribute_types=ATTRIBUTE_TYPES, prune=prunable(handled))

    def _call(self, handlers, node) -> None:
        for i, fn in handlers:
            if i in self.dead:
                continue
            try:
                fn(node)
            except Exception as exc:  # a rule bug must not take the file down
                self.dead.add(i)
                self.on_error(self.checks[i], exc)

    # The context's ancestor stack and scopes are updated here, inline: this runs for every node.
    def on_visit(self, node: cst.CSTNode) -> bool:
        kind = type(node)
        self._push(node)
        if kind in OPENS:
            self.ctx.open(node)
        handlers = self._visit.get(kind)
        if handlers:
            self._call(handlers, node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        kind = type(original_node)
        handlers = self._leave.get(kind)
        if handlers:
            self._call(handlers, original_node)
        if kind in CLOSES:
            self.ctx.close(original_node)
        self._pop()

    def finish(self) -> None:
        for i, check in enumerate(self.checks):
            if i not in self.dead:
                try:
                    check.end()
                except Exception as exc:
                    self.dead.add(i)
                    self.on_error(check, exc)


class Linter:
    """Holds the selected rules and their parameters; lints sources."""

    def __init__(self, catalog: Catalog, rules: Iterable[Rule], config: Config | None = None, debug: bool = False):
        self.catalog = catalog
        self.config = config or Config()
        self.rules = list(rules)
        self.debug = debug
        self.params = resolve_params(catalog, self.config)
        self.selected = {r.id for r in self.rules}
        self._known = {key.upper(): r.id for r in catalog for key in (r.id, r.name)}
        kinds = registry()
        self._visitor_rules = [r for r in self.rules if not r.infrastructure]
        self._kinds = {r.id: kinds[r.check] for r in self._visitor_rules}
        # Each rule's prefilter patterns, placeholders filled in (a file must match them all).
        self.prefilter_rules = {r.id: r.prefilters(self.params[r.id], catalog) for r in self._visitor_rules}
        self._prefilters = {rule_id: [compile_prefilter(p) for p in ps] for rule_id, ps in self.prefilter_rules.items()}
        for glob in self.config.per_file_ignores:
            per_file_ignored(self.config, catalog, glob)  # validates selectors early

    def _infra(self, rule_id: str, path: str, line: int, column: int, message: str) -> list[Finding]:
        if rule_id not in self.selected:
            return []
        rule = self.catalog.rules[rule_id]
        return [Finding(path, line, column, line, column + 1, rule.id, rule.name, rule.severity.label, message)]

    def lint_source(self, path: str, data: bytes, rules: Iterable[str] | None = None) -> FileResult:
        """Lint one file's bytes. Never raises for bad input or a failing rule. `rules`: the
        rule IDs whose prefilters already matched these bytes (None: test them here)."""
        with gc_paused():
            if is_notebook(path):
                return self._lint_notebook(path, data)
            return self._lint(path, data, rules=rules).result

    def _lint_notebook(self, path: str, data: bytes) -> FileResult:
        """The code cells as one module; findings point at cell and line. No fixes are offered
        (a notebook is JSON: edits would have to be written back cell by cell)."""
        try:
            source = notebook_source(data)
        except NotebookError as exc:
            return FileResult(path, self._infra(SYNTAX_ERROR, path, 1, 1, f"cannot read notebook: {exc}"))
        result = self._lint(path, source.text.encode("utf-8")).result
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

    def _lint(self, path: str, data: bytes, elide: bool = True, rules: Iterable[str] | None = None) -> "_Linted":
        """Lint `data`. With `elide`, large data tables are blanked before libcst parses the
        file (torchlint.elide); fixes then apply to that text, so `fix_source` turns it off."""
        ignored = per_file_ignored(self.config, self.catalog, path) if self.config.per_file_ignores else set()
        if rules is None:
            active = [
                r for r in self._visitor_rules
                if r.id not in ignored and all(p.search(data) for p in self._prefilters[r.id])
            ]
        else:
            chosen = set(rules)
            active = [r for r in self._visitor_rules if r.id in chosen and r.id not in ignored]
        # A check may rule itself out from the bytes alone (`Check.admits`), before the parse.
        active = [r for r in active if self._admits(r, data)]
        if not active:
            return _Linted(FileResult(path, []))
        # CPython first: it is ~10x faster than libcst, gives the clearer message, and refuses
        # nesting it cannot run (200 brackets, deep operator chains) before libcst's native
        # parser would overflow its stack on it and take the process down.
        # Other syntax errors are left to libcst: it knows syntax newer than this interpreter.
        tree, problem, fatal = _cpython_parse(data)
        if fatal:
            line, column, msg = problem
            return _Linted(FileResult(path, self._infra(SYNTAX_ERROR, path, line, column, msg)))
        if elide and tree is not None and len(data) >= MIN_TABLE_BYTES and source_encoding(data) == "utf-8":
            data, blanked = elide_tables(data, tree)
            if blanked:
                tree, _, _ = _cpython_parse(data)  # the small tree, for positions
        try:
            module = parse_module(data, compiled=tree is not None)
        except cst.ParserSyntaxError as exc:
            line, column, msg = problem or (exc.raw_line, exc.raw_column + 1, f"syntax error: {exc.message}")
            return _Linted(FileResult(path, self._infra(SYNTAX_ERROR, path, line, column, msg)))
        except RecursionError:
            return _Linted(FileResult(path, self._infra(SYNTAX_ERROR, path, 1, 1, "cannot parse: nesting too deep")))
        except Exception as exc:  # encoding errors and the like
            return _Linted(FileResult(path, self._infra(SYNTAX_ERROR, path, 1, 1, f"cannot parse: {_one_line(exc)}")))
        try:
            return self._analyse(path, data, module, tree, active, ignored)
        except RecursionError:
            # Valid code can nest deeper than Python's default limit allows a tree walk (a
            # 700 kB run of implicitly concatenated strings): once more, on a deep stack.
            return _on_deep_stack(self._analyse, path, data, module, tree, active, ignored)

    def _admits(self, rule: Rule, data: bytes) -> bool:
        try:
            return bool(self._kinds[rule.id].admits(data, self.params[rule.id]))
        except Exception:
            return True  # the check then runs, and a failure of its own is reported as TL001

    def _analyse(self, path: str, data: bytes, module: cst.Module, tree, active: list[Rule],
                 ignored: set[str]) -> "_Linted":
        """Run the active rules over a parsed module; positions, suppressions, fixes."""
        ctx = Context(module, path)
        emitted: list[tuple[Rule, cst.CSTNode, str, cst.CSTNode | None, str | None, Fix | None]] = []
        failed: dict[str, str] = {}

        def emit(
            rule: Rule, node: cst.CSTNode, message: str, top: cst.CSTNode | None,
            severity: str | None = None, fix: Fix | None = None,
        ) -> None:
            emitted.append((rule, node, message, top, severity, fix))

        def on_error(check: Check, exc: BaseException) -> None:
            detail = traceback.format_exc() if self.debug else _one_line(exc)
            failed[check.rule.id] = detail

        checks: list[Check] = []
        for rule in active:
            try:
                checks.append(self._kinds[rule.id](rule, self.params[rule.id], ctx, emit))
            except Exception as exc:
                failed[rule.id] = traceback.format_exc() if self.debug else _one_line(exc)
        dispatcher = _Dispatcher(ctx, checks, on_error)
        try:
            dispatcher.run(module)
            dispatcher.finish()
        except RecursionError:
            for check in checks:
                failed.setdefault(check.rule.id, "RecursionError: code nested too deeply")
        if any("RecursionError" in detail for detail in failed.values()) and not _deep_stack():
            raise RecursionError("retry on a deep stack")

        text = data.decode(module.encoding, errors="replace")
        lines = text.splitlines()
        shifts: dict[int, int] = {}
        raw = self._place(module, data, tree, path, [e for e in emitted if e[0].id not in failed], shifts)
        for rule_id, detail in sorted(failed.items()):
            raw += self._internal_error(path, rule_id, detail)
        # Checks that judge the other rules' findings (TL002: unused suppressions) run last.
        judges = [c for c in checks if c.judges_findings and c.rule.id not in failed and checks.index(c) not in dispatcher.dead]
        if judges:
            start = len(emitted)
            for check in judges:
                try:
                    check.judge(
                        [f for f, _ in raw], self.selected - ignored - set(failed), self._known,
                        lambda pairs: resolve_positions(module, data, pairs, tree),
                    )
                except Exception as exc:
                    detail = traceback.format_exc() if self.debug else _one_line(exc)
                    raw += self._internal_error(path, check.rule.id, detail)
            raw += self._place(module, data, tree, path, emitted[start:], shifts)
        findings: list[Finding] = []
        fixes: list[tuple[Finding, Fix]] = []
        tops = {id(e[5]): e[3] for e in emitted if e[5] is not None}  # each fix's top-level statement
        for finding, fix in raw:
            if finding.rule not in _UNSUPPRESSIBLE and is_suppressed(lines, finding.line, finding.rule, finding.name):
                continue
            if fix is not None:
                top = tops.get(id(fix))
                shift = shifts.get(id(top))
                place = (top, shift, lines) if top is not None and shift is not None else None
                info = self._describe(module, self.catalog.rules[finding.rule], fix, place)
                if info is not None:
                    finding = dataclasses.replace(finding, fix=info)
                    fixes.append((finding, fix))
            findings.append(finding)
        kept = sorted(set(findings))
        return _Linted(FileResult(path, kept, lines if kept else []), module, fixes)

    def _internal_error(self, path: str, rule_id: str, detail: str) -> list[tuple[Finding, None]]:
        return [(f, None) for f in self._infra(INTERNAL_ERROR, path, 1, 1, f"internal error in {rule_id}: {detail}")]

    def _place(
        self, module: cst.Module, data: bytes, tree, path: str, emitted: list, shifts: dict[int, int],
    ) -> list[tuple[Finding, Fix | None]]:
        """Findings (without fix descriptions yet) at the source positions of emitted nodes;
        `shifts` receives where the statements placed alone sit in the file (for fixes)."""
        if not emitted:
            return []
        positions = resolve_positions(module, data, [(e[1], e[3]) for e in emitted], tree, shifts)
        out = []
        for rule, node, message, _, severity, fix in emitted:
            rng = positions[node]
            out.append((Finding(
                path, rng.start.line, rng.start.column + 1, rng.end.line, rng.end.column + 1,
                rule.id, rule.name, severity or rule.severity.label, message,
            ), fix))
        return out

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

    def fix_source(self, path: str, data: bytes, unsafe: bool = False) -> "FixOutcome":
        """Apply fixes (safe ones, and unsafe ones when asked) in passes until none is left:
        each pass applies fixes that do not touch the same nodes, re-parses, and lints again."""
        fixed: list[Finding] = []
        current = data
        linted = self._lint(path, current, elide=False)
        for _ in range(_MAX_FIX_PASSES):
            todo = [(f, fx) for f, fx in linted.fixes if f.fixable(unsafe)]
            if not todo:
                break
            chosen = compatible([], [fx for _, fx in todo])
            new = apply(linted.module, chosen).bytes
            if not parses(new):
                chosen = chosen[:1]  # each fix parsed on its own: fall back to one at a time
                new = apply(linted.module, chosen).bytes
                if not parses(new):
                    break
            if new == current:
                break
            done = {(fx.key, fx.title) for fx in chosen}
            fixed += [f for f, fx in todo if (fx.key, fx.title) in done]
            current = new
            linted = self._lint(path, current, elide=False)
        return FixOutcome(current, fixed, linted.result)

    def fix_path(self, path: str, mode: "FixMode", cache: Cache | None = None) -> FileResult:
        """`fix_source` on a file: writes the result atomically (mode, encoding, BOM and line
        endings kept) unless `mode.write` is off; never overwrites a file changed meanwhile."""
        data = self._read(path)
        if isinstance(data, FileResult):
            return data
        if cache is not None:
            cached = cache.get(path, data)
            if cached is not None and not any(f.fixable(mode.unsafe) for f in cached):
                return self._cached_result(path, data, cached)
        outcome = self.fix_source(path, data, mode.unsafe)
        result = outcome.result
        if outcome.data == data:
            return result
        result.fixed = outcome.fixed
        if mode.diff:
            encoding = source_encoding(data)
            result.diff = unified_diff(
                path, data.decode(encoding, errors="replace"), outcome.data.decode(encoding, errors="replace")
            )
        if mode.write:
            target = os.path.realpath(path)
            try:
                with open(target, "rb") as fh:
                    changed = fh.read() != data
                if changed:
                    result.notes.append(f"{path}: not fixed: the file changed on disk while torchlint ran")
                    result.fixed = []
                    return result
                atomic_write(Path(target), outcome.data, keep_mode=True)
            except OSError as exc:
                result.notes.append(f"{path}: not fixed: {exc.strerror or _one_line(exc)}")
                result.fixed = []
                return result
            if cache is not None and not any(f.rule == INTERNAL_ERROR for f in result.findings):
                cache.put(path, outcome.data, result.findings)
        return result

    def _read(self, path: str) -> bytes | FileResult:
        """The file's bytes, or a TL000 result saying why it cannot be read."""
        try:
            with open(path, "rb") as fh:
                return fh.read()
        except OSError as exc:
            reason = exc.strerror or _one_line(exc)
            return FileResult(path, self._infra(SYNTAX_ERROR, path, 1, 1, f"cannot read file: {reason}"))

    def lint_path(self, path: str, cache: Cache | None = None, rules: Iterable[str] | None = None) -> FileResult:
        data = self._read(path)
        if isinstance(data, FileResult):
            return data
        if cache is not None:
            cached = cache.get(path, data)
            if cached is not None:
                return self._cached_result(path, data, cached)
        result = self.lint_source(path, data, rules)
        if cache is not None and not any(f.rule == INTERNAL_ERROR for f in result.findings):
            cache.put(path, data, result.findings)  # a crash is not remembered: it may be fixed
        return result

    def _cached_result(self, path: str, data: bytes, cached: list[Finding]) -> FileResult:
        """A cache hit, with the source lines that text output shows under findings."""
        if not cached:
            return FileResult(path, [])
        if is_notebook(path):
            try:
                source = notebook_source(data)
                return FileResult(path, cached, source.text.splitlines(), cell_starts=source.starts)
            except NotebookError:
                return FileResult(path, cached)
        return FileResult(path, cached, data.decode(source_encoding(data), errors="replace").splitlines())

    def cache_for(self, root) -> Cache | None:
        """The cache for this linter's rules, parameters and ignores under `root` (None where
        it cannot be created, e.g. a read-only checkout: the run goes on without one)."""
        try:
            user = [r.path for r in self.rules if not r.builtin]
            return Cache(root, run_key([r.id for r in self.rules], self.params, self.config.per_file_ignores, user))
        except OSError:
            return None

    def run(
        self, paths: Iterable[str], jobs: int = 1, cache: Cache | None = None, fix: FixMode | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> RunResult:
        """Lint `paths` (and fix them when `fix` is given); `jobs` > 1 spreads files over that
        many processes; `progress(done, total)` is called as files finish."""
        files = discover(paths, self.config.exclude, self.config.root, self.config.extend_include)
        limit = self.config.max_file_size
        skipped = [(f, _size(f)) for f in files if limit and _size(f) > limit] if limit else []
        too_big = {f for f, _ in skipped}
        # Notebooks are JSON: their prefilters are tested on the code cells, in the worker.
        notebooks = {f for f in files if f not in too_big and is_notebook(f)}
        plan = prefilter([f for f in files if f not in too_big and f not in notebooks], self.prefilter_rules)
        plan.update(dict.fromkeys(notebooks))
        candidates = [f for f in files if f in plan]
        jobs = max(1, min(jobs, len(candidates) // _MIN_FILES_PER_JOB))
        tick = progress or (lambda done, total: None)
        if jobs == 1:
            results = []
            for path in candidates:
                results.append(_one(self, path, cache, fix, plan[path]))
                tick(len(results), len(candidates))
        else:
            results = _run_pool(self, [(f, plan[f]) for f in candidates], jobs, cache, fix, tick)
        kept = [r for r in results if r.findings or r.fixed or r.notes]
        return RunResult(kept, checked=len(files) - len(skipped), parsed=len(candidates), skipped=skipped)


# A process pays for its start-up (imports, catalog) on each run: below this many files per
# process one process is faster.
_MIN_FILES_PER_JOB = 8
# Fixes that enable other fixes (an import a second fix also needs) take a few passes; a fix
# that keeps re-creating its own finding must not loop forever.
_MAX_FIX_PASSES = 10
_WORKER: tuple["Linter", "Cache | None", "FixMode | None"] | None = None


def _one(
    linter: "Linter", path: str, cache: "Cache | None", fix: "FixMode | None", rules: list[str] | None = None
) -> FileResult:
    if fix is None or is_notebook(path):
        return linter.lint_path(path, cache, rules)
    return linter.fix_path(path, fix, cache)


def _init_worker(linter: "Linter", cache: "Cache | None", fix: "FixMode | None") -> None:
    global _WORKER
    _WORKER = (linter, cache, fix)


def _lint_in_worker(job: tuple[str, list[str] | None]) -> FileResult:
    linter, cache, fix = _WORKER
    path, rules = job
    return _one(linter, path, cache, fix, rules)


_DEEP = "torchlint-deep"


def _deep_stack() -> bool:
    import threading

    return threading.current_thread().name == _DEEP


def _on_deep_stack(fn: Callable, *args: Any) -> Any:
    """`fn(*args)` in a thread with a 512 MB stack and a recursion limit to match."""
    import threading

    box: dict[str, Any] = {}

    def target() -> None:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(200_000)
        try:
            box["value"] = fn(*args)
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            sys.setrecursionlimit(limit)

    previous = threading.stack_size(512 * 1024 * 1024)
    try:
        thread = threading.Thread(target=target, name=_DEEP)
        thread.start()
    finally:
        threading.stack_size(previous)
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _run_pool(
    linter: "Linter", work: list[tuple[str, list[str] | None]], jobs: int, cache: "Cache | None", fix: "FixMode | None",
    tick: Callable[[int, int], None],
) -> list[FileResult]:
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    # Big files first: the slowest file should not start last.
    order = sorted(work, key=lambda job: _size(job[0]), reverse=True)
    try:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                 initargs=(linter, cache, fix)) as pool:
            results = []
            for result in pool.map(_lint_in_worker, order, chunksize=max(1, min(16, len(order) // (jobs * 8)))):
                results.append(result)
                tick(len(results), len(order))
            return results
    except BrokenProcessPool:
        # A worker died (killed for memory, a crash in a C extension): finish in this process,
        # where the cache makes the files already linted cheap.
        print("torchlint: a worker process died; continuing in one process", file=sys.stderr)
        return [_one(linter, path, cache, fix, rules) for path, rules in work]


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


# CPython's limits (nesting, NUL bytes): past them libcst's native parser may crash the process.
_FATAL_SYNTAX = ("too many nested", "too many levels of indentation", "too complex", "null bytes")


def _cpython_parse(data: bytes) -> tuple[ast.Module | None, tuple[int, int, str] | None, bool]:
    """CPython's AST or the TL000 (line, column, message) it gives, and whether that verdict is
    final (the file must not reach libcst)."""
    try:
        return compile(data, "<file>", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True), None, False
    except SyntaxError as exc:
        fatal = any(words in exc.msg for words in _FATAL_SYNTAX)
        return None, (exc.lineno or 1, exc.offset or 1, f"syntax error: {exc.msg}"), fatal
    except (RecursionError, MemoryError):
        return None, (1, 1, "cannot parse: nested too deeply for Python's own parser"), True
    except ValueError as exc:  # NUL bytes
        return None, (1, 1, f"syntax error: {str(exc) or 'source cannot be compiled'}"), True
    except Exception as exc:
        return None, (1, 1, f"cannot parse: {_one_line(exc)}"), False


def source_encoding(data: bytes) -> str:
    """The source encoding of `data` (PEP 263 cookie or BOM), UTF-8 when unsure."""
    import io
    import tokenize

    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except (SyntaxError, LookupError):
        return "utf-8"


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
