"""`from_pretrained` loads: is it a model, where does its result go, is a dtype given.

Shared by TL401 (model never placed) and TL402 (placed without a dtype). Only receivers that
resolve through imports to a model or pipeline class count; tokenizers, processors, configs,
schedulers and adapters (`PeftModel.from_pretrained(base, ...)` follows its base) do not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.devices import device_value_kinds
from torchlint.analysis.guards import device_literal
from torchlint.analysis.lifecycle import self_attribute
from torchlint.analysis.models import bound_values
from torchlint.analysis.names import contains, dotted, last_name, qualname_matches, snake_words, within
from torchlint.walk import children

LOADER_METHODS = ("from_pretrained", "from_single_file")
NOT_MODEL_WORDS = frozenset({"tokenizer", "processor", "config", "extractor", "scheduler", "configuration",
                             "generation", "adapter", "peft", "lora", "vocab"})
# Methods that keep the object as it is: `model.eval()`, `.requires_grad_(False)`.
_CHAIN_KEEP = frozenset({"eval", "train", "requires_grad_", "half", "float", "bfloat16"})
_CASTS = frozenset({"half", "bfloat16", "float"})
_DTYPE_PREFIX = ("torch.float", "torch.bfloat", "torch.half", "torch.int", "torch.uint", "torch.bool")


@dataclass
class Load:
    """One `X.from_pretrained(...)` of a model class and what happens to its result."""

    call: cst.Call
    owner: str  # qualified name of the class
    device_map: cst.Arg | None = None
    device: cst.Arg | None = None
    dtype: cst.Arg | None = None
    star_kwargs: bool = False
    target: cst.BaseExpression | None = None  # `model` / `self.model` it is assigned to
    placements: list[cst.Call] = field(default_factory=list)  # `.to(...)`, `.cuda()`, offload calls
    escapes: bool = False  # returned or handed to other code: placement may happen there
    handed_to: list[cst.Call] = field(default_factory=list)  # calls that take it as an argument (`Wrapper(pipe, device)`)
    casts: list[cst.Call] = field(default_factory=list)  # `.half()`, `.to(torch.bfloat16)`: a dtype chosen
    host_casts: list[cst.Call] = field(default_factory=list)  # a lone `.to(dtype)`: cast on the host, after a float32 load
    branched: set[int] = field(default_factory=set)  # ids of placements made under an `if` or `try` of the scope


def model_owner(call: cst.Call, ctx: Context, packages: Iterable[str]) -> str | None:
    """Qualified class name of `X.from_pretrained(...)` when X is an imported torch model/pipeline
    class (not an OpenVINO or ONNX Runtime one, vocabulary `non_torch_model_packages`)."""
    func = call.func
    if not isinstance(func, cst.Attribute) or func.attr.value not in LOADER_METHODS:
        return None
    qual = ctx.imports.qualname(func.value)
    if qual is None:
        return None
    if not within(qual, packages) or within(qual, ctx.vocab.non_torch_model_packages):
        return None
    words = set(snake_words(qual.rsplit(".", 1)[-1]))
    if words & NOT_MODEL_WORDS:
        return None
    return qual


def is_dtype(expr: cst.BaseExpression, ctx: Context) -> bool:
    qual = ctx.imports.qualname(expr) or ""
    return qual.startswith(_DTYPE_PREFIX)


def _dtype_named(expr: cst.BaseExpression) -> bool:
    name = last_name(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
    return name is not None and "dtype" in snake_words(name)


def _casts(call: cst.Call, ctx: Context) -> bool:
    """Does this `.to(...)` pick a dtype? A `torch.*` dtype anywhere; a dtype held in a variable
    (`dtype=dtype`, `.to(device, self.dtype)`) only when the same call also places the model:
    RULES' "the same placement casts it". A lone `.to(dtype)` before `.to(device)` leaves
    float32 weights in host RAM at load, which the finding is about."""
    if any(is_dtype(a.value, ctx) for a in call.args if a.keyword is None or a.keyword.value == "dtype"):
        return True
    if len(call.args) < 2:
        return False
    return any((a.keyword is not None and a.keyword.value == "dtype") or (a.keyword is None and _dtype_named(a.value))
               for a in call.args)


def may_be_accelerator(call: cst.Call, ctx: Context) -> bool:
    """`.cuda()`, an offload call, or `.to(x)` where x is not the CPU and not just a dtype."""
    name = call.func.attr.value if isinstance(call.func, cst.Attribute) else ""
    if name != "to":
        return True
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value not in ("device",):
            continue
        if device_literal(arg.value) == "cpu" or is_dtype(arg.value, ctx):
            continue
        # `self.device = torch.device("cpu")` (every assignment in the class), then `.to(self.device)`
        values = bound_values(ctx, arg.value) if isinstance(arg.value, cst.Attribute) else []
        if values and all(device_value_kinds(v, ctx.imports) == {"cpu"} for v in values):
            continue
        if isinstance(arg.value, cst.SimpleString) and device_literal(arg.value) is None:
            continue
        return True
    return False


# Wrappers that compile or script a model where it is: handing a model to them does not place it.
_KEEPS_DEVICE = frozenset({"torch.compile", "torch.jit.script", "torch.jit.trace", "torch.jit.freeze",
                           "torch.jit.optimize_for_inference"})


class LoadTracker:
    """Builds `Load`s for calls seen during traversal (uses the context's ancestor stack)."""

    def __init__(self, ctx: Context, packages: Iterable[str], placing_methods: Iterable[str]):
        self.ctx = ctx
        self.packages = tuple(packages)
        self.placing = frozenset(placing_methods)

    def load(self, call: cst.Call) -> Load | None:
        owner = model_owner(call, self.ctx, self.packages)
        if owner is None:
            return None
        load = Load(call, owner)
        for arg in call.args:
            if arg.star == "**":
                load.star_kwargs = True
            elif arg.keyword is not None:
                kw = arg.keyword.value
                if kw == "device_map":
                    load.device_map = arg
                elif kw == "device":
                    load.device = arg
                elif kw in ("torch_dtype", "dtype"):
                    load.dtype = arg
        self._follow(load)
        return load

    def construction(self, call: cst.Call, constructors: Iterable[str]) -> Load | None:
        """A model built by a constructor (`torchvision.models.alexnet(...)`, vocabulary
        `model_constructors`): it starts on the CPU; where its result goes, as for a load."""
        qual = self.ctx.imports.qualname(call.func)
        if qual is None or not qualname_matches(qual, tuple(constructors)):
            return None
        load = Load(call, qual)
        self._follow(load)
        return load

    def result(self, call: cst.Call) -> Load:
        """Where the result of any call goes (a project pipeline's `from_pretrained`, ...)."""
        load = Load(call, self.ctx.imports.qualname(call.func) or "")
        self._follow(load)
        return load

    def _follow(self, load: Load) -> None:
        """Walk up the expression: chained calls, then the assignment target."""
        stack = self.ctx.stack
        current: cst.CSTNode = load.call
        i = len(stack) - 2
        while i >= 1:
            parent, grand = stack[i], stack[i - 1]
            if isinstance(parent, cst.Attribute) and parent.value is current and isinstance(grand, cst.Call) \
                    and grand.func is parent:
                self._method(parent.attr.value, grand, load)
                if parent.attr.value not in self.placing and parent.attr.value not in _CHAIN_KEEP:
                    return  # `.from_pretrained(...).something()`: the result is something else
                current = grand
                i -= 2
                continue
            break
        parent = stack[i] if i >= 0 else None
        if isinstance(parent, (cst.Assign, cst.AnnAssign)) and parent.value is current:
            targets = parent.targets if isinstance(parent, cst.Assign) else [parent]
            target = targets[0].target
            if isinstance(target, (cst.Name, cst.Attribute)):
                load.target = target
                self._uses(load)
            else:
                load.escapes = True
        else:
            load.escapes = True  # returned, passed as an argument, stored in a container

    def _uses(self, load: Load) -> None:
        target = load.target
        spelled = dotted(target) if target is not None else None
        if spelled is None:
            load.escapes = True
            return
        attr = self_attribute(target) if isinstance(target, cst.Attribute) else None
        scopes: list[cst.CSTNode]
        if attr is not None and self.ctx.classes:
            scopes = [self.ctx.classes[-1]]
        elif isinstance(target, cst.Name) and self.ctx.function is not None:
            scopes = [self.ctx.function]
        elif isinstance(target, cst.Name) and not self.ctx.classes:
            scopes = [self.ctx.module]  # a module-level name: its uses are in this module
        else:
            load.escapes = True  # a foreign attribute: used anywhere
            return
        for scope in scopes:
            self._scan(scope, spelled, load)

    def _method(self, name: str, call: cst.Call, load: Load) -> None:
        """A method called on the loaded object: placing, casting, or neither."""
        if name in self.placing:
            load.placements.append(call)
        if name in _CASTS or (name == "to" and _casts(call, self.ctx)):
            load.casts.append(call)
        elif name == "to" and len(call.args) == 1 and (
                (call.args[0].keyword is None and _dtype_named(call.args[0].value))
                or (call.args[0].keyword is not None and call.args[0].keyword.value == "dtype")):
            load.host_casts.append(call)  # `.to(self.dtype)`, `.to(dtype=PRECISION[p])`

    def _scan(self, scope: cst.CSTNode, spelled: str, load: Load) -> None:
        """Every later mention of the target in `scope`: placing calls, and hand-offs."""
        # An `if` around the load: the other branch is another path (`model = X.from_pretrained(q)`
        # in the int4 branch is not the one `model.to(device)` in the `else` moves).
        taken = {id(n): child for n, child in zip(self.ctx.stack, self.ctx.stack[1:]) if isinstance(n, cst.If)}
        stack: list[tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = [(scope, ())]
        while stack:
            node, parents = stack.pop()
            if node is not load.target and isinstance(node, (cst.Name, cst.Attribute)) and dotted(node) == spelled:
                self._use(node, parents, load)
                continue
            kids = children(node)
            if id(node) in taken:
                branch = taken[id(node)]
                kids = [c for c in kids if c is branch or c not in (node.body, node.orelse)]
            stack.extend((c, (node, *parents[:7])) for c in kids)

    def _use(self, node: cst.CSTNode, parents: tuple[cst.CSTNode, ...], load: Load) -> None:
        parent = parents[0] if parents else None
        if isinstance(parent, cst.Attribute) and parent.value is node:
            # `model.eval().cuda()`: methods that keep the object, then a placing one
            at = 0
            while at + 1 < len(parents) and isinstance(parents[at], cst.Attribute) \
                    and isinstance(parents[at + 1], cst.Call) and parents[at + 1].func is parents[at]:
                name = parents[at].attr.value
                self._method(name, parents[at + 1], load)
                if any(isinstance(p, (cst.If, cst.Try, cst.IfExp)) for p in parents):
                    load.branched.add(id(parents[at + 1]))
                if name not in _CHAIN_KEEP:
                    break
                at += 2
            return  # `model.eval()`, `model.config`: uses, not hand-offs
        if isinstance(parent, cst.Assign) and any(t.target is node for t in parent.targets):
            return  # re-bound (`model = model.to(device)` is seen through its call)
        if isinstance(parent, cst.Arg) and len(parents) > 1 and isinstance(parents[1], cst.Call) \
                and self.ctx.imports.qualname(parents[1].func) in _KEEPS_DEVICE:
            return  # `torch.compile(model)`: the same weights, wherever they are
        if isinstance(parent, cst.Arg) and len(parents) > 1 and isinstance(parents[1], cst.Call):
            load.handed_to.append(parents[1])
        if isinstance(parent, (cst.Arg, cst.Return, cst.Yield, cst.Element, cst.DictElement, cst.Assign,
                               cst.AnnAssign, cst.Tuple, cst.List)):
            load.escapes = True


_QUANTIZED_MARKS = ("int4", "int8", "4bit", "8bit", "gptq", "awq", "bnb")


def quantized_load(call: cst.Call, ctx: Context, keywords: Iterable[str]) -> bool:
    """A load of quantized weights, which choose their own dtype and device (bitsandbytes puts
    them on the GPU): a quantization keyword (vocabulary `quantization_keywords`), or a branch
    taken for a quantized checkpoint (`if "int4" in model_path:`)."""
    keywords = frozenset(keywords)
    if any(a.keyword is not None and a.keyword.value in keywords for a in call.args):
        return True

    def marks(node: cst.CSTNode) -> bool:
        if not isinstance(node, cst.SimpleString):
            return False
        text = str(node.evaluated_value).lower()
        return any(m in text for m in _QUANTIZED_MARKS)

    return any(c.positive and contains(c.test, marks) for c in ctx.conditions())


def device_in_scope(ctx: Context) -> str | None:
    """A parameter, local or `self.` attribute holding a device (its name has the word `device`)."""
    for frame in reversed(ctx.frames[1:]):
        for name in frame.bindings:
            if "device" in snake_words(name):
                return name
    for cls in reversed(ctx.classes):
        for attr in ctx.index.self_attrs.get(cls.name.value, {}):
            if "device" in snake_words(attr):
                return f"self.{attr}"
    return None
