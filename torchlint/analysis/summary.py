"""A file's summary for the project phase, from CPython's `ast` (ten times cheaper than libcst)
and one traversal: what it imports and defines, and per function what the rest of the project
may ask about it. Plain JSON data, cached by the file's content hash; it never depends on the
file's path. Names are recorded as the file spells them through its imports (`utils.get_device`,
`.helpers.clear` with leading dots for relative imports); torchlint.analysis.project resolves
them to the project's own modules.
"""

from __future__ import annotations

import ast
import sys
from typing import Any

from torchlint import vocabulary
from torchlint.analysis.grad_names import NO_GRAD, SET_GRAD_ENABLED
from torchlint.analysis.summary_ast import (PLACING, about_ddp, asks_cuda_at_import, compiles_cuda_kernels,
                                           defines_triton_kernels, device_literal, dotted, host_return, host_tensor, import_pairs,
                                           is_main_test, joins_unless_joined, mentions_words, placing,
                                           refuses_without_cuda, requests_gpu, turns_grad_off)

VERSION = 28  # bump when the shape changes (cached summaries are then recomputed)

PROBES = {"torch.cuda.is_available": "cuda", "torch.cuda.device_count": "cuda", "torch.mps.is_available": "mps",
          "torch.backends.mps.is_available": "mps", "torch.backends.mps.is_built": "mps",
          "torch.cuda.get_device_capability": "capability", "torch.cuda.get_device_properties": "capability"}
CACHE_CLEARS = frozenset({"torch.cuda.empty_cache", "torch.mps.empty_cache"})
# Wrapping a model for, or joining, an NCCL process group: code that only runs on GPUs.
DEFAULT_DTYPE_SETTERS = frozenset({"set_default_dtype", "set_default_torch_dtype"})  # torch's, vLLM's
DISTRIBUTED = frozenset({"DistributedDataParallel", "FullyShardedDataParallel", "DDP", "FSDP"})
COLLECTIVES = frozenset({"all_gather", "all_gather_object", "all_reduce", "broadcast", "broadcast_object_list",
                         "reduce", "reduce_scatter", "all_to_all", "barrier", "gather", "scatter", "new_group"})
CACHE_DECORATORS = frozenset({"cache", "lru_cache", "cached_property"})
# The shipped vocabulary's (a summary is cached by content: it cannot follow a project's extension).
ROUTE_VERBS = vocabulary.load().route_decorators
GUARD_WORDS = ("is_available", "capability", "available", "enabled", "cuda", "installed")
# Import roots that are never the project's own modules: calls into them are not recorded, and
# the deployment facts (torchlint.analysis.deployment) do not look for a project's helpers there.
FOREIGN_ROOTS = frozenset(sys.stdlib_module_names) | {
    "torch", "numpy", "np", "transformers", "diffusers", "safetensors", "tqdm", "PIL", "cv2", "scipy", "pandas",
    "librosa", "einops", "accelerate", "huggingface_hub", "requests", "yaml", "pydantic", "fastapi", "gradio",
}
_FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
# Nodes with nothing to find below them, and nodes never worth a visit (contexts, operators).
_LEAVES = frozenset({ast.Name, ast.Constant, ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal})
_SKIP = frozenset({ast.Load, ast.Store, ast.Del, *ast.operator.__subclasses__(), *ast.unaryop.__subclasses__(),
                   *ast.cmpop.__subclasses__(), *ast.boolop.__subclasses__(), ast.arguments, ast.alias})


