"""TL601: blocking model work called directly inside `async def`."""

from __future__ import annotations

import dataclasses

import libcst as cst

from torchlint.analysis.lifecycle import calls_in
from torchlint.analysis.models import ModelOracle, uses_ml
from torchlint.analysis.names import dotted, last_name, qualname_matches, snake_words
from torchlint.checks import Check, register
from torchlint.params import Params


@dataclasses.dataclass(frozen=True)
class BlockingParams(Params):
    blocking_calls: tuple[str, ...]  # qualified names (fnmatch) that block wherever they are called
    non_blocking_verbs: frozenset[str]  # first words of cheap helpers named like entry points
    accessor_verbs: frozenset[str]  # first words of getters: called with no argument, they compute nothing


@register
class BlockingInAsync(Check):
    kind = "blocking_in_async"
    Params = BlockingParams
    fields = frozenset({"call", "function"})

    def __init__(self, *args):
        super().__init__(*args)
        self.models = ModelOracle(self.ctx)

    def _in_async(self) -> bool:
        func = self.ctx.function
        return func is not None and func.asynchronous is not None

    @property
    def ml(self) -> bool:
        """Only files that run models (a plain asyncio program is not this rule's business)."""
        if not hasattr(self, "_ml"):
            self._ml = uses_ml(self.ctx)
        return self._ml

    def _inside_lambda_or_awaited(self, call: cst.Call) -> bool:
        stack = self.ctx.stack
        parent = stack[-2] if len(stack) > 1 else None
        if isinstance(parent, cst.Await):
            return True
        if isinstance(parent, cst.For) and parent.asynchronous is not None and parent.iter is call:
            return True  # `async for out in engine.generate(...)`: an async generator, it yields to the loop
        if isinstance(parent, (cst.CompFor,)) and parent.asynchronous is not None and parent.iter is call:
            return True
        for node in reversed(stack[:-1]):
            if isinstance(node, cst.Lambda):
                return True
            if isinstance(node, cst.FunctionDef):
                break
        return False

    def _sync_method(self, name: str) -> bool | None:
        """For `self.<name>(...)`: True if the class defines it as a plain `def` that does
        model work (a method named like an entry point that only resets state is cheap)."""
        func = self.ctx.function
        cls = self.ctx.class_of(func) if func is not None else None
        if cls is None:
            return None
        method = self.ctx.index.method(cls, name)
        if method is None:
            return None
        return method.asynchronous is None and self._does_model_work(method)

    def _does_model_work(self, method: cst.FunctionDef) -> bool:
        """Does a method's body call into a model, an engine or another entry point (anything
        `_blocking` would name), rather than only set attributes and log?"""
        for call in calls_in(method.body.body):
            name = last_name(call.func) or ""
            if name == "from_pretrained" or qualname_matches(self.ctx.imports.qualname(call.func),
                                                             self.params.blocking_calls):
                return True
            if set(snake_words(name)) & self.vocab.entry_points and name != method.name.value:
                return True
            parts = (dotted(call.func) or "").split(".")
            heads = {snake_words(p)[-1] for p in parts[-2:] if snake_words(p)}  # `clip_model`, not `model_path`
            if heads & (self.vocab.backend_words | self.vocab.model_words):
                return True  # `self.llm(...)`, `self.model.generate(...)`
        return False

    def _blocking(self, call: cst.Call) -> str | None:
        func = call.func
        name = last_name(func) or ""
        if name == "from_pretrained":
            return dotted(func) or name  # loads weights whatever the file imports
        if not self.ml:
            return None  # the rest only in files that run models (a plain asyncio program sleeps)
        qual = self.ctx.imports.qualname(func)
        if qualname_matches(qual, self.params.blocking_calls):
            return qual
        if self.models.is_forward_call(call):
            return dotted(func) or "model"
        if isinstance(func, cst.Name):
            binding = self.ctx.binding(func.value)
            node = binding.node if binding is not None and binding.kind == "def" else None
            if isinstance(node, cst.FunctionDef) and node.asynchronous is None and self._does_model_work(node):
                return func.value  # a plain function of this module (or this handler) that runs the model
        if not isinstance(func, cst.Attribute) or not (set(snake_words(name)) & self.vocab.entry_points):
            return None
        if "async" in snake_words(name):
            return None  # `engine.generate_async(...)`: the async API, it hands back something to await
        if not call.args and snake_words(name)[0] in self.params.accessor_verbs:
            return None  # `model.get_input_embeddings()` hands back a submodule
        receiver = func.value
        spelled = dotted(receiver) or ""
        if spelled == "self":
            if snake_words(name)[0] in self.params.non_blocking_verbs:
                return None  # `self._build_completion(...)` formats a response
            return f"self.{name}" if self._sync_method(name) else None
        words = set(snake_words(spelled.split(".")[-1])) if spelled else set()
        if self.models.classify(receiver) is not None or words & self.vocab.backend_words:
            return f"{spelled}.{name}"
        return None

    def visit_Call(self, node: cst.Call) -> None:
        if not self._in_async() or self._inside_lambda_or_awaited(node):
            return
        what = self._blocking(node)
        if what is not None:
            self.report(node, call=what, function=self.ctx.function.name.value)
