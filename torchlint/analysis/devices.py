"""Device selection: which functions pick a device, and what they consider while doing it.

Shared by TL102 (incomplete fallback), TL103 (detection per request) and TL502 (MPS without
an opt-out). A *selection* is a `return` of, or an assignment to a `*device*` name of, a device
value: a device string (`"cuda"`, `"mps:0"`), `torch.device(...)`, or a conditional expression
over those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Iterator

import libcst as cst

from torchlint.analysis.context import Context, _assigned_names
from torchlint.analysis.guards import device_literal
from torchlint.analysis.names import ImportMap, _statements, contains, dotted, last_name, snake_words
from torchlint.walk import children

CUDA_AVAILABLE = frozenset({"torch.cuda.is_available"})
MPS_PROBES = frozenset({"torch.backends.mps.is_available", "torch.backends.mps.is_built", "torch.mps.is_available"})
ENV_READERS = frozenset({"os.environ.get", "os.getenv", "os.environ.__getitem__", "os.environ.setdefault"})
# snake_case words of an environment variable, parameter or setting that chooses the device.
OVERRIDE_WORDS = frozenset({"device", "devices", "cpu", "cuda", "mps", "gpu", "gpus", "accel", "accelerator"})
# Function names with one of these words select devices as their job.
PURPOSE_WORDS = frozenset({"device", "devices", "accelerator"})
PROBE_WORDS = frozenset({"available", "availability", "is", "has", "supported", "supports"})
CACHE_DECORATORS = frozenset({"functools.cache", "functools.lru_cache", "functools.cached_property", "cache",
                              "lru_cache", "cached_property"})


def device_value_kinds(expr: cst.BaseExpression | None, imports: ImportMap) -> set[str] | None:
    """Device types an expression evaluates to (`{"cuda", "cpu"}` for `"cuda" if c else "cpu"`),
    or None when it is not a device value."""
    if expr is None:
        return None
    literal = device_literal(expr)
    if literal is not None:
        return {literal}
    if isinstance(expr, cst.IfExp):
        body = device_value_kinds(expr.body, imports)
        orelse = device_value_kinds(expr.orelse, imports)
        if body is None and orelse is None:
            return None
        return (body or set()) | (orelse or set())
    if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.Or):
        left = device_value_kinds(expr.left, imports)
        right = device_value_kinds(expr.right, imports)
        if left is None and right is None:
            return None
        return (left or {"?"}) | (right or {"?"})
    if isinstance(expr, cst.Call) and imports.qualname(expr.func) == "torch.device" and expr.args:
        inner = device_value_kinds(expr.args[0].value, imports)
        return inner if inner is not None else {"?"}
    return None


def env_var_read(node: cst.CSTNode, imports: ImportMap) -> str | None:
    """The variable name of `os.environ.get("X")`, `os.getenv("X")`, `os.environ["X"]`, `"X" in os.environ`."""
    if isinstance(node, cst.Call) and imports.qualname(node.func) in ENV_READERS and node.args:
        arg = node.args[0].value
        return arg.evaluated_value if isinstance(arg, cst.SimpleString) else None
    if isinstance(node, cst.Subscript) and imports.qualname(node.value) == "os.environ":
        index = node.slice[0].slice if node.slice else None
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return index.value.evaluated_value
    if isinstance(node, cst.Comparison) and isinstance(node.left, cst.SimpleString):
        for target in node.comparisons:
            if isinstance(target.operator, (cst.In, cst.NotIn)) and imports.qualname(target.comparator) == "os.environ":
                return node.left.evaluated_value
    return None


def mentions_override(name: str, words: Iterable[str] = OVERRIDE_WORDS) -> bool:
    """`TRANSFORMERS_FORCE_CPU`, `force_cpu`, `use_gpu`, `device`: a name that chooses the device."""
    parts = set(snake_words(name)) | set(name.lower().split("_"))
    return bool(parts & set(words))


def is_cached(func: cst.FunctionDef, imports: ImportMap) -> bool:
    """Decorated with `functools.cache`/`lru_cache`, or memoised in a `global`."""
    for dec in func.decorators:
        target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
        if (imports.qualname(target) or dotted(target) or "") in CACHE_DECORATORS:
            return True
    return any(isinstance(s, cst.Global) for s in _statements(func.body.body))


def _module_override_globals(module: cst.Module, imports: ImportMap, words: frozenset[str]) -> set[str]:
    """Module-level names assigned from a device-choosing environment variable (`SUNO_ENABLE_MPS`)."""
    found: set[str] = set()
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, (cst.Assign, cst.AnnAssign)) and small.value is not None:
                var = _first_env_read(small.value, imports)
                if var is not None and mentions_override(var, words):
                    targets = small.targets if isinstance(small, cst.Assign) else [small]
                    for t in targets:
                        if isinstance(t.target, cst.Name):
                            found.add(t.target.value)
    return found


def _first_env_read(expr: cst.CSTNode, imports: ImportMap) -> str | None:
    result: list[str] = []

    def hit(node: cst.CSTNode) -> bool:
        var = env_var_read(node, imports)
        if var is not None:
            result.append(var)
            return True
        return False

    contains(expr, hit)
    return result[0] if result else None


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

    @property
    def is_selector(self) -> bool:
        """Picks a device after asking CUDA, as its job: the functions TL102 is about."""
        return self.probes_cuda and bool(self.selections) and self.purpose

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

    def __init__(self, ctx: Context, override_words: Iterable[str] = OVERRIDE_WORDS,
                 override_env: Iterable[str] = ()):
        self.ctx = ctx
        self.imports = ctx.imports
        self.words = frozenset(override_words)
        self.override_env = frozenset(override_env)
        self._memo: dict[int, Selection] = {}
        self._override_globals: set[str] | None = None  # computed on first use
        self._final_calls: set[tuple[str | None, str]] = set()

    def note_call(self, call: cst.Call) -> None:
        """Remember a call (seen during traversal) to a function of this module that its caller
        cannot steer: not under `if device == "auto":`, not the fallback of `device or f()`."""
        key = self.ctx.callee_key(call.func)
        if key is not None and key not in self._final_calls and not _overridable_here(self.ctx, self.words):
            self._final_calls.add(key)

    def consumed_here(self, func: cst.FunctionDef) -> bool:
        """Is a selection used in its own module: called here by a call noted with `note_call`,
        or a method (its `self.device` is the object's)? Ask after the traversal."""
        return self.ctx.class_of(func) is not None or self.ctx.function_key(func) in self._final_calls

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
            if isinstance(node, cst.Return) or _assigns_device_name(node):
                value = node.value
                kinds = device_value_kinds(value, imports)
                if kinds is None and isinstance(node, cst.Return) and (
                    value is None or (isinstance(value, cst.Name) and value.value == "None")
                ):
                    sel.has_cpu_return = True  # "no accelerator": the caller falls back
                    sel.has_cpu = True
                if kinds is not None:
                    sel.selections.append((node, kinds))
                    sel.purpose = sel.purpose or _sets_self_device(node)
                    sel.has_cpu = sel.has_cpu or "cpu" in kinds
                    sel.probes_mps = sel.probes_mps or "mps" in kinds
            if isinstance(node, cst.SimpleString) and device_literal(node) == "mps":
                sel.probes_mps = True
            return False

        returned: set[str] = set()
        stack = list(body)
        while stack:
            node = stack.pop()
            walk(node)
            stack.extend(c for c in children(node) if not isinstance(c, (cst.FunctionDef, cst.ClassDef)))
        if isinstance(scope, cst.FunctionDef):
            # A local `device = ...` selects only if the function hands it out (`return device`)
            # or it is the object's `self.device`; a local used in passing (to query a
            # capability, to trace a pattern) is not the function's result.
            sel.selections = [
                (n, k) for n, k in sel.selections
                if isinstance(n, cst.Return) or _sets_self_device(n) or {name for name, _ in _assigned_names(n)} & returned
            ]
            sel.has_cpu = sel.has_cpu_return or any("cpu" in k for _, k in sel.selections)
        return sel


def mentions_mps_text(expr: cst.CSTNode) -> bool:
    """Does a (formatted) string in `expr` mention MPS?"""
    return contains(expr, _mps_text)


def _mps_text(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.SimpleString):
        try:
            text = node.evaluated_value
        except Exception:
            return False
        return isinstance(text, str) and "mps" in text.lower()
    if isinstance(node, cst.FormattedStringText):
        return "mps" in node.value.lower()
    return False


def _sets_self_device(node: cst.CSTNode) -> bool:
    """`self.device = ...` / `self._device = ...`."""
    if not isinstance(node, (cst.Assign, cst.AnnAssign)):
        return False
    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
    return any(
        isinstance(t, cst.Attribute) and dotted(t.value) == "self" and snake_words(t.attr.value) == ["device"]
        for t in targets
    )


def _assigns_device_name(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Assign):
        targets = [t.target for t in node.targets]
    elif isinstance(node, cst.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return False
    for t in targets:
        name = last_name(t) if isinstance(t, (cst.Name, cst.Attribute)) else None
        if name and "device" in snake_words(name):
            return True
    return False


def _setting_in_test(test: cst.BaseExpression, imports: ImportMap, words: frozenset[str]) -> str | None:
    """`args.cpu`, `self.config.use_gpu`, `settings.device == "cpu"`: a configured choice."""
    found: list[str] = []

    def hit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Attribute) and imports.qualname(node) is None:
            spelled = dotted(node)
            if spelled and not spelled.startswith("torch.") and mentions_override(node.attr.value, words):
                if not isinstance(node.value, cst.Call):
                    found.append(spelled)
                    return True
        return False

    contains(test, hit)
    return found[0] if found else None


def selection_statements(sel: Selection, kind: str) -> Iterator[cst.CSTNode]:
    for node, kinds in sel.selections:
        if kind in kinds and id(node) not in sel.mapped and id(getattr(node, "value", None)) not in sel.mapped:
            yield node


def _compares_to_mps(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Comparison) and any(
        isinstance(c.operator, cst.Equal) and device_literal(c.comparator) == "mps" for c in node.comparisons
    )


def _param_choice(test: cst.BaseExpression, params: set[str]) -> str | None:
    """`requested == "auto"`, `device_arg != "cpu"`: the caller's choice decides this branch."""
    if not params:
        return None
    found: list[str] = []

    def hit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Comparison) and isinstance(node.left, cst.Name) and node.left.value in params:
            for c in node.comparisons:
                if isinstance(c.comparator, cst.SimpleString) and (
                    device_literal(c.comparator) is not None or c.comparator.evaluated_value == "auto"
                ):
                    found.append(node.left.value)
                    return True
        return False

    contains(test, hit)
    return found[0] if found else None


