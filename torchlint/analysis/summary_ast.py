"""CPython `ast` helpers the per-file summary (torchlint.analysis.summary) reads code with."""

from __future__ import annotations

import ast

from torchlint.analysis.grad_names import SET_GRAD_ENABLED
from torchlint.analysis.names import is_ddp_name

DEVICE_WORDS = frozenset({"cuda", "mps", "cpu", "xpu", "npu"})
PLACING = frozenset({"to", "cuda", "xpu", "npu", "to_empty"})


def dotted(node: ast.AST) -> str | None:
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is ast.Name:
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def import_pairs(node: ast.Import | ast.ImportFrom) -> list[tuple[str, str]]:
    if isinstance(node, ast.Import):
        return [(a.asname or a.name.split(".")[0], a.name if a.asname else a.name.split(".")[0]) for a in node.names]
    base = "." * node.level + (node.module or "")
    sep = "" if not base or base.endswith(".") else "."
    # `from m import *` is kept as ("*", "m"): the project phase looks names up there.
    return [(a.asname or a.name, f"{base}{sep}{a.name}") if a.name != "*" else ("*", base) for a in node.names]


def about_ddp(test: ast.AST) -> bool:
    """Does a branch test ask whether this is a multi-process run?"""
    stack = [test]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is ast.Name:
            if is_ddp_name(node.id):
                return True
            continue
        if kind is ast.Attribute:
            if is_ddp_name(node.attr):
                return True
            stack.append(node.value)
        elif kind is ast.Constant:
            continue
        else:
            stack.extend(ast.iter_child_nodes(node))
    return False


def is_main_test(test: ast.AST) -> bool:
    return (type(test) is ast.Compare and type(test.left) is ast.Name and test.left.id == "__name__"
            and any(type(c) is ast.Constant and c.value == "__main__" for c in test.comparators))


def placing(value: ast.AST | None) -> bool:
    """`x.to(device)`, also followed by `.eval()`/`.half()`/`.float()`."""
    while type(value) is ast.Call and type(value.func) is ast.Attribute and value.func.attr in ("eval", "half", "float"):
        value = value.func.value
    return type(value) is ast.Call and type(value.func) is ast.Attribute and value.func.attr in PLACING


def device_literal(node: ast.AST) -> bool:
    return type(node) is ast.Constant and isinstance(node.value, str) and node.value.split(":")[0] in DEVICE_WORDS


def requests_gpu(decorator: ast.Call) -> bool:
    """A serving platform's decorator that asks for a GPU: `@bentoml.service(resources={"gpu":
    1})`, `@serve.deployment(ray_actor_options={"num_gpus": 1})`, `@ray.remote(num_gpus=1)`,
    Modal's `@app.function(gpu="A10G")`."""
    def some(value: ast.AST | None) -> bool:
        return value is not None and not (type(value) is ast.Constant and not value.value)

    for k in decorator.keywords:
        if k.arg in ("gpu", "num_gpus") and some(k.value):
            return True
        if k.arg in ("resources", "ray_actor_options") and type(k.value) is ast.Dict:
            for key, value in zip(k.value.keys, k.value.values):
                if type(key) is ast.Constant and key.value in ("gpu", "num_gpus") and some(value):
                    return True
    return False


# torch.cuda calls that raise without CUDA (`torch.cuda.current_device()`): asked as the module
# loads, they make importing it fail without CUDA.
CUDA_RUNTIME_QUESTIONS = frozenset({"current_device", "get_device_properties", "get_device_name",
                                    "get_device_capability", "set_device", "mem_get_info"})


_TABLES = (ast.Dict, ast.List, ast.Tuple, ast.Set, ast.Constant)


