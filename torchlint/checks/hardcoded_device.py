"""TL101: a device hard-coded to CUDA with no availability check."""

from __future__ import annotations

import dataclasses
from pathlib import PurePath

import libcst as cst

from torchlint.analysis.device_tests import device_test, followed_by_fallback
from torchlint.analysis.devices import catches_cuda_failure, read_where_cuda_is, unread_cuda_label
from torchlint.analysis.guards import (composed_cuda, cuda_deployment, device_literal, imports_cuda_only_package,
                                       mentions_cuda_probe, requests_cuda_kernel)
from torchlint.analysis.names import (contains, descendants, dotted, is_ddp_name, last_name, qualname_matches,
                                      snake_words)
from torchlint.analysis.refusals import refused_before
from torchlint.analysis.settings import configured_globals, settings_file_names
from torchlint.checks import Check, register
from torchlint.params import Params
from torchlint.walk import children


@dataclasses.dataclass(frozen=True)
class HardcodedDeviceParams(Params):
    device_keywords: frozenset[str]  # keyword arguments that take a device
    cuda_only_decorators: frozenset[str]  # test decorators that skip without CUDA
    cuda_path_words: frozenset[str]  # path words of CUDA-only modules
    skip_path_parts: frozenset[str]  # directories whose code is not the rule's business
    tooling_function_words: frozenset[str]  # words of developer tooling functions
    offload_function_names: frozenset[str]  # parts of names of functions that offload weights to feed a GPU
    rank_words: frozenset[str]  # words of a process rank (`local_rank`) that indexes a CUDA device
    device_movement_overrides: frozenset[str]  # methods that move modules (`def cuda(self, device=None)`)
    cuda_only_apis: frozenset[str]  # torch.cuda APIs that only make sense with CUDA
    falls_back: tuple[str, ...]  # qualified names (fnmatch) of calls that fall back to the CPU themselves
    cuda_only_ops: frozenset[str]  # torch operators with a CUDA kernel only (`torch.ops.aten.<name>`)
    cuda_only_calls: tuple[str, ...]  # qualified names (fnmatch) of other libraries' GPU-only calls