class _Summariser:
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.out: dict[str, Any] = {"version": VERSION, "imports": [], "functions": {}, "classes": {},
                                    "objects": {}, "main": None}
        self.ev = {"nccl": False, "dataset_loop": False, "writes_results": False, "asyncio": False}
        self.wrappers: set[str] = set()  # module functions that enter no-grad themselves
        self.optional_ddp = 0  # inside `if ddp:` (a branch for multi-process runs only)
        self.tried: set[int] = set()  # function-level imports inside a `try:` body

    def resolve(self, node: ast.AST) -> str | None:
        spelled = dotted(node)
        if spelled is None:
            return None
        head, _, rest = spelled.partition(".")
        full = self.aliases.get(head)
        if full is None:
            return None
        return f"{full}.{rest}" if rest else full

    def name(self, node: ast.AST) -> str:
        return self.resolve(node) or dotted(node) or ""

    def no_grad(self, expr: ast.AST) -> bool:
        call = expr if type(expr) is ast.Call else None
        target = call.func if call is not None else expr
        qual = self.resolve(target)
        if qual in NO_GRAD:
            return True
        if qual in SET_GRAD_ENABLED and call is not None and call.args:
            arg = call.args[0]
            return not (type(arg) is ast.Constant and arg.value is True)
        spelled = (dotted(target) or "").lower()
        return spelled.rsplit(".", 1)[-1] in self.wrappers or "no_grad" in spelled or "inference_mode" in spelled

    # ----- statements ---------------------------------------------------------------------
    def statements(self, body: list[ast.stmt], guard: str | None) -> None:
        """Module-level imports first (a name may be used above its import), with how each is
        guarded. Imports inside functions are read by the walk, where they are met."""
        for stmt in body:
            kind = type(stmt)
            if kind is ast.Import or kind is ast.ImportFrom:
                self.imported(stmt, guard)
            elif kind is ast.Try or kind is ast.TryStar:
                for part in (stmt.body, stmt.orelse):
                    self.statements(part, "try")
                for handler in stmt.handlers:
                    self.statements(handler.body, "try")
                self.statements(stmt.finalbody, guard)
            elif kind is ast.If:
                inner = "guard" if mentions_words(stmt.test, GUARD_WORDS) else guard
                self.statements(stmt.body, inner)
                self.statements(stmt.orelse, inner)
            elif kind is ast.ClassDef or kind is ast.With or kind is ast.AsyncWith:
                self.statements(stmt.body, guard)

    def imported(self, stmt: ast.Import | ast.ImportFrom, guard: str | None) -> None:
        pairs = import_pairs(stmt)
        self.aliases.update(pairs)
        # [local name, dotted target, "try" / "guard" / None]
        self.out["imports"] += [[local, target, guard] for local, target in pairs]

    def wrappers_of(self, tree: ast.Module) -> None:
        """Module functions that disable grad for what they wrap: a context manager whose body
        enters no-grad, a decorator whose inner function is decorated with it, or a function
        returning `torch.no_grad()`."""
        def torch_no_grad(expr: ast.AST) -> bool:
            return self.resolve(expr.func if type(expr) is ast.Call else expr) in NO_GRAD

        for stmt in tree.body:
            if type(stmt) in _FUNCS:
                for node in stmt.body:
                    kind = type(node)
                    if (kind in (ast.With, ast.AsyncWith) and any(torch_no_grad(i.context_expr) for i in node.items)) \
                            or (kind in _FUNCS and any(torch_no_grad(d) for d in node.decorator_list)) \
                            or (kind is ast.Return and node.value is not None and torch_no_grad(node.value)):
                        self.wrappers.add(stmt.name)

    # ----- the one traversal ----------------------------------------------------------------
    def walk(self, tree: ast.Module) -> None:
        """The one traversal of every node (but the insides of dotted names, which hold none of
        what a summary records)."""
        for stmt in tree.body:
            if type(stmt) is ast.If and is_main_test(stmt.test):
                self.out["main"] = [stmt.lineno, stmt.end_lineno or stmt.lineno]
            elif type(stmt) in _DEFS and any(type(d) is ast.Call and requests_gpu(d) for d in stmt.decorator_list):
                self.ev["gpu_service"] = True  # the platform runs it on a GPU machine
            elif type(stmt) is ast.ClassDef and any(
                    type(n) is ast.Call and requests_gpu(n) for s in stmt.body
                    if type(s) in (ast.Assign, ast.AnnAssign) and s.value is not None for n in ast.walk(s.value)):
                self.ev["gpu_service"] = True  # `remote_config = RemoteConfig(compute=Compute(gpu="T4"))`
        self._body(tree.body, "", None, False)

    def _body(self, nodes: list, prefix: str, fn: dict | None, under: bool) -> None:
        """Nodes sharing one context: the qualified-name prefix, the function the facts go to,
        and whether autograd is off there. Definitions and `with` blocks open a new one."""
        out = self.out
        stack = list(reversed(nodes))
        pop, push = stack.pop, stack.append
        while stack:
            node = pop()
            kind = type(node)
            if kind in _FUNCS:
                qual = f"{prefix}{node.name}"
                facts = out["functions"][qual] = self.function(node, qual)
                self._body(node.body, f"{qual}.", facts, facts["no_grad"])
                continue
            if kind is ast.ClassDef:
                qual = f"{prefix}{node.name}"
                out["classes"][qual] = {
                    "line": node.lineno, "end": node.end_lineno or node.lineno,
                    "bases": [self.name(b) for b in node.bases],
                    "methods": [s.name for s in node.body if type(s) in _FUNCS],
                }
                self._body(node.body, f"{qual}.", None, False)
                continue
            if kind is ast.Attribute and type(node.value) is ast.Name:
                continue  # `self.model`, `torch.float16`: nothing below
            if kind in _LEAVES:
                if kind is ast.Constant:
                    if node.value == "nccl":
                        self.distributed(fn, "uses the NCCL backend")
                elif kind is ast.Global and fn is not None:
                    fn["cached"] = True  # memoised in a module global
                continue
            if kind is ast.Lambda:
                continue
            if kind is ast.With or kind is ast.AsyncWith:
                self._body([i.context_expr for i in node.items], prefix, fn, under)
                inner = under or any(self.no_grad(i.context_expr) for i in node.items)
                self._body(node.body, prefix, fn, inner)
                continue
            if kind is ast.If and fn is not None and about_ddp(node.test) and not joins_unless_joined(node):
                # `if ddp: dist.barrier()`: the function also runs as a single process
                self._body([node.test], prefix, fn, under)
                self.optional_ddp += 1
                self._body([*node.body, *node.orelse], prefix, fn, under)
                self.optional_ddp -= 1
                continue
            if kind is ast.Call:
                self.call(node, fn, under)
            elif kind is ast.Return:
                if fn is not None and node.value is not None:
                    self.returned(node.value, fn)
            elif kind is ast.Assign or kind is ast.AnnAssign:
                if node.value is not None:
                    self.assigned(node, fn)
            elif kind is ast.Expr and fn is not None and type(node.value) is ast.Call and turns_grad_off(node.value, self.resolve):
                fn["grad_off"] = True  # a bare `torch.set_grad_enabled(False)`: off for this thread from here on
            elif kind is ast.Import or kind is ast.ImportFrom:
                if fn is not None:  # lazy, function-level
                    self.imported(node, "try" if id(node) in self.tried else None)
                continue
            elif kind is ast.Try or kind is ast.TryStar:
                self.tried.update(id(s) for s in node.body if type(s) is ast.Import or type(s) is ast.ImportFrom)
            for name in node._fields:  # ast.iter_child_nodes, inlined: this runs for every node
                value = getattr(node, name, None)
                if type(value) is list:
                    for c in value:
                        if type(c) not in _SKIP and isinstance(c, ast.AST):
                            push(c)
                elif type(value) not in _SKIP and isinstance(value, ast.AST):
                    push(value)

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, qual: str) -> dict:
        decorators = [self.name(d.func if type(d) is ast.Call else d) for d in node.decorator_list]
        if type(node) is ast.AsyncFunctionDef:
            self.ev["asyncio"] = True
        return {
            "line": node.lineno, "end": node.end_lineno or node.lineno, "async": type(node) is ast.AsyncFunctionDef,
            "decorators": decorators, "no_grad": any(self.no_grad(d) for d in node.decorator_list),
            "cached": any(d.rsplit(".", 1)[-1] in CACHE_DECORATORS for d in decorators),
            "wrapper": qual in self.wrappers,
            "route": any(type(d) is ast.Call and type(d.func) is ast.Attribute and d.func.attr in ROUTE_VERBS
                         for d in node.decorator_list),
            "calls": [], "returns": [], "probes": [], "selects_device": False, "places_model": False,
            "clears_cache": False, "grad_off": False, "freezes": False, "shuts_down": [], "training": [], "distributed": "",
            "_devices": [], "_placed": [], "_host": [], "_assigned": {},
            "self_calls": [], "self_calls_grad": []}

    def call(self, node: ast.Call, fn: dict | None, under: bool) -> None:
        func = node.func
        method = func.attr if type(func) is ast.Attribute else None
        resolved = self.resolve(func)
        last = (resolved or method or (func.id if type(func) is ast.Name else "")).rsplit(".", 1)[-1]
        if last in DISTRIBUTED or (resolved or "").startswith("deepspeed.initialize") or (
                last in COLLECTIVES and (resolved or "").startswith("torch.distributed.")):
            self.distributed(fn, f"calls {last}")
        elif last in ("DataLoader", "tqdm", "trange"):
            self.ev["dataset_loop"] = True
        elif last in ("dump", "dumps") and resolved and resolved.startswith("json"):
            self.ev["writes_results"] = True
        elif last in DEFAULT_DTYPE_SETTERS and node.args and getattr(node.args[0], "attr", "") not in ("float32", "float"):
            self.ev["default_dtype"] = True  # `with set_default_torch_dtype(config.dtype):` models built so take it
        if fn is None:
            return
        if method and type(func.value) is ast.Name and func.value.id == "self":  # delegation; and with grad on?
            for key, on in (("self_calls", True), ("self_calls_grad", not (under or fn["no_grad"]))):
                fn[key] += [method] if on and method not in fn[key] else []
        probe = PROBES.get(resolved or "")
        if probe is not None:
            if probe not in fn["probes"]:
                fn["probes"].append(probe)
        elif resolved in CACHE_CLEARS:
            fn["clears_cache"] = True
        elif method == "shutdown":
            fn["shuts_down"].append(dotted(func.value) or "")
        elif method == "backward" or method == "zero_grad" or (
                method == "step" and "optim" in (dotted(func.value) or "").lower()):
            if method not in fn["training"]:
                fn["training"].append(method)
        elif method in PLACING:
            fn["places_model"] = True
        elif ".optim." in f".{resolved}" and last[:1].isupper():
            fn["optimizer"] = last  # `torch.optim.AdamW(...)`, `bnb.optim.AdamW8bit(...)`: built to train
        elif method == "requires_grad_" and node.args and type(node.args[0]) is ast.Constant \
                and node.args[0].value is False:
            fn["freezes"] = True  # `self.model = build(...).eval().requires_grad_(False)`
        elif method in ("from_pretrained", "from_single_file") and any(k.arg == "device_map" for k in node.keywords):
            fn["places_model"] = True
        if resolved and resolved.lstrip(".").split(".", 1)[0] not in FOREIGN_ROOTS:
            fn["calls"].append({"callee": resolved, "no_grad": under or fn["no_grad"]})

    def distributed(self, fn: dict | None, why: str) -> None:
        """GPU-only multi-process code: the whole file when it happens at module level."""
        if fn is None:
            self.ev["nccl"] = True
        elif not fn["distributed"] and not self.optional_ddp:
            fn["distributed"] = why

    def returned(self, value: ast.AST, fn: dict) -> None:
        if _device_value(value, self) or (type(value) is ast.Name and value.id in fn["_devices"]):
            fn["returns"].append("device")
        elif placing(value) or (type(value) is ast.Name and value.id in fn["_placed"]):
            fn["returns"].append("placed")
        elif not (type(value) is ast.Constant and value.value is None):
            # A tensor made on the host (`torch.from_numpy(wav).unsqueeze(0)`, `x.cpu()`), or not:
            # a function whose every return is one hands back CPU tensors ("host", set at the end).
            fn["_host"].append(value if type(value) is ast.Name else host_tensor(value, self.resolve))

    def assigned(self, node: ast.Assign | ast.AnnAssign, fn: dict | None) -> None:
        targets = node.targets if type(node) is ast.Assign else [node.target]
        value = node.value
        for t in targets:
            spelled = dotted(t) or ""
            if fn is not None and "device" in spelled.lower() and _device_value(value, self):
                fn["_devices"].append(spelled)
            elif fn is not None and placing(value):
                fn["_placed"].append(spelled)  # `model = load(p).to(device)`, returned later
            if fn is not None and type(t) is ast.Name:
                fn["_assigned"].setdefault(t.id, []).append((t.lineno, host_tensor(value, self.resolve)))
            elif fn is None and type(t) is ast.Name:
                if type(value) is ast.Call:
                    self.out["objects"][t.id] = self.name(value.func)
                elif _device_value(value, self):
                    self.out["objects"][t.id] = "device"
                elif (mode := self.resolve(value)) in NO_GRAD:
                    self.out["objects"][t.id] = mode  # `inference_context = torch.no_grad`
                elif t.id == "NODE_CLASS_MAPPINGS":
                    self.ev["comfy_nodes"] = True  # ComfyUI's registry: its host runs the nodes without grad