def asks_cuda_at_import(body: list[ast.stmt], resolve) -> bool:
    """A module-level statement (not under a check) that asks the CUDA runtime a question only a
    CUDA machine answers (FramePack's `gpu = torch.device(f"cuda:{torch.cuda.current_device()}")`);
    not one that checks for CUDA first (`torch.cuda.is_available() and
    torch.cuda.get_device_capability()[0] >= 8`)."""
    for stmt in body:
        if type(stmt) not in (ast.Expr, ast.Assign, ast.AnnAssign) or type(stmt.value) in _TABLES or stmt.value is None:
            continue  # a literal table (`_OPS = {...}`) asks nothing
        called = (resolve(n.func) or "" for n in ast.walk(stmt.value) if type(n) is ast.Call)
        asked = {q.rsplit(".", 1)[-1] for q in called if q.startswith("torch.cuda.")}
        if asked & CUDA_RUNTIME_QUESTIONS and not asked & {"is_available", "device_count"}:
            return True
    return False


def refuses_without_cuda(body: list[ast.stmt]) -> bool:
    """Does importing the module fail without CUDA? A module-level `assert` about CUDA, `if <about
    CUDA>: ... raise` (`if not torch.cuda.is_available(): raise ...`), or a statement that puts a
    tensor or model on a hard-coded CUDA device as the module loads (`torch.zeros(1).to(gpu)` with
    `gpu = torch.device("cuda")`, `net = Net().cuda()`)."""
    cuda_names = {t.id for stmt in body if type(stmt) is ast.Assign and _cuda_device(stmt.value, set())
                  for t in stmt.targets if type(t) is ast.Name}
    for stmt in body:
        kind = type(stmt)
        if kind is ast.Assert and _about_cuda(stmt.test):
            return True
        if kind is ast.If and stmt.body and type(stmt.body[-1]) is ast.Raise and _about_cuda(stmt.test):
            return True
        if kind in (ast.Expr, ast.Assign) and any(
                type(n) is ast.Call and type(n.func) is ast.Attribute and (
                    (n.func.attr == "cuda" and not n.args) or (n.func.attr == "to" and any(
                        _cuda_device(a, cuda_names) for a in (*n.args, *(k.value for k in n.keywords)))))
                for n in ast.walk(stmt.value)):
            return True
    return False


TRITON_DECORATORS = frozenset({"triton.jit", "triton.autotune", "triton.heuristics"})


def defines_triton_kernels(body: list[ast.stmt], resolve) -> bool:
    """Does the module define Triton kernels (`@triton.jit`, `@triton.autotune(...)` on a
    module-level function)? They launch on a GPU only (CUDA, or ROCm, which torch also calls
    "cuda"): the module and the code that imports its kernels run where one is."""
    return any(type(stmt) is ast.FunctionDef and any(
        resolve(d.func if type(d) is ast.Call else d) in TRITON_DECORATORS for d in stmt.decorator_list)
        for stmt in body)


CPP_EXTENSION_BUILDS = frozenset({"torch.utils.cpp_extension.load", "torch.utils.cpp_extension.load_inline"})
_KERNEL_SUFFIXES = (".cu", ".cuh", ".hip")


def compiles_cuda_kernels(body: list[ast.stmt], resolve) -> bool:
    """Does the module build CUDA (or HIP) kernels as it loads? A module-level
    `torch.utils.cpp_extension.load(sources=[..., "op.cu"])` or `load_inline(cuda_sources=...)`,
    in every branch the module may take at import or in one of them (`if not prebuilt: load(...)`):
    the module needs the CUDA toolchain and a GPU, whatever device its code names."""
    for stmt in body:
        kind = type(stmt)
        if kind is ast.If:
            if compiles_cuda_kernels(stmt.body, resolve) or compiles_cuda_kernels(stmt.orelse, resolve):
                return True
        elif kind in (ast.Expr, ast.Assign) and any(
                type(n) is ast.Call and resolve(n.func) in CPP_EXTENSION_BUILDS and _kernel_sources(n)
                for n in ast.walk(stmt.value)):
            return True
    return False


def _kernel_sources(call: ast.Call) -> bool:
    """`cuda_sources=` given, or a `.cu`/`.hip` file among the sources (plain or f-strings)."""
    if any(k.arg == "cuda_sources" for k in call.keywords):
        return True
    for node in ast.walk(call):
        if type(node) is ast.JoinedStr and node.values:
            node = node.values[-1]
        if type(node) is ast.Constant and isinstance(node.value, str) and node.value.endswith(_KERNEL_SUFFIXES):
            return True
    return False