@register
class HardcodedDevice(Check):
    kind = "hardcoded_device"
    Params = HardcodedDeviceParams
    fields = frozenset({"what"})

    def __init__(self, *args):
        super().__init__(*args)
        p = self.params
        self.cuda_function_words = {"cuda", "gpu"} | p.cuda_path_words | p.tooling_function_words
        # The file's own name (`_triton_ops_meta.py`) or a folder of the project named so
        # (`cuda/`, `runtime/triton_gpu/`); the folders the checkout sits in say nothing.
        path = PurePath(self.ctx.project_path)
        path_words = set(snake_words(path.stem)) | {w for part in path.parts[:-1] for w in snake_words(part)}
        cuda_imports = imports_cuda_only_package(self.ctx)
        self.configured = configured_globals(self.ctx.module)  # settings a configurator `exec` overrides
        skipped_part = any(part in p.skip_path_parts for part in path.parts[:-1])
        self.module_cuda_only = cuda_imports or skipped_part or bool(path_words & p.cuda_path_words) or any(
            mentions_cuda_probe(v, self.ctx) for v in self.ctx.index.globals.get("pytestmark", [])
        ) or cuda_deployment(self.ctx) is not None or self._calls_gpu_only_library() or requests_cuda_kernel(self.ctx)

    def _calls_gpu_only_library(self) -> bool:
        """Does the module call a GPU-only API of another library (`faiss.StandardGpuResources()`,
        `faiss.index_cpu_to_all_gpus(...)`)? It needs CUDA whatever device torch is given."""
        patterns = self.params.cuda_only_calls
        if not any(self.ctx.imports.imports_from(p.split(".", 1)[0]) for p in patterns):
            return False
        return contains(self.ctx.module, lambda n: isinstance(n, cst.Call)
                        and qualname_matches(self.ctx.imports.qualname(n.func), patterns))

    # ----- is the code known to run only with CUDA? -----------------------------------------
    def _guarded(self) -> bool:
        ctx = self.ctx
        if self.module_cuda_only:
            return True
        if ctx.role() == "training" and not self._device_chosen():
            return True  # training code with no device of its own: CUDA-only by design
        if any(mentions_cuda_probe(c.test, ctx) or contains(c.test, device_test) or (
                c.positive and last_name(c.test) == "TYPE_CHECKING") for c in ctx.conditions()):
            return True  # also `if TYPE_CHECKING:`: declarations for type checkers, never run
        if any(c.positive and contains(c.test, _asks_ddp) for c in ctx.conditions()):
            return True  # the multi-process branch (`if ddp:`, `if dist.is_initialized():`): NCCL's, on GPUs

        if any(set(snake_words(f.name.value)) & self.cuda_function_words or f.name.value.lower().endswith(("2cuda", "tocuda"))
               or any(part in f.name.value for part in self.params.offload_function_names) for f in ctx.functions):
            # `def cuda(self)` overrides, `_as_cuda_device()`, `_nccl_estimate()`: CUDA by name
            # and purpose; `benchmark()`/`debug_compile()`: developer tooling for a GPU box;
            # `enable_model_cpu_offload()`: it offloads to feed the GPU
            return True
        if any(f.name.value in self.params.device_movement_overrides and ctx.class_of(f) is not None for f in ctx.functions):
            return True  # `def to(self, *args)`: the override moves to whatever device the caller named
        if any(isinstance(n, cst.Param) for n in ctx.stack):
            return True  # a parameter default (`device=torch.device("cuda")`): callers override it
        if self._field_default():
            return True  # `device: str = "cuda"` in a dataclass/settings class: a constructor default
        if any(catches_cuda_failure(t) for t in ctx.trys):
            return True  # the failure without CUDA is handled right here
        if refused_before(ctx):
            return True  # `if count >= 2: ... elif count == 1: ... else: raise` went before: CUDA-only from here
        scopes = [*ctx.functions, *ctx.classes]
        if any(self._cuda_only_decorator(d.decorator) for s in scopes for d in s.decorators):
            return True
        # A function that already calls a CUDA-only API (`torch.cuda.current_device()`) is
        # CUDA-only code: the hard-coded device adds no new failure.
        func = ctx.function
        if func is not None and contains(func.body, self._cuda_only_call):
            return True
        return self._feeds_cuda_only_op()

    def _feeds_cuda_only_op(self) -> bool:
        """The placement is an argument of a CUDA-only operator, or of a function of this
        module that calls one (`pack_int4(w.to("cuda"))`): CUDA is a requirement there."""
        for node in reversed(self.ctx.stack[:-1]):
            if isinstance(node, cst.Call) and not (isinstance(node.func, cst.Attribute) and node.func.attr.value == "to"):
                if self._cuda_only_op(node):
                    return True
                helper = self.ctx.index.functions.get(node.func.value) if isinstance(node.func, cst.Name) else None
                return helper is not None and contains(helper.body, self._cuda_only_op)
        return False

    def _cuda_only_op(self, node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call) and (dotted(node.func) or "").rsplit(".", 1)[-1] in self.params.cuda_only_ops \
            and (dotted(node.func) or "").startswith("torch.ops.")

    def _field_default(self) -> bool:
        """An annotated field in a class body (`device: str = "cuda"` in a dataclass, a pydantic
        settings model, a tyro config): the default of a constructor argument, like a parameter
        default."""
        ctx = self.ctx
        if ctx.function is not None or not ctx.classes:
            return False
        stack = ctx.stack
        for i in range(len(stack) - 1, 2, -1):
            if isinstance(stack[i], cst.AnnAssign):
                # ClassDef > IndentedBlock > SimpleStatementLine > AnnAssign: directly in the body
                return isinstance(stack[i - 1], cst.SimpleStatementLine) and isinstance(stack[i - 2], cst.IndentedBlock) \
                    and isinstance(stack[i - 3], cst.ClassDef)
        return False

    def _device_chosen(self) -> bool:
        """Is a device chosen somewhere in scope (a parameter, or a variable not itself a
        "cuda" literal)? Hard-coding CUDA beside it ignores the choice."""
        for frame in self.ctx.frames:
            for name, bindings in frame.bindings.items():
                # `device_id`, `device_index`: which GPU, not whether one; `per_device_train_batch_size`: a size
                words = snake_words(name)
                if "device" in words and not {"id", "ids", "idx", "index", "per", "batch", "size"} & set(words) and any(
                        b.kind != "import" and device_literal(b.value) is None for b in bindings if b.kind != "def"):
                    return True
        return False

    def _falls_back(self, call: cst.Call) -> bool:
        """A call into a library that falls back to the CPU itself when CUDA is missing, or into
        a project function that hands its arguments to one (`SenseVoiceSmall.from_pretrained(
        device="cuda:0")` calling `funasr.AutoModel.build_model(**kwargs)`)."""
        qual = self.ctx.imports.qualname(call.func)
        if qualname_matches(qual, self.params.falls_back):
            return True
        facts = self.ctx.facts
        if facts is None or not qual:
            return False
        target = facts.function(qual)
        if target is None and "." in qual:
            target = facts.method(*qual.rsplit(".", 1))
        return target is not None and any(qualname_matches(c["callee"], self.params.falls_back)
                                          for c in target.get("calls", ()))

    def _only_for_fallback(self, name: str) -> bool:
        """Is every use of `name` (in the function, or the module) an argument of a call that
        falls back itself (`AutoModel(..., device=device)`)?"""
        scope = self.ctx.function.body if self.ctx.function is not None else self.ctx.module
        uses: list[bool] = []

        def visit(node: cst.CSTNode) -> bool:
            if isinstance(node, cst.Call):
                for arg in node.args:
                    if isinstance(arg.value, cst.Name) and arg.value.value == name:
                        uses.append(self._falls_back(node))
            elif isinstance(node, cst.Name) and node.value == name:
                uses.append(False)
            return False

        for node in _loads(scope):
            visit(node)
        return bool(uses) and all(uses)

    def _only_compared(self, name: str) -> bool:
        """Is `name` only ever compared (`providers = [...] if device == "cpu" else [...]`)? An
        ONNX Runtime session's provider choice: the string places nothing itself."""
        scope = self.ctx.function.body if self.ctx.function is not None else self.ctx.module
        nodes = list(descendants(scope))
        compared = {id(n) for c in nodes if isinstance(c, cst.Comparison)
                    for n in descendants(c) if isinstance(n, cst.Name) and n.value == name}
        stores = {id(t.target) for a in nodes if isinstance(a, cst.Assign) for t in a.targets}
        uses = [n for n in nodes if isinstance(n, cst.Name) and n.value == name and id(n) not in stores]
        return bool(compared) and all(id(u) in compared for u in uses)

    def _predicate(self, call: cst.Call) -> bool:
        """`check_device(a, b, device="cuda")`: a question about a device, not a placement."""
        words = snake_words(last_name(call.func) or "")
        return bool(words) and words[0] in ("check", "is", "has", "validate", "assert", "should", "supports", "can")

    def _cuda_only_call(self, node: cst.CSTNode) -> bool:
        if not isinstance(node, cst.Call):
            return False
        qual = self.ctx.imports.qualname(node.func) or ""
        return qual.startswith("torch.cuda.") and qual.rsplit(".", 1)[-1] in self.params.cuda_only_apis

    def _cuda_only_decorator(self, deco: cst.BaseExpression) -> bool:
        target = deco.func if isinstance(deco, cst.Call) else deco
        if last_name(target) in self.params.cuda_only_decorators:
            return True
        # pytest.mark.skipif(not torch.cuda.is_available(), ...) and friends
        return isinstance(deco, cst.Call) and last_name(target) in ("skipif", "skipIf", "skipUnless") and any(
            mentions_cuda_probe(a.value, self.ctx) for a in deco.args
        )

    # ----- where a "cuda" literal places something --------------------------------------------
    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if device_literal(node) != "cuda":
            return
        stack = self.ctx.stack
        if len(stack) > 2 and composed_cuda(stack[-2]):
            return  # `"cuda:" + str(i)`: the whole expression is the device (visit_BinaryOperation)
        self._placed(node, f'`"{node.evaluated_value}"`')

    def visit_BinaryOperation(self, node: cst.BinaryOperation | cst.FormattedString) -> None:
        if composed_cuda(node) and not contains(
                node.right if isinstance(node, cst.BinaryOperation) else node.parts[1], self._names_gpu_of_many):
            self._placed(node, f'`{self.ctx.module.code_for_node(node)}`')  # not `f"cuda:{local_rank}"`

    def _names_gpu_of_many(self, node: cst.CSTNode, depth: int = 0) -> bool:
        """A process rank (`local_rank`) or a GPU index out of a device map (`max(self.device_map)`,
        `k` in `for k, v in self.device_map.items()`): one GPU of several, multi-GPU code."""
        if not isinstance(node, (cst.Name, cst.Attribute)):
            return False
        words = set(snake_words(last_name(node) or ""))
        if words & self.params.rank_words or {"device", "map"} <= words:
            return True
        binding = self.ctx.binding(node.value) if isinstance(node, cst.Name) and depth == 0 else None
        return binding is not None and binding.kind == "loop" and binding.value is not None \
            and contains(binding.value, lambda n: self._names_gpu_of_many(n, depth + 1))

    visit_FormattedString = visit_BinaryOperation

    def _placed(self, node: cst.BaseExpression, what: str) -> None:
        """Report a CUDA device expression where it places something: a device keyword, a
        `.to(...)`/`torch.device(...)` argument, or an assignment to a device variable."""
        stack = self.ctx.stack
        parent = stack[-2] if len(stack) > 1 else None
        grand = stack[-3] if len(stack) > 2 else None
        composed = not isinstance(node, cst.SimpleString)
        at: cst.CSTNode | None = None
        if isinstance(parent, cst.Arg) and isinstance(grand, cst.Call):
            keyword = parent.keyword.value if parent.keyword is not None else None
            callee = last_name(grand.func)
            qual = self.ctx.imports.qualname(grand.func)
            if keyword in self.params.device_keywords and not self._predicate(grand) and not self._falls_back(grand):
                at = parent
            elif keyword is None and (qual == "torch.device" or callee == "to"):
                at = grand
        elif isinstance(parent, cst.DictElement) and parent.value is node and self._kwargs_for_a_call(parent):
            at = parent  # `Embeddings(model_kwargs={"device": "cuda"})`: the keyword, spelled as a dict
        elif isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is node:
            targets = parent.targets if isinstance(parent, cst.Assign) else [parent]
            names = [last_name(t.target) or "" for t in targets]
            if self.ctx.function is None and not self.ctx.classes and set(names) <= self.configured:
                return  # a setting's default that a configurator `exec` overrides
            if self.ctx.function is None and not self.ctx.classes and self._loaded_config(names):
                return  # a config file a loader reads (no module imports it): its defaults
            if self.ctx.function is None and not self.ctx.classes and (
                    unread_cuda_label(self.ctx.module, targets) or read_where_cuda_is(self.ctx, targets)):
                return  # `CUDA_DEVICE = "cuda"` in a constants module: where others use it decides
            if followed_by_fallback(self.ctx, parent, names):
                return  # `device = "cuda"`, then `if not torch.cuda.is_available(): device = "cpu"`
            # `"cuda:" + str(i)` is a device whatever its name (`self.gpu_id`)
            if (composed or any("device" in n.lower() for n in names)) and not (
                    len(targets) == 1 and isinstance(targets[0].target, cst.Name) and (
                        self._only_for_fallback(names[0]) or self._only_compared(names[0]))):
                at = parent
        if at is not None and any(isinstance(n, cst.Comparison) for n in stack):
            return  # `torch.device("cuda") in devices`: a test, not a placement
        if at is not None and not self._guarded():
            self.report(at, what=what)

    def _loaded_config(self, names: list[str]) -> bool:
        """A config file (only assignments and imports, none of torch) that no project module
        imports: a config loader reads it and the command line overrides its settings, as a
        function's parameters are overridden."""
        if not set(names) <= settings_file_names(self.ctx.module):
            return False
        return self.ctx.facts is None or not self.ctx.facts.imported()

    def _kwargs_for_a_call(self, element: cst.DictElement) -> bool:
        """A `"device"` entry of a dict literal handed straight to a call."""
        key = element.key
        if not (isinstance(key, cst.SimpleString) and str(key.evaluated_value) in self.params.device_keywords):
            return False
        stack = self.ctx.stack
        i = stack.index(element) if element in stack else -1
        return i >= 3 and isinstance(stack[i - 1], cst.Dict) and isinstance(stack[i - 2], cst.Arg) \
            and isinstance(stack[i - 3], cst.Call) and not self._falls_back(stack[i - 3])

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "cuda") or len(node.args) > 1:
            return
        if self.ctx.imports.qualname(func) is not None:
            return  # `torch.cuda(...)` is not a placement
        if node.args and not isinstance(node.args[0].value, (cst.Integer, cst.Name)):
            return
        inner = func.value
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) and inner.func.attr.value == "pin_memory":
            return  # `x.pin_memory().cuda()`: pinned host memory exists to feed CUDA; CUDA-only path
        if not self._guarded():
            self.report(node, what="`.cuda()`")


def _loads(scope: cst.CSTNode):
    """Calls and names in `scope`, outermost first, not descending into a call's own
    arguments' names twice (a name given to a call is judged with the call)."""
    stack = [scope]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            yield node
            stack.append(node.func)
            stack.extend(a.value for a in node.args if not isinstance(a.value, cst.Name))
            continue
        if isinstance(node, (cst.Assign, cst.AnnAssign)):
            if node.value is not None:
                stack.append(node.value)  # the targets are stores
            continue
        if isinstance(node, cst.Attribute):
            stack.append(node.value)  # `x.device` is not the name `device`
            continue
        if isinstance(node, cst.Name):
            yield node
        stack.extend(children(node))


def _asks_ddp(node: cst.CSTNode) -> bool:
    name = last_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
    return name is not None and is_ddp_name(name)
