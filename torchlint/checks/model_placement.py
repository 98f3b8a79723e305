"""TL401: a model loaded with `from_pretrained` never placed on the device in scope."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.guards import compared_device, cuda_deployment, device_literal, mentions_cuda_probe
from torchlint.analysis.hardcoded import names_cuda
from torchlint.analysis.lifecycle import self_attribute
from torchlint.analysis.loading import LoadTracker, device_in_scope, quantized_load
from torchlint.analysis.module_classes import is_module_class
from torchlint.analysis.names import contains, dotted, snake_words
from torchlint.checks import Check, register


@register
class ModelPlacement(Check):
    kind = "model_placement"
    fields = frozenset({"cls", "detail"})

    def __init__(self, *args):
        super().__init__(*args)
        self.tracker = LoadTracker(self.ctx, self.vocab.model_packages, self.vocab.placing_methods)

    def visit_Call(self, node: cst.Call) -> None:
        load = self.tracker.load(node)
        if load is None:
            return
        device = device_in_scope(self.ctx)
        if device is None:
            return
        cls = load.owner.rsplit(".", 1)[-1]
        if load.device_map is not None:
            if self._auto_beyond_cuda(load.device_map.value) and cuda_deployment(self.ctx) is None \
                    and not names_cuda(self.ctx, cst.parse_expression(device)):  # `device = torch.device("cuda", i)`
                self.report(
                    load.device_map, cls=cls,
                    detail=f'gets `device_map="auto"` while `{device}` may be CPU or MPS: use "auto" only '
                    f"for CUDA; elsewhere pass `device_map=None` and call `.to({device})`",
                )
            return
        if load.device is not None or load.star_kwargs or load.escapes or load.placements or load.target is None:
            return
        if quantized_load(node, self.ctx, self.vocab.quantization_keywords):
            return  # bitsandbytes puts quantized weights on the GPU as it loads them
        if any(compared_device(c.test, c.positive) == "cpu" for c in self.ctx.conditions()):
            return  # `else:` of `if device != "cpu":`: the CPU is where it belongs
        if self._submodule(load):
            return  # `self.encoder = X.from_pretrained(...)` in an nn.Module: it moves with its parent
        if self._fed_host_tensors(load):
            return  # `self.vae.decode(latents.cpu())`: kept on the CPU on purpose
        self.report(
            node, cls=cls,
            detail=f"is never placed on a device while `{device}` is in scope: the model silently stays on "
            f"CPU; pass `device_map=` or call `.to({device})` on the result",
        )

    def _submodule(self, load) -> bool:
        return self_attribute(load.target) is not None and bool(self.ctx.classes) \
            and is_module_class(self.ctx, self.ctx.classes[-1])

    def _fed_host_tensors(self, load) -> bool:
        """Is the model called with an argument moved to the host (`self.vae.decode(x.cpu())`)
        in its class (or the function that loads it)? Then the CPU is where it is meant to run."""
        target = dotted(load.target)
        scope = self.ctx.classes[-1] if target and target.startswith("self.") and self.ctx.classes \
            else self.ctx.function or self.ctx.module

        def fed(node: cst.CSTNode) -> bool:
            if not isinstance(node, cst.Call):
                return False
            func = node.func
            receiver = func.value if isinstance(func, cst.Attribute) else func
            return dotted(receiver) == target and any(contains(a.value, _host_move) for a in node.args)

        return target is not None and contains(scope, fed)

    def _auto_beyond_cuda(self, value: cst.BaseExpression) -> bool:
        """`"auto"` that can be reached when the device is CPU or MPS."""
        if _is_auto(value):
            return not any(mentions_cuda_probe(c.test, self.ctx) or (c.positive and contains(c.test, _accelerator_probe))
                           for c in self.ctx.conditions())
        if isinstance(value, cst.IfExp):
            for branch in (value.body, value.orelse):
                if _is_auto(branch):
                    test = value.test
                    if mentions_cuda_probe(test, self.ctx):
                        return False
                    return contains(test, _names_device)
        return False


_ACCELERATORS = frozenset({"cuda", "gpu", "npu", "xpu", "hpu", "mlu"})


def _accelerator_probe(node: cst.CSTNode) -> bool:
    """`is_npu_available()`, `torch.xpu.is_available()`: an accelerator (not MPS) is there."""
    if not isinstance(node, cst.Call):
        return False
    spelled = dotted(node.func) or ""
    words = {w for part in spelled.split(".") for w in snake_words(part)}
    return spelled.endswith("available") and "is" in words and bool(words & _ACCELERATORS)


def _host_move(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "cpu" \
        and not node.args


def _is_auto(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.SimpleString) and node.evaluated_value == "auto"


def _names_device(node: cst.CSTNode) -> bool:
    if device_literal(node) in ("cpu", "mps"):
        return True
    name = node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(node, cst.Attribute) else ""
    return isinstance(name, str) and "device" in snake_words(name)