def selects_device(node: cst.CSTNode, imports: ImportMap) -> bool:
    """Does this branch (an expression, a statement or a suite) pick a device?"""
    if isinstance(node, cst.BaseExpression):
        return device_value_kinds(node, imports) is not None
    for stmt in _statements([node] if not isinstance(node, cst.BaseSuite) else node.body):
        if isinstance(stmt, cst.Return) or _assigns_device_name(stmt):
            if device_value_kinds(stmt.value, imports) is not None:
                return True
    return False


def _overridable_here(ctx: Context, words: Iterable[str] = OVERRIDE_WORDS) -> bool:
    """Is the current call reached only when the caller did not choose a device: under
    `if device == "auto":` / `if device is None:`, or as the fallback of `device or get_device()`?"""
    words = frozenset(words)

    def names_choice(node: cst.CSTNode) -> bool:
        name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else None
        return isinstance(name, str) and mentions_override(name, words)

    if any(contains(c.test, names_choice) for c in ctx.conditions()):
        return True
    stack = ctx.stack
    for i in range(len(stack) - 2, 0, -1):
        node = stack[i]
        if isinstance(node, cst.BooleanOperation) and isinstance(node.operator, cst.Or) \
                and node.right is stack[i + 1] and names_choice(node.left):
            return True
        if isinstance(node, cst.BaseStatement) or isinstance(node, cst.BaseSmallStatement):
            break
    return False
