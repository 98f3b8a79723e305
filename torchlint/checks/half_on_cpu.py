"""TL201: float16 chosen without looking at the device."""

from __future__ import annotations

import dataclasses

import libcst as cst

from torchlint.analysis.guards import (asks_cuda_only_package, cuda_deployment, device_literal,
                                       imports_cuda_only_package, mentions_cuda_probe)
from torchlint.analysis.hardcoded import HardCodedCuda
from torchlint.analysis.loading import LoadTracker
from torchlint.analysis.models import ModelOracle
from torchlint.analysis.names import contains, last_name, qualname_matches, snake_words
from torchlint.analysis.refusals import module_is_cuda_only, refused_before
from torchlint.checks import Check, register
from torchlint.params import Params

_SAVES = frozenset({"save_pretrained", "save_model", "save_file"})
_OFFLOADS = ("enable_model_cpu_offload", "enable_sequential_cpu_offload")  # need an accelerator to offload to
_HALF_WORDS = frozenset({"half", "fp16", "float16"})


@dataclasses.dataclass(frozen=True)
class HalfOnCpuParams(Params):
    half_dtypes: frozenset[str]  # qualified names of half-precision dtypes
    loaders: tuple[str, ...]  # qualified names (fnmatch) of loaders that take a dtype keyword
    dtype_keywords: frozenset[str]
    precision_words: frozenset[str]  # words of a setting that chooses the precision (`use_fp16`)
    device_words: frozenset[str]  # words of a setting about the device (`use_gpu`, `lowvram`)
    converter_words: frozenset[str]  # calls that take half weights as their input (`quantize`)