def summarise(tree: ast.Module) -> dict[str, Any]:
    """The summary of one module (see the module docstring)."""
    s = _Summariser()
    s.statements(tree.body, None)
    s.ev["top_imports"] = len(s.out["imports"])  # the first ones are the module level's (a function's come later)
    s.wrappers_of(tree)
    s.walk(tree)
    for qual, facts in s.out["functions"].items():
        facts["returns"] = sorted(set(facts["returns"]))
        facts["selects_device"] = bool({"cuda", "mps"} & set(facts["probes"])) and "device" in facts["returns"]
        if facts["_host"] and all(host_return(r, facts["_assigned"]) for r in facts["_host"]):
            facts["returns"].append("host")
        del facts["_devices"], facts["_placed"], facts["_host"], facts["_assigned"]
        s.out["functions"][qual] = {k: v for k, v in facts.items() if v or k in ("line", "end")}
    if compiles_cuda_kernels(tree.body, s.resolve):
        s.ev["compiles_cuda_kernels"] = True  # CUDA-only itself, and so are its importers
    if asks_cuda_at_import(tree.body, s.resolve):
        s.ev["asks_cuda"] = True  # likewise: `torch.cuda.current_device()` as it loads
    if defines_triton_kernels(tree.body, s.resolve):
        s.ev["triton_kernels"] = True  # GPU-only kernels: itself, and the importers that launch them
    elif any(type(t) is ast.Try and defines_triton_kernels(t.body, s.resolve) for t in tree.body):
        s.ev["optional_triton_kernels"] = True  # under `try: import triton`: its own code feeds them
    if s.ev.get("compiles_cuda_kernels") or s.ev.get("asks_cuda") or s.ev.get("triton_kernels") \
            or refuses_without_cuda(tree.body):
        s.ev["refuses_without_cuda"] = True  # importing it fails without CUDA: its importers are CUDA-only
    s.ev["classes"] = len(s.out["classes"])
    s.out["evidence"] = s.ev
    return s.out


def _device_value(expr: ast.AST, s: _Summariser) -> bool:
    kind = type(expr)
    if kind is ast.Constant:
        return device_literal(expr)
    if kind is ast.IfExp:
        return _device_value(expr.body, s) or _device_value(expr.orelse, s)
    return kind is ast.Call and s.resolve(expr.func) == "torch.device"
