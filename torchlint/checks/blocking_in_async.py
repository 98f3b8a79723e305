"""TL601: blocking model work called directly inside `async def`."""

from __future__ import annotations

import codecs
import dataclasses

import libcst as cst

from torchlint.analysis.entrypoints import before_other_tasks, loop_mains
from torchlint.analysis.lifecycle import calls_in
from torchlint.analysis.models import ModelOracle, bound_values, uses_ml
from torchlint.analysis.names import descendants, dotted, last_name, literal, qualname_matches, snake_words
from torchlint.analysis.places import is_route_handler
from torchlint.checks import Check, register
from torchlint.params import Params


@dataclasses.dataclass(frozen=True)
class BlockingParams(Params):
    blocking_calls: tuple[str, ...]  # qualified names (fnmatch) that block wherever they are called
    non_blocking_verbs: frozenset[str]  # first words of cheap helpers named like entry points
    accessor_verbs: frozenset[str]  # first words of getters: called with no argument, they compute nothing
    codec_words: frozenset[str]  # words of serialisers named like entry points (`encode_to_base64`)


@register
class BlockingInAsync(Check):
    kind = "blocking_in_async"
    Params = BlockingParams
    fields = frozenset({"call", "function"})

    def __init__(self, *args):
        super().__init__(*args)
        self.models = ModelOracle(self.ctx)
        self._sinks: dict[cst.FunctionDef, set[str]] = {}  # per async function: names an `async for` iterates
        self._hooks: dict[cst.FunctionDef, bool] = {}  # per async function: a startup/shutdown hook?
        self._lifespans: set[str] | None = None  # functions handed to the app as hooks (read once)
        self._mains: set[str] | None = None  # coroutines the module starts an event loop with

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
        return self._iterated_async(call)

    def _iterated_async(self, call: cst.Call) -> bool:
        """`gen = engine.generate(...)` later iterated by `async for ... in gen` (also through a
        list it is appended to and an `*async*` merge of that list): the call hands back an async
        iterator, the waiting happens at the `async for`."""
        stack = self.ctx.stack
        parent = stack[-2] if len(stack) > 1 else None
        holder = None
        if isinstance(parent, cst.Assign) and parent.value is call and len(parent.targets) == 1:
            holder = parent.targets[0].target
        elif isinstance(parent, cst.AnnAssign) and parent.value is call:
            holder = parent.target
        elif isinstance(parent, cst.Arg) and len(stack) > 2 and isinstance(stack[-3], cst.Call) \
                and last_name(stack[-3].func) == "append" and isinstance(stack[-3].func, cst.Attribute):
            holder = stack[-3].func.value  # `generators.append(engine.generate(...))`
        if not isinstance(holder, cst.Name):
            return False
        return holder.value in self._async_iterated() or _streams(call) and holder.value in _handed_to_threads(
            self.ctx.function)

    def _async_iterated(self) -> set[str]:
        func = self.ctx.function
        if func not in self._sinks:
            self._sinks[func] = _async_sinks(func)
        return self._sinks[func]

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
        `_blocking` would name), rather than only set attributes and log? Calls in a function it
        defines (an `async def abort()` handed to background tasks) run later, if ever."""
        later = {id(c) for d in descendants(method.body) if isinstance(d, cst.FunctionDef)
                 for c in descendants(d.body) if isinstance(c, cst.Call)}
        for call in calls_in(method.body.body):
            if id(call) in later:
                continue
            name = last_name(call.func) or ""
            if name in _LOOP_DRIVERS:
                continue  # `loop.run_until_complete(func())` starts a loop: no model work, and in a running loop it raises
            if name == "from_pretrained" or qualname_matches(self.ctx.imports.qualname(call.func),
                                                             self.params.blocking_calls):
                return True
            if set(snake_words(name)) & self.vocab.entry_points and name != method.name.value \
                    and not name[:1].isupper() and not self._codec(call, name):
                return True  # not `ChatCompletionStreamResponse(...)`: building a response object
            parts = (dotted(call.func) or "").split(".")
            # `clip_model`, not `model_path`; `HuggingfaceEngine._process_args(...)` is a static helper
            heads = {snake_words(p)[-1] for p in parts[-2:] if snake_words(p) and not p[:1].isupper()}
            if heads & (self.vocab.backend_words | self.vocab.model_words) \
                    and not set(snake_words(name)).intersection(self.vocab.unload_methods):
                return True  # `self.llm(...)`, `self.model.generate(...)`; not `model.stop()`
        return False

    def _codec(self, call: cst.Call, name: str) -> bool:
        """`encode_pil_to_base64(image)`, `payload.decode("utf-8")`: a serialiser, not a model."""
        if set(snake_words(name)) & self.params.codec_words:
            return True
        first = literal(call.args[0].value) if call.args and call.args[0].keyword is None else None
        return name in ("encode", "decode") and isinstance(first, str) and _codec_name(first)

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
        words = snake_words(name)
        if words[0] in self.params.accessor_verbs and (not call.args or words[-1] not in self.vocab.entry_points):
            # `model.get_input_embeddings()` hands back a submodule, `backend.get_inference_cache_
            # descriptors(batch, length)` the shapes of a cache (not `get_embeddings(texts)`)
            return None
        receiver = func.value
        spelled = dotted(receiver) or ""
        if spelled == "self":
            if snake_words(name)[0] in self.params.non_blocking_verbs:
                return None  # `self._build_completion(...)` formats a response
            return f"self.{name}" if self._sync_method(name) else None
        receiver_words = set(snake_words(spelled.split(".")[-1])) if spelled else set()
        if self._async_object(receiver):
            return None  # `self.model = AsyncLLMEngine.from_engine_args(...)`: its methods hand back awaitables
        if self.models.classify(receiver) is not None or receiver_words & self.vocab.backend_words:
            return f"{spelled}.{name}"
        return None

    def _async_object(self, receiver: cst.BaseExpression) -> bool:
        """Was the receiver built by an `Async*` class (vLLM's AsyncLLMEngine, AsyncOpenAI): an
        asyncio API whose methods return coroutines or async iterators?"""
        for value in bound_values(self.ctx, receiver):
            if isinstance(value, cst.Call) and any(
                    part.startswith("Async") and part[5:6].isupper() for part in (dotted(value.func) or "").split(".")):
                return True
        return False

    def _startup_hook(self) -> bool:
        """The async function runs as the server starts or stops, before or after any client:
        `@app.on_event("startup")`, `FastAPI(lifespan=lifespan)`, `Starlette(on_startup=[...])`."""
        func = self.ctx.function
        if func not in self._hooks:
            if self._lifespans is None:
                self._lifespans = _lifespan_names(self.ctx.module)
            self._hooks[func] = func.name.value in self._lifespans or any(
                isinstance(d.decorator, cst.Call) and last_name(d.decorator.func) in _HOOK_DECORATORS
                and any(literal(a.value) in _HOOK_EVENTS for a in d.decorator.args) for d in func.decorators)
        return self._hooks[func]

    def visit_Call(self, node: cst.Call) -> None:
        if not self._in_async() or self._inside_lambda_or_awaited(node):
            return
        what = self._blocking(node)
        if what is not None and not self._startup_hook() and not self._alone_on_loop(node):
            self.report(self._iterated_at(node), call=what, function=self.ctx.function.name.value)

    def _alone_on_loop(self, call: cst.Call) -> bool:
        """The function is the coroutine this module starts its event loop with (`asyncio.run(
        main())`) and the call comes before it lets another coroutine onto the loop: a script's
        or a worker's setup, which keeps no client waiting."""
        if self._mains is None:
            self._mains = loop_mains(self.ctx.module)
        func = self.ctx.function
        return func.name.value in self._mains and self.ctx.class_of(func) is None \
            and not is_route_handler(func, self.vocab.route_decorators) and before_other_tasks(func, call)

    def _iterated_at(self, call: cst.Call) -> cst.CSTNode:
        """Where a streaming call blocks: `gen = model.chat(..., stream=True)` builds a generator,
        and the `for ... in gen:` after it runs the model, one step per item."""
        parent = self.ctx.stack[-2] if len(self.ctx.stack) > 1 else None
        if not _streams(call) or not isinstance(parent, cst.Assign) or len(parent.targets) != 1 \
                or not isinstance(parent.targets[0].target, cst.Name):
            return call
        name = parent.targets[0].target.value
        return next((n.iter for n in descendants(self.ctx.function.body) if isinstance(n, cst.For)
                     and n.asynchronous is None and isinstance(n.iter, cst.Name) and n.iter.value == name), call)


_HOOK_DECORATORS = frozenset({"on_event", "listener"})  # FastAPI/Starlette, Sanic
_HOOK_EVENTS = frozenset({"startup", "shutdown", "before_server_start", "after_server_start",
                          "before_server_stop", "after_server_stop"})


# Calls that drive an event loop of their own (a helper's no-loop path), not model work.
_LOOP_DRIVERS = frozenset({"run_until_complete", "run_forever"})


# Calls that run their callable and its arguments' work off the event loop.
_OFF_LOOP = frozenset({"to_thread", "run_in_executor", "run_in_threadpool", "run_sync", "iterate_in_threadpool"})


def _streams(call: cst.Call) -> bool:
    """A streaming call (`generate_stream(...)`, `chat(..., stream=True)`): it hands back a
    generator whose items are computed as it is iterated."""
    return "stream" in snake_words(last_name(call.func) or "") or any(
        a.keyword is not None and a.keyword.value == "stream" and literal(a.value) is True for a in call.args)


def _handed_to_threads(func: cst.FunctionDef) -> set[str]:
    """Names `func` passes to a thread (`await asyncio.to_thread(next, stream)`): a generator
    handed over so is iterated there, off the loop."""
    return {a.value.value for n in descendants(func.body) if isinstance(n, cst.Call)
            and last_name(n.func) in _OFF_LOOP for a in n.args if isinstance(a.value, cst.Name)}


def _codec_name(text: str) -> bool:
    """Is `text` the name of a Python codec (`"utf-8"`, `"latin-1"`), not a prompt?"""
    try:
        codecs.lookup(text)
    except LookupError:
        return False
    return True


def _lifespan_names(module: cst.Module) -> set[str]:
    """Functions handed to an app as its lifespan or startup/shutdown hooks."""
    names: set[str] = set()
    for node in descendants(module):
        if isinstance(node, cst.Arg) and node.keyword is not None:
            key, value = node.keyword.value, node.value
            if key == "lifespan" and isinstance(value, cst.Name):
                names.add(value.value)
            elif key in ("on_startup", "on_shutdown") and isinstance(value, (cst.List, cst.Tuple)):
                names |= {e.value.value for e in value.elements if isinstance(e.value, cst.Name)}
    return names


def _async_sinks(func: cst.FunctionDef) -> set[str]:
    """Names whose values an `async for` in `func` iterates, followed back through `x = y`,
    `x = merge_async_iterators(*ys)` (a call with "async" in its name) and `ys.append(y)`."""
    sinks: set[str] = set()
    flows: list[tuple[str, str]] = []  # (from, into): into being iterated makes from iterated
    for node in descendants(func.body):
        if isinstance(node, cst.For) and node.asynchronous is not None and isinstance(node.iter, cst.Name):
            sinks.add(node.iter.value)
        elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and any(
                isinstance(n, cst.Name) and n.value.startswith("Async") for n in descendants(node.annotation)):
            sinks.add(node.target.value)  # `generators: list[AsyncGenerator[Output, None]] = []`
        if isinstance(node, (cst.Assign, cst.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, cst.Assign) else [node]
            into = [t.target.value for t in targets if isinstance(t.target, cst.Name)]
            value = node.value
            sources = [value] if isinstance(value, cst.Name) else []
            if isinstance(value, cst.Call) and "async" in snake_words(last_name(value.func) or ""):
                sources = [a.value for a in value.args]
            flows += [(src.value, t) for src in sources if isinstance(src, cst.Name) for t in into]
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "append" \
                and isinstance(node.func.value, cst.Name) and node.args and isinstance(node.args[0].value, cst.Name):
            flows.append((node.args[0].value.value, node.func.value.value))
    changed = True
    while changed:
        changed = False
        for src, into in flows:
            if into in sinks and src not in sinks:
                sinks.add(src)
                changed = True
    return sinks
