"""Device values and the names that choose them. A *selection* is a `return` of, or an
assignment to a `*device*` name of, a device value: a device string (`"cuda"`, `"mps:0"`),
`torch.device(...)`, or a conditional expression over those (torchlint.analysis.selections)."""

from __future__ import annotations

from typing import Iterable

import libcst as cst

from torchlint.analysis.guards import device_literal, mentions_cuda_probe
from torchlint.analysis.names import ImportMap, _statements, contains, dotted, last_name, snake_words
from torchlint.analysis.settings import configured_globals
from torchlint.walk import children

CUDA_AVAILABLE = frozenset({"torch.cuda.is_available"})
MPS_PROBES = frozenset({"torch.backends.mps.is_available", "torch.backends.mps.is_built", "torch.mps.is_available"})
ENV_READERS = frozenset({"os.environ.get", "os.getenv", "os.environ.__getitem__", "os.environ.setdefault"})
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
        return (body or {"?"}) | (orelse or {"?"})  # `"cuda:" + str(i) if ok else "cpu"`: one side unknown
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


def mentions_override(name: str, words: Iterable[str]) -> bool:
    """`TRANSFORMERS_FORCE_CPU`, `force_cpu`, `use_gpu`, `device`: a name that chooses the device
    (`words`: vocabulary `override_words`)."""
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
    """Module-level names assigned from a device-choosing environment variable (`SUNO_ENABLE_MPS`),
    or device settings a configurator `exec` overrides."""
    found: set[str] = {n for n in configured_globals(module) if mentions_override(n, words)}
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
        key = _config_key(node, imports)  # `properties.get("gpu_id")`: the server's configuration
        if key is not None and mentions_override(key, words):
            found.append(key)
            return True
        if isinstance(node, cst.Attribute) and imports.qualname(node) is None:
            spelled = dotted(node)
            if spelled and not spelled.startswith("torch.") and mentions_override(node.attr.value, words):
                if not isinstance(node.value, cst.Call):
                    found.append(spelled)
                    return True
        return False

    contains(test, hit)
    return found[0] if found else None


def _config_key(node: cst.CSTNode, imports: ImportMap) -> str | None:
    """The string key of a configuration lookup, `cfg.get("gpu_id")` or `cfg["device"]` (not an
    environment read: those are judged as environment variables)."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get" \
            and node.args and env_var_read(node, imports) is None:
        key = node.args[0].value
    elif isinstance(node, cst.Subscript) and len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) \
            and imports.qualname(node.value) not in ("os.environ",):
        key = node.slice[0].slice.value
    else:
        return None
    return key.evaluated_value if isinstance(key, cst.SimpleString) and isinstance(key.evaluated_value, str) else None


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


def unread_cuda_label(module: cst.Module, targets) -> bool:
    """`CUDA_DEVICE = "cuda"` at module level, unread there: a name for the CUDA device that other
    modules import (whether they check for CUDA first is decided where they use it)."""
    if len(targets) != 1 or not isinstance(targets[0].target, cst.Name):
        return False
    name = targets[0].target.value
    if not {"cuda", "gpu"} & set(snake_words(name)):
        return False
    spelled: list[cst.Name] = []
    contains(module, lambda n: isinstance(n, cst.Name) and n.value == name and spelled.append(n))
    return len(spelled) == 1  # only its own assignment


def read_where_cuda_is(ctx, targets, depth: int = 0) -> bool:
    """`DEVICE = "cuda"` at module level, read only where CUDA is known: inside `if
    torch.cuda.is_available():`, as an argument of a `torch.cuda.*` call, or by another
    module-level label read only so (ChatGLM's `CUDA_DEVICE = f"{DEVICE}:{DEVICE_ID}"`, used by
    `torch_gc()` under the check). It places nothing."""
    if depth > 3 or len(targets) != 1 or not isinstance(targets[0].target, cst.Name):
        return False
    name = targets[0].target.value
    reads: list[tuple[bool, object]] = []  # (known to be CUDA there, the label whose value holds it)
    stack: list[tuple[cst.CSTNode, bool, object]] = []  # an explicit stack: no recursive closure cycle
    for stmt in ctx.module.body:
        assign = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 else None
        if isinstance(assign, cst.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name):
            if assign.targets[0].target.value != name:
                stack.append((assign.value, False, assign.targets))  # a label built from this one
        else:
            stack.append((stmt, False, None))
    while stack:
        node, known, label = stack.pop()
        if isinstance(node, cst.Name):
            if node.value == name:
                reads.append((known, label))
        elif isinstance(node, cst.If) and mentions_cuda_probe(node.test, ctx):
            stack += [(node.test, known, label), (node.body, True, label)]
            if node.orelse is not None:
                stack.append((node.orelse, known, label))
        else:
            known = known or (isinstance(node, cst.Call) and (ctx.imports.qualname(node.func) or "").startswith(
                "torch.cuda."))
            stack += [(child, known, label) for child in children(node)]
    return bool(reads) and all(known or (label is not None and read_where_cuda_is(ctx, label, depth + 1))
                               for known, label in reads)


def catches_cuda_failure(node: cst.CSTNode) -> bool:
    """A `try` whose handler catches the failure without CUDA and carries on: not one that only
    reports it and gives up (`except: return print(traceback.format_exc())`)."""
    handlers = getattr(node, "handlers", ())
    return any(
        (h.type is None or (last_name(h.type) or "") in ("RuntimeError", "AssertionError", "Exception", "BaseException"))
        and not _gives_up(h)
        for h in handlers
    )


_REPORTERS = ("print", "format_exc", "print_exc", "exception", "error", "warning", "warn", "critical")


def _gives_up(handler: cst.ExceptHandler) -> bool:
    """Does the handler only report the failure (print, log, traceback) and then leave: `raise`,
    `sys.exit(...)`, `return print(...)`? Then the code has no path without CUDA, it only
    fails politely. A handler that reports and falls through carries on without CUDA, and
    `return None` is an answer ("no CUDA backend")."""
    body = handler.body.body if isinstance(handler.body, cst.IndentedBlock) else []
    if not body or not all(isinstance(statement, cst.SimpleStatementLine) for statement in body):
        return False
    smalls = [small for statement in body for small in statement.body]

    def reports(expr: cst.BaseExpression | None) -> bool:
        return isinstance(expr, cst.Call) and (last_name(expr.func) or "") in _REPORTERS

    def leaves(small: cst.BaseSmallStatement) -> bool:
        if isinstance(small, cst.Raise):
            return True
        if isinstance(small, cst.Return):
            return reports(small.value)
        return isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) \
            and last_name(small.value.func) == "exit"

    *before, last = smalls
    return leaves(last) and all(isinstance(s, cst.Expr) and reports(s.value) for s in before)