@register
class HalfOnCpu(Check):
    kind = "half_on_cpu"
    Params = HalfOnCpuParams
    fields = frozenset()

    def __init__(self, *args):
        super().__init__(*args)
        self.models = ModelOracle(self.ctx)
        self.loads = LoadTracker(self.ctx, self.vocab.model_packages, ("to", "cuda", *_OFFLOADS))
        self.pending: list[cst.CSTNode] = []
        self.hard_coded = HardCodedCuda(self.ctx, self.models)
        self.saves = False  # `pipe.save_pretrained(...)`: weights written out
        self.runs = False  # a model or pipeline called: weights computed with

    def _placed_on_cuda(self, call: cst.Call) -> bool:
        """The loaded model is later moved to CUDA by name (`pipe = pipe.to("cuda")`), handed
        with a hard-coded CUDA device to code that places it (`IPAdapter(pipe, ckpt, "cuda")`), or
        offloaded on every path (`pipe.enable_model_cpu_offload()`, which needs an accelerator): a
        CUDA-only path (the hard-code is TL101's business there, the offload TL501's)."""
        load = self.loads.result(call)  # where it goes is all that is asked: any loader will do
        return any(last_name(p.func) == "cuda" or (last_name(p.func) in _OFFLOADS and id(p) not in load.branched)
                   for p in load.placements) or any(
            self.hard_coded.is_cuda(a.value) for c in (*load.placements, *load.handed_to) for a in c.args)

    def _is_half(self, expr: cst.BaseExpression) -> bool:
        return self.ctx.imports.qualname(expr) in self.params.half_dtypes

    def _device_dependent(self) -> bool:
        """An enclosing condition looks at the device (CUDA probe, a device string, `.type`, a
        device setting such as `use_gpu`) or at an explicit precision choice
        (`if args.fp16_full_eval:`, `if needs_upcasting:`)."""
        return any(
            mentions_cuda_probe(c.test, self.ctx) or contains(c.test, lambda n: device_literal(n) is not None)
            or (c.positive and contains(c.test, lambda n: asks_cuda_only_package(n, self.vocab.cuda_only_packages)))
            or contains(c.test, lambda n: isinstance(n, cst.Attribute) and n.attr.value in ("type", "is_cuda"))
            or contains(c.test, self._precision_choice)
            or self._accelerator_branch(c.test, c.positive)
            for c in self.ctx.conditions()
        )

    def _named_for_half(self) -> bool:
        """Inside a function that exists to halve (`def half(self)` of a wrapper applying
        `.half()` to its models, `def to_fp16(...)`): whoever calls it chose float16."""
        return any(set(snake_words(f.name.value)) & _HALF_WORDS for f in self.ctx.functions)

    def _precision_choice(self, node: cst.CSTNode) -> bool:
        name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else ""
        return bool(set(snake_words(name)) & self.params.precision_words)

    def _accelerator_branch(self, test: cst.BaseExpression, positive: bool) -> bool:
        """The branch a device setting chooses for an accelerator: the true side of
        `if use_gpu:` / `if lowvram_mode:`, the false side of `if args.cpu:` / `if not use_gpu:`."""
        negated = isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not)
        inner = test.expression if negated else test
        words: set[str] = set()
        for node in (inner, *_names_in(inner)):
            name = last_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None
            words |= set(snake_words(name or "")) & self.params.device_words
        if not words:
            return False
        cpu = words <= {"cpu"}
        return positive ^ negated ^ cpu

    def _explicit_cuda(self, call: cst.Call) -> bool:
        """The same expression places the result on CUDA (`.half().cuda()`, `device_map="cuda"`)."""
        if any(self.hard_coded.is_cuda(a.value) for a in call.args):
            return True  # `.to(device=device, dtype=torch.float16)` with `device = torch.device("cuda")`
        stack = self.ctx.stack
        for i in range(len(stack) - 2, 0, -1):
            node = stack[i]
            if isinstance(node, cst.Attribute) and node.attr.value == "cuda":
                return True
            if isinstance(node, cst.Call) and node is not call:
                if last_name(node.func) == "to" and any(self.hard_coded.is_cuda(a.value) for a in node.args):
                    return True
                if last_name(node.func) not in ("to", "half", "eval", "cuda"):
                    return False
            elif not isinstance(node, (cst.Attribute, cst.Call, cst.Arg)):
                return False
        return False

    def _converter(self, call: cst.CSTNode) -> bool:
        name = (last_name(call.func) or "") if isinstance(call, cst.Call) else ""
        return bool({name, *snake_words(name)} & self.params.converter_words)

    def _converted(self, call: cst.Call) -> bool:
        """The half weights are the input of a converter, not what runs: `m.half().quantize(4)`
        (ChatGLM's quantizer takes fp16), or `m = m.half()` then `m = llm.from_hf(m, ...)`
        (a runtime's converter, which sets its own dtype and device)."""
        stack = self.ctx.stack
        parent = stack[-2] if len(stack) > 1 else None
        if isinstance(parent, cst.Attribute) and len(stack) > 2 and self._converter(stack[-3]):
            return True
        if not isinstance(parent, cst.Assign) or len(parent.targets) != 1 \
                or not isinstance(parent.targets[0].target, cst.Name):
            return False
        name = parent.targets[0].target.value
        scope = self.ctx.function.body if self.ctx.function is not None else self.ctx.module
        return contains(scope, lambda n: isinstance(n, cst.Assign) and isinstance(n.value, cst.Call)
                        and self._converter(n.value)
                        and any(isinstance(t.target, cst.Name) and t.target.value == name for t in n.targets)
                        and any(isinstance(a.value, cst.Name) and a.value.value == name for a in n.value.args))

    def visit_Call(self, node: cst.Call) -> None:
        self.hard_coded.note(node)
        func = node.func
        if last_name(func) in _SAVES:
            self.saves = True
        elif not self.runs and (self.models.is_model_call(node) or self.models.classify(func) == "grad_free"):
            self.runs = True
        qual = self.ctx.imports.qualname(func) or ""
        at: cst.CSTNode | None = None
        if qualname_matches(qual, self.params.loaders) or last_name(func) == "from_pretrained":
            for arg in node.args:
                if arg.keyword is not None and arg.keyword.value in self.params.dtype_keywords and self._is_half(arg.value):
                    at = arg
        elif isinstance(func, cst.Attribute) and self.models.classify(func.value) == "model":
            if func.attr.value == "half" and not node.args:
                at = node
            elif func.attr.value == "to" and any(
                self._is_half(a.value) for a in node.args if a.keyword is None or a.keyword.value == "dtype"
            ):
                at = node
        if at is not None and not self._explicit_cuda(node) and not self._device_dependent() \
                and not self._placed_on_cuda(node) and not self._converted(node) and not self._named_for_half() \
                and not refused_before(self.ctx):
            self.pending.append(at)

    def end(self) -> None:
        """A module that places its models on CUDA by hard-code and never asks which device it
        has is a CUDA-only module: its float16 never meets the CPU, and the hard-coded device is TL101's
        finding, not a second one here."""
        if self.hard_coded.cuda_only or cuda_deployment(self.ctx) is not None or module_is_cuda_only(self.ctx) \
                or imports_cuda_only_package(self.ctx):
            return  # ... or it imports a CUDA-only package (TensorRT-LLM engine building)
        if self.saves and not self.runs:
            return  # a script that downloads half-precision weights and saves them: nothing computes
        for at in self.pending:
            self.report(at)


def _names_in(expr: cst.BaseExpression) -> list[cst.CSTNode]:
    """The names and attributes of a boolean test (`a and not b.use_gpu`), not those inside calls."""
    if isinstance(expr, cst.BooleanOperation):
        return [*_names_in(expr.left), *_names_in(expr.right)]
    if isinstance(expr, (cst.Name, cst.Attribute)):
        return [expr]
    return []
