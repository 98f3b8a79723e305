"""TL103: the device is detected inside per-request code instead of once."""

from __future__ import annotations

import dataclasses

import libcst as cst

from torchlint.analysis.entrypoints import loop_mains, thread_targets
from torchlint.analysis.devices import CUDA_AVAILABLE, MPS_PROBES, is_cached, selects_device
from torchlint.analysis.names import contains, last_name, snake_words
from torchlint.analysis.places import is_route_handler
from torchlint.analysis.selections import DeviceSelections
from torchlint.analysis.tests import is_test_file, is_test_function
from torchlint.checks import Check, register
from torchlint.params import Params

_PROBES = CUDA_AVAILABLE | MPS_PROBES
_LOADERS = frozenset({"from_pretrained", "from_single_file", "load_state_dict"})


@dataclasses.dataclass(frozen=True)
class DevicePerCallParams(Params):
    helper_words: frozenset[str]  # words of helpers whose job is picking the device


@register
class DevicePerCall(Check):
    kind = "device_per_call"
    Params = DevicePerCallParams
    fields = frozenset({"what", "where"})

    def __init__(self, *args):
        super().__init__(*args)
        self.entry_points = self.vocab.entry_points | self.vocab.request_methods
        self.selections = DeviceSelections(self.ctx)
        self.silent = is_test_file(self.ctx.project_path)
        self._targets: set[str] | None = None

    def _per_request(self, func: cst.FunctionDef) -> str | None:
        """Why `func` runs per request: async, a route, or an entry-point name; None otherwise."""
        if is_cached(func, self.ctx.imports) or is_test_function(func, self.ctx.class_of(func)):
            return None
        name = func.name.value
        if func.asynchronous is not None:
            return f"async `{name}`"
        if is_route_handler(func, self.vocab.route_decorators):
            return f"route handler `{name}`"
        words = snake_words(name)
        if set(words) & self.params.helper_words:
            return None  # `infer_device()`, `get_accelerator()`: the device helper itself
        if name in self.entry_points or (words and words[0] in self.entry_points):
            return f"`{name}`"
        return None

    def _lazily_cached(self) -> bool:
        """Under `if self._device is None:` / `if not _device:`: detection runs once."""
        for cond in self.ctx.conditions():
            if cond.kind == "if" and cond.positive and contains(cond.test, self._is_unset_state):
                return True
        return False

    def _is_unset_state(self, node: cst.CSTNode) -> bool:
        """`self._device is None`, `not _DEVICE`: state that outlives the call is still unset
        (a parameter or local tested for None is per call, not a cache)."""
        tested = _none_tested(node)
        if isinstance(tested, cst.Attribute):
            return True
        if isinstance(tested, cst.Name):
            # A module-level name (or one declared `global`): not bound in an enclosing function.
            return not any(tested.value in f.bindings for f in self.ctx.frames[1:])
        return False

    def _selecting_probe(self) -> bool:
        """The probe decides a device: it is the test of a branch that picks one."""
        stack = self.ctx.stack
        imports = self.ctx.imports
        for i in range(len(stack) - 2, -1, -1):
            node = stack[i]
            if isinstance(node, (cst.If, cst.IfExp)) and stack[i + 1] is node.test:
                branches = [node.body] + ([node.orelse] if node.orelse is not None else [])
                if isinstance(node, cst.If) and isinstance(node.orelse, cst.Else):
                    branches = [node.body, node.orelse.body]
                return any(selects_device(b, imports) for b in branches if not isinstance(b, cst.If))
            if isinstance(node, (cst.BaseSuite, cst.FunctionDef)):
                return False
        return False

    def visit_Call(self, node: cst.Call) -> None:
        func = self.ctx.function
        if self.silent or func is None:
            return
        qual = self.ctx.imports.qualname(node.func)
        what = None
        if qual in _PROBES:
            if self._selecting_probe():
                what = f"`{qual}()`"
        else:
            key = self.ctx.callee_key(node.func)
            target = self._function(key) if key else None
            if target is not None and set(snake_words(target.name.value)) & self.params.helper_words \
                    and not is_cached(target, self.ctx.imports):
                if self.selections.analyse(target).is_selector:
                    what = f"uncached `{target.name.value}()`"
            elif target is None and qual is not None and set(snake_words(qual.rsplit(".", 1)[-1])) \
                    & self.params.helper_words and self._per_request(func) is not None:
                what = self._project_selector(qual)
        if what is None:
            return
        why = self._per_request(func)
        if why is not None and not self._lazily_cached() and func.name.value not in self._thread_targets() \
                and not self._loads_weights(func):
            self.report(node, what=what, where=why)

    def _loads_weights(self, func: cst.FunctionDef) -> bool:
        """Does `func` load model weights itself (`load_all_model(device=...)`, `torch.load`,
        `from_pretrained`)? Then each call is a job that sets a model up (an avatar build, an
        add-on action), and detecting the device beside the load is part of it."""
        def loads(node: cst.CSTNode) -> bool:
            if not isinstance(node, cst.Call):
                return False
            name = last_name(node.func) or ""
            words = snake_words(name)
            return name in _LOADERS or self.ctx.imports.qualname(node.func) == "torch.load" or (
                len(words) > 1 and words[0] == "load" and words[-1] in self.vocab.model_words | {"models"})
        return contains(func.body, loads)

    def _thread_targets(self) -> set[str]:
        """Functions this module starts as a thread or process (`Process(target=Engine._worker)`)
        or an event loop with (`asyncio.run(worker(...))`): each runs once, for the worker's
        lifetime, not per request."""
        if self._targets is None:
            self._targets = thread_targets(self.ctx.module) | loop_mains(self.ctx.module)
        return self._targets

    def _project_selector(self, qual: str) -> str | None:
        """An uncached device-selection helper of another project module (`get_optimal_device()`
        from the project's `utils`)."""
        facts = self.ctx.facts
        helper = facts.function(qual) if facts is not None else None
        if helper is None or helper.get("cached") or not helper.get("selects_device"):
            return None
        return f"uncached `{qual.rsplit('.', 1)[-1]}()`"

    def _function(self, key: tuple[str | None, str]) -> cst.FunctionDef | None:
        owner, name = key
        if owner is None:
            return self.ctx.index.functions.get(name)
        cls = self.ctx.index.classes.get(owner)
        if cls is None:
            return None
        return self.ctx.index.method(cls, name)


def _none_tested(node: cst.CSTNode) -> cst.BaseExpression | None:
    """`X` of `X is None` or `not X`."""
    if isinstance(node, cst.Comparison) and any(
        isinstance(c.operator, cst.Is) and isinstance(c.comparator, cst.Name) and c.comparator.value == "None"
        for c in node.comparisons
    ):
        return node.left
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        return node.expression
    return None