def _cuda_device(node: ast.AST, names: set[str]) -> bool:
    """`"cuda"`, `"cuda:0"`, `torch.device("cuda")`, or a name bound to one at module level."""
    if type(node) is ast.Name:
        return node.id in names
    if type(node) is ast.Call and type(node.func) is ast.Attribute and node.func.attr == "device" and node.args:
        node = node.args[0]
    return type(node) is ast.Constant and isinstance(node.value, str) and node.value.split(":")[0] == "cuda"


def _about_cuda(test: ast.AST) -> bool:
    return any("cuda" in (n.attr if type(n) is ast.Attribute else n.id).lower()
               for n in ast.walk(test) if type(n) is ast.Attribute or type(n) is ast.Name)


def joins_unless_joined(node: ast.If) -> bool:
    """`if not dist.is_initialized(): ...` guards joining the group, not a single-process path;
    so does `if dist.is_initialized(): ... else: dist.init_process_group(...)`."""
    test, joins = node.test, None
    if type(test) is ast.UnaryOp and type(test.op) is ast.Not:
        test = test.operand
    elif node.orelse:
        joins = node.orelse  # the branch taken when not yet joined must join
    else:
        return False
    if type(test) is not ast.Call:
        return False
    func = test.func
    if (func.attr if type(func) is ast.Attribute else getattr(func, "id", "")) != "is_initialized":
        return False
    return joins is None or any(type(n) is ast.Call and (dotted(n.func) or "").endswith("init_process_group")
                                for stmt in joins for n in ast.walk(stmt))


# Tensor methods whose result stays where the tensor is.
_KEEPS_PLACE = frozenset({"unsqueeze", "squeeze", "float", "view", "reshape", "contiguous", "clone", "detach"})


def _to_cpu(call: ast.Call, resolve) -> bool:
    """`.to("cpu")`, `.to(device=torch.device("cpu"), dtype=...)`."""
    device = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "device"), None)
    if type(device) is ast.Call and resolve(device.func) == "torch.device" and device.args:
        device = device.args[0]
    return type(device) is ast.Constant and device.value == "cpu"


def host_tensor(value: ast.AST, resolve) -> bool:
    """A tensor made on the host: `torch.from_numpy(wav).unsqueeze(0)`, `x.detach().cpu()`."""
    while type(value) is ast.Call and type(value.func) is ast.Attribute:
        if value.func.attr in ("cpu", "numpy") or (value.func.attr == "to" and _to_cpu(value, resolve)):
            return True
        if value.func.attr not in _KEEPS_PLACE:
            break
        value = value.func.value
    return type(value) is ast.Call and resolve(value.func) in ("torch.from_numpy", "torch.as_tensor")


def host_return(returned: bool | ast.Name, assigned: dict[str, list[tuple[int, bool]]]) -> bool:
    """A return on the host: a host expression, or a name whose last assignment above the
    return made one (`out = out.to("cpu").detach()`, `return out`)."""
    if type(returned) is not ast.Name:
        return bool(returned)
    above = [a for a in assigned.get(returned.id, ()) if a[0] <= returned.lineno]
    return bool(above) and max(above)[1]


def mentions_words(expr: ast.AST, words: tuple[str, ...]) -> bool:
    """Does a name, attribute or string in `expr` contain one of `words`?"""
    for node in ast.walk(expr):
        text = node.attr if type(node) is ast.Attribute else node.id if type(node) is ast.Name else \
            node.value if type(node) is ast.Constant and isinstance(node.value, str) else None
        if text and any(w in text for w in words):
            return True
    return False


def turns_grad_off(node: ast.Call, resolve) -> bool:
    """`torch.set_grad_enabled(False)` (any alias), literal False."""
    func = node.func
    if (func.attr if type(func) is ast.Attribute else getattr(func, "id", "")) != "set_grad_enabled" \
            or resolve(func) not in SET_GRAD_ENABLED:
        return False
    flag = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "mode"), None)
    return type(flag) is ast.Constant and flag.value is False
