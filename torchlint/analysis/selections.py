"""Device-selection functions: what one function (or the module body) considers while it picks
a device: CUDA and MPS probes, a CPU fallback, an override the caller can use. Shared by TL102,
TL103 and TL502."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.index import assigned_names
from torchlint.analysis.devices import (
    CUDA_AVAILABLE, MPS_PROBES, PROBE_WORDS, PURPOSE_WORDS, _assigns_device_name, _compares_to_mps,
    _module_override_globals, _param_choice, _sets_self_device, _setting_in_test, configured_globals,
    device_value_kinds, env_var_read, mentions_override,
)
from torchlint.analysis.guards import device_literal
from torchlint.analysis.names import ImportMap, _statements, contains, descendants, dotted, last_name, snake_words
from torchlint.walk import children


@dataclass
class Selection:
    """What one function (or the module body) does when it picks a device."""

    node: cst.CSTNode
    probes_cuda: bool = False
    probes_mps: bool = False
    has_cpu: bool = False
    override: str | None = None  # what lets a caller choose: a parameter, an env var, a setting
    selections: list[tuple[cst.CSTNode, set[str]]] = field(default_factory=list)
    # Selecting the device is the function's job: its name says so (`get_device`,
    # `infer_device`), or it sets the object's `self.device`. A compiler pass or profiler that
    # picks a tracing device in passing is not a device-selection function.
    purpose: bool = False
    probe: bool = False  # named as a capability probe (`_get_available_device_type`)
    has_cpu_return: bool = False  # returns None when there is no accelerator
    mapped: set[int] = field(default_factory=set)  # statements under `if x == "mps":`
    bundled: bool = False  # handed out with other results (`return ddp, rank, device`)

    @property
    def is_selector(self) -> bool:
        """Picks a device after asking CUDA, as its job: the functions TL102 is about. (A choice
        whose every branch is the CPU, `"cpu" if cuda else "cpu"`, picks nothing.)"""
        return self.probes_cuda and bool(self.selections) and self.purpose \
            and any(kinds - {"cpu"} for _, kinds in self.selections)

    def missing(self) -> list[str]:
        out = []
        if not self.probes_mps:
            out.append("never considers MPS")
        if not self.has_cpu:
            out.append("has no CPU fallback")
        if self.override is None:
            out.append("offers no override to force CPU / skip MPS")
        return out


class DeviceSelections:
    """Analyses functions on demand (memoised per function node)."""

    def __init__(self, ctx: Context, override_env: Iterable[str] = ()):
        self.ctx = ctx
        self.imports = ctx.imports
        self.words = ctx.vocab.override_words
        self.override_env = frozenset(override_env)
        self._memo: dict[int, Selection] = {}
        self._tested: dict[int, bool] = {}  # branch test -> does it read a device choice
        self._override_globals: set[str] | None = None  # computed on first use
        # function of this module -> the functions (None: module level) that call it where the
        # caller cannot steer the choice
        self._final_calls: dict[tuple[str | None, str], set[tuple[str | None, str] | None]] = {}
        self._called: set[tuple[str | None, str]] = set()  # every function of this module called here

    def note_call(self, call: cst.Call) -> None:
        """Remember a call (seen during traversal) to a function of this module that its caller
        cannot steer: not under `if device == "auto":`, not the fallback of `device or f()`."""
        key = self.ctx.callee_key(call.func)
        if key is None:
            return
        self._called.add(key)
        if not _overridable_here(self.ctx, self.words, self._tested):
            caller = self.ctx.function
            self._final_calls.setdefault(key, set()).add(
                self.ctx.function_key(caller) if caller is not None else None)

    def consumed_here(self, func: cst.FunctionDef) -> bool:
        """Is a selection used in its own module: called here by a call noted with `note_call`,
        or a method (its `self.device` is the object's) unless every call of it here is the
        caller's "auto" branch (`self.select_device() if device == "auto" else device`), also
        through helpers that only such branches call? Ask after the traversal."""
        key = self.ctx.function_key(func)
        cls = self.ctx.class_of(func)
        if cls is not None and _device_settable(cls):
            return False  # `def update(self, device): self.device = device`: callers choose
        if cls is not None and key not in self._called:
            return True
        return self._consumed(key, set())

    def _consumed(self, key: tuple[str | None, str], seen: set) -> bool:
        if key in seen:
            return False
        seen.add(key)
        for caller in self._final_calls.get(key, ()):
            if caller is None or caller not in self._called or self._consumed(caller, seen):
                return True  # module level, an entry point nothing here calls, or a consumed caller
        return False

    def _is_override_env(self, var: str) -> bool:
        return var in self.override_env or mentions_override(var, self.words)

    def analyse(self, scope: cst.FunctionDef | cst.Module) -> Selection:
        key = id(scope)
        if key not in self._memo:
            self._memo[key] = self._analyse(scope)
        return self._memo[key]

    def _analyse(self, scope: cst.FunctionDef | cst.Module) -> Selection:
        sel = Selection(scope)
        imports = self.imports
        if isinstance(scope, cst.FunctionDef):
            params = scope.params
            for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
                if p.name.value not in ("self", "cls") and mentions_override(p.name.value, self.words):
                    sel.override = f"parameter `{p.name.value}`"
                    break
            body: Iterable[cst.CSTNode] = [scope.body]
            params = {p.name.value for p in [*scope.params.posonly_params, *scope.params.params,
                                             *scope.params.kwonly_params] if p.name.value not in ("self", "cls")}
            words = set(snake_words(scope.name.value))
            # `_get_available_device_type()`, `is_accelerator_available()`: capability probes
            # that report what exists, for callers that decide; not selections.
            sel.probe = bool(words & PROBE_WORDS)
            sel.purpose = bool(words & PURPOSE_WORDS) and not sel.probe
        else:
            sel.purpose = True
            params = set()
            body = [s for s in scope.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
        if self._override_globals is None:
            self._override_globals = _module_override_globals(self.ctx.module, imports, self.words)
        override_globals = self._override_globals
        chosen: dict[str, str] = {}  # `device = cmd.device`: names holding a configured choice (on first use)

        def copied(name: str) -> str | None:
            if not chosen:
                chosen.update({n: spelled for st in body for a in descendants(st) if isinstance(a, cst.Assign)
                               for n, spelled in [_copied_setting(a, imports, self.words)] if n} or {"": ""})
            return chosen.get(name)

        def walk(node: cst.CSTNode) -> bool:
            if isinstance(node, cst.Call):
                qual = imports.qualname(node.func)
                if qual in CUDA_AVAILABLE:
                    sel.probes_cuda = True
                elif qual in MPS_PROBES:
                    sel.probes_mps = True
            if sel.override is None:
                var = env_var_read(node, imports)
                if var is not None and self._is_override_env(var):
                    sel.override = f"environment variable `{var}`"
                elif isinstance(node, cst.Name) and node.value in override_globals:
                    sel.override = f"setting `{node.value}`"
            if isinstance(node, (cst.If, cst.IfExp, cst.While)) and sel.override is None:
                setting = _setting_in_test(node.test, imports, self.words)
                if setting is None:
                    setting = _param_choice(node.test, params)
                if setting is None:  # `device = cmd.device`, then `if device is None:` picks a default
                    setting = next((copied(n.value) for n in descendants(node.test)
                                    if isinstance(n, cst.Name) and copied(n.value)), None)
                if setting is not None:
                    sel.override = f"setting `{setting}`"
            if isinstance(node, (cst.If, cst.IfExp)) and contains(node.test, _compares_to_mps):
                # `if device_str == "mps": return "mps"`: a mapping of a known device, not a choice
                if isinstance(node, cst.If):
                    sel.mapped.update(id(n) for n in _statements(node.body.body))
                else:
                    sel.mapped.add(id(node))
            if isinstance(node, cst.Return) and isinstance(node.value, cst.Name) and node.value.value in params \
                    and sel.override is None:
                sel.override = f"parameter `{node.value.value}`"  # `if requested != "auto": return requested`
            if isinstance(node, cst.Return) and isinstance(node.value, cst.Name):
                returned.add(node.value.value)
            elif isinstance(node, cst.Return) and isinstance(node.value, cst.Tuple):
                # `return ddp, rank, device`: the device is one of the results
                names = {e.value.value for e in node.value.elements if isinstance(e.value, cst.Name)}
                returned.update(names)
                tupled.update(names)
            if isinstance(node, cst.Return) or _assigns_device_name(node):
                value = node.value
                kinds = device_value_kinds(value, imports)
                if kinds is None and isinstance(node, cst.Return) and (
                    value is None or (isinstance(value, cst.Name) and value.value == "None")
                    or (isinstance(value, cst.SimpleString) and value.evaluated_value == "auto")
                ):
                    sel.has_cpu_return = True  # "no accelerator" or "auto": the caller or runtime falls back
                    sel.has_cpu = True
                if kinds is not None:
                    sel.selections.append((node, kinds))
                    sel.purpose = sel.purpose or _sets_self_device(node)
                    sel.has_cpu = sel.has_cpu or "cpu" in kinds
                    sel.probes_mps = sel.probes_mps or "mps" in kinds
            if isinstance(node, cst.SimpleString) and device_literal(node) == "mps":
                sel.probes_mps = True
            if isinstance(node, cst.Assign) and "cpu" in (device_value_kinds(node.value, imports) or ()):
                cpu_held.add(dotted(node.targets[0].target) or "")  # `self.map_location = "cpu"`
            return False

        cpu_held: set[str] = set()

        returned: set[str] = set()
        tupled: set[str] = set()
        stack = list(body)
        while stack:
            node = stack.pop()
            if isinstance(node, cst.Assert):
                continue  # `assert torch.cuda.is_available()` validates a choice made elsewhere
            walk(node)
            stack.extend(c for c in children(node) if not isinstance(c, (cst.FunctionDef, cst.ClassDef)))
        if isinstance(scope, cst.FunctionDef):
            # A local `device = ...` selects only if the function hands it out (`return device`)
            # or it is the object's `self.device`; a local used in passing (to query a
            # capability, to trace a pattern) is not the function's result.
            sel.selections = [
                (n, k) for n, k in sel.selections
                if isinstance(n, cst.Return) or _sets_self_device(n) or {name for name, _ in assigned_names(n)} & returned
            ]
            sel.bundled = any({name for name, _ in assigned_names(n)} & tupled for n, _ in sel.selections)
            # A function that hands out the device it picked after asking CUDA selects devices
            # as part of its job (`compute_init()` returning `(ddp, rank, device)`).
            sel.purpose = sel.purpose or (not sel.probe and any(
                not isinstance(n, cst.Return) and not _sets_self_device(n) for n, _ in sel.selections))
            sel.has_cpu = sel.has_cpu_return or any(
                "cpu" in k or ("?" in k and contains(n, lambda x: (dotted(x) or "-") in cpu_held))
                for n, k in sel.selections)  # `torch.device(self.map_location)`, set to "cpu" above
        else:
            # `device = 'cuda'` before a configurator `exec`: a setting's default, not a choice
            # and `device_type = 'cuda' if 'cuda' in device else 'cpu'` maps that setting
            configured = configured_globals(scope)

            def reads_setting(node: cst.CSTNode) -> bool:
                value = getattr(node, "value", None)
                return isinstance(value, cst.IfExp) and contains(
                    value.test, lambda x: isinstance(x, cst.Name) and x.value in configured)

            sel.selections = [(n, k) for n, k in sel.selections if not configured or not (
                {name for name, _ in assigned_names(n)} <= configured or reads_setting(n))]
        return sel


def selection_statements(sel: Selection, kind: str) -> Iterator[cst.CSTNode]:
    for node, kinds in sel.selections:
        if kind in kinds and id(node) not in sel.mapped and id(getattr(node, "value", None)) not in sel.mapped:
            yield node


def _device_settable(cls: cst.ClassDef) -> bool:
    """Does a method of the class set the object's device from its own parameter
    (`def update_pipe(self, device): ... self.device = device`)? Then the selection is a default."""
    for method in cls.body.body:
        if not isinstance(method, cst.FunctionDef):
            continue
        params = {p.name.value for p in method.params.params if "device" in snake_words(p.name.value)}
        for node in descendants(method.body) if params else ():
            if isinstance(node, cst.Assign) and isinstance(node.value, cst.Name) and node.value.value in params \
                    and any("device" in snake_words(dotted(t.target) or "") for t in node.targets
                            if (dotted(t.target) or "").startswith("self.")):
                return True
    return False


def _overridable_here(ctx: Context, words: Iterable[str], tested: dict[int, bool]) -> bool:
    """Is the current call reached only when the caller did not choose a device: under
    `if device == "auto":` / `if device is None:`, or as the fallback of `device or get_device()`?
    (`tested`: each branch test's answer, asked once per test for all the calls below it.)"""
    words = frozenset(words)

    def names_choice(node: cst.CSTNode) -> bool:
        name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else None
        return isinstance(name, str) and mentions_override(name, words)

    for c in ctx.conditions():
        if id(c.test) not in tested:
            tested[id(c.test)] = contains(c.test, names_choice)
        if tested[id(c.test)]:
            return True
    stack = ctx.stack
    for i in range(len(stack) - 2, 0, -1):
        node = stack[i]
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or) \
                and node.right is stack[i + 1] and names_choice(node.left):
            return True
        if isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == "default" \
                and _option_names_choice(stack[i - 1], words):
            return True  # `parser.add_argument("--device", default=get_default_device())`
        if isinstance(node, cst.BaseStatement) or isinstance(node, cst.BaseSmallStatement):
            break
    return False


def _copied_setting(assign: cst.Assign, imports: ImportMap, words: frozenset[str]) -> tuple[str | None, str]:
    """`device = cmd.device`, `s = config("DEVICE", default="")`: a local name holding a
    configured choice (an attribute, or a config getter's key, named like a device choice)."""
    if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
        return None, ""
    value = assign.value
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and not value.args \
            and value.func.attr.value in ("lower", "upper", "strip", "casefold"):
        value = value.func.value  # `requested = self.config.device.lower()`: the same setting
    setting = _setting_in_test(value, imports, words) if isinstance(value, cst.Attribute) else None
    if isinstance(value, cst.Call) and value.args and value.args[0].keyword is None \
            and isinstance(value.args[0].value, cst.SimpleString) and device_literal(value.args[0].value) is None \
            and mentions_override(str(value.args[0].value.evaluated_value), words) \
            and not (imports.qualname(value.func) or "").startswith("torch."):
        setting = f"{dotted(value.func) or 'config'}({value.args[0].value.value})"
    return (assign.targets[0].target.value, setting) if setting else (None, "")


def _option_names_choice(call: cst.CSTNode, words: frozenset[str]) -> bool:
    """`parser.add_argument("--device", ...)`: a command-line option that chooses the device."""
    return isinstance(call, cst.Call) and last_name(call.func) == "add_argument" and any(
        isinstance(a.value, cst.SimpleString) and mentions_override(str(a.value.evaluated_value).lstrip("-"), words)
        for a in call.args)
