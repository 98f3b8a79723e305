"""Is this expression a model object, and is this call a model forward call?"""

from __future__ import annotations


import libcst as cst

from torchlint.analysis.arrays import fed_host_arrays
from torchlint.analysis.context import Context
from torchlint.analysis.grad import is_torch_no_grad
from torchlint.analysis.lifecycle import calls_in
from torchlint.analysis.names import annotated_class, contains, dotted, imported_modules, qualname_matches, snake_words, within
from torchlint.walk import children

# Loaders whose result is a model (not a tokenizer or config).
MODEL_LOADERS = ("*.from_pretrained", "torch.load", "torch.jit.load", "torch.hub.load", "*.from_single_file")
_NOT_MODEL_WORDS = ("tokenizer", "processor", "config", "extractor", "scheduler", "pipeline", "pipe")
_VERBS = (
    "get", "load", "build", "create", "make", "init", "setup", "prepare", "compute", "run", "apply",
    "preprocess", "postprocess", "process", "convert", "wrap", "unwrap", "patch", "register", "check", "validate",
    "update", "set", "save", "fuse", "quantize", "dispatch", "enable", "disable", "is", "has", "find",
    "unpatch", "unload", "offload", "reload", "release", "free", "clear", "reset", "move", "cast", "export",
    "freeze", "unfreeze", "print", "log", "show", "replace", "remove", "add", "attach", "capture",
    "download", "fetch", "list", "delete", "select", "resolve", "initialize", "instantiate", "construct",
    "restore", "switch", "change",
)
# Verbs that name an action wherever they stand before the noun (`util_get_current_model`,
# `api_set_model`); not the ones that can be a noun or modifier of a model (`log_mel_encoder`).
_ACTION_VERBS = frozenset({
    "get", "load", "build", "create", "make", "init", "initialize", "instantiate", "construct", "setup", "prepare",
    "set", "update", "save", "download", "fetch", "delete", "select", "resolve", "restore", "switch", "change",
    "reload", "unload", "offload", "release", "clear", "reset", "remove", "replace",
    "patch", "unpatch", "quantize", "fuse", "compile", "wrap", "unwrap", "convert", "cast", "move", "export", "attach",
})
# A name with a preposition is a function name (`_batch_prepare_for_model`), not a model.
_PREPOSITIONS = ("for", "to", "from", "with", "by", "of", "into", "on")


def uses_ml(ctx: Context) -> bool:
    """Does the module import a package that runs models (vocabulary `ml_packages`)? A file
    importing none is not inference code torchlint can judge: `self.encoder(...)` in a codec
    is no model call."""
    return any(ctx.imports.imports_from(p) for p in ctx.vocab.ml_packages)


class ModelOracle:
    """Classifies callables for one file. Unknown stays unknown: callers stay silent then."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.model_words = ctx.vocab.model_words
        self.grad_free = ctx.vocab.grad_free_callees
        self._local_no_grad: dict[str, bool] = {}  # local class -> its instances record no graph
        self._runtime: dict[int, bool] = {}  # function -> imports a non-torch array runtime itself
        self._returns: dict[int, frozenset | None] = {}  # method -> what kinds of object it returns

    def _constructor_kind(self, value: cst.BaseExpression | None, depth: int = 0) -> str | None:
        """'grad_free', 'model', 'weightless' (vocabulary `weightless_words`), 'other' for
        `x = Ctor(...)`, None when not a call."""
        if not isinstance(value, cst.Call) or depth > 6:
            return None
        qual = self.ctx.imports.qualname(value.func) or dotted(value.func) or ""
        if qualname_matches(qual, self.grad_free):  # not `exllamav3.Tokenizer.from_config(...)`: no model
            classes = [p for p in qual.split(".") if p[:1].isupper()]
            words = set(snake_words(classes[-1])) if classes else set()
            return "other" if words & set(_NOT_MODEL_WORDS) and not words & {"pipeline", "pipe"} else "grad_free"
        if qualname_matches(qual, MODEL_LOADERS):
            owner = qual.rsplit(".", 2)[-2] if "." in qual else qual
            words = snake_words(owner)
            if any(w in _NOT_MODEL_WORDS for w in words):
                return "other" if "pipeline" not in words else "grad_free"
            return "model"
        if isinstance(value.func, cst.Attribute) and value.func.attr.value in ("to", "cuda", "eval", "half", "float"):
            inner = value.func.value
            return self._constructor_kind(inner, depth + 1) or self.classify(inner, depth + 1)
        if self._runs_without_grad(value.func):
            return "grad_free"
        if within(qual, self.ctx.vocab.non_torch_packages):
            return "not_torch"  # `cv2.dnn.readNet(...)`: not a torch module, whatever it is named
        if any(self._non_torch_class(a.value) for a in value.args):
            return "not_torch"  # `optimize_model(path, model_class=ORTModelForSequenceClassification)`
        if project_loader(self.ctx, qual):
            return "model"
        spelled = dotted(value.func) or ""
        if spelled.startswith("self.") and spelled.count(".") == 1 and self.ctx.classes:  # `self.pipe = self.load()`
            method = self.ctx.index.method(self.ctx.classes[-1], value.func.attr.value)
            if method is not None and id(method) not in self._returns:
                self._returns[id(method)] = None  # a method returning its own call: no answer
                self._returns[id(method)] = frozenset(self._constructor_kind(v, depth + 1) for v in returned_values(method))
            kinds = self._returns.get(id(method)) or frozenset()
            if kinds & {"grad_free", "model"}:
                return "model" if "model" in kinds else "grad_free"
        cls = qual.rsplit(".", 1)[-1]
        if cls[:1].isupper() and set(snake_words(cls)) & self.ctx.vocab.weightless_words:
            return "weightless"
        return "other"

    def _non_torch_class(self, expr: cst.BaseExpression) -> bool:
        """An ONNX Runtime or OpenVINO model class (vocabulary `non_torch_model_packages`)."""
        qual = self.ctx.imports.qualname(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else None
        return qual is not None and within(qual, self.ctx.vocab.non_torch_model_packages)

    def _runs_without_grad(self, cls: cst.BaseExpression) -> bool:
        """A project class whose `forward` (or `__call__`) is itself decorated no-grad, or hands
        the work to a no-grad method of its own (`return self.forward_with_tokens(...)`):
        calling its instances records no graph, wherever they are called from."""
        name = dotted(cls)
        if name is None:
            return False
        local = self.ctx.index.classes.get(name)
        if local is not None:
            if name not in self._local_no_grad:
                self._local_no_grad[name] = self._local_runs_without_grad(local)
            return self._local_no_grad[name]
        facts = self.ctx.facts
        qual = self.ctx.imports.qualname(cls)
        if facts is None or qual is None or not name.rsplit(".", 1)[-1][:1].isupper():
            return False  # only a class (CapWords) constructs instances
        for m in ("forward", "__call__"):
            entry = facts.method(qual, m) or {}
            if entry.get("no_grad") or any((facts.method(qual, d) or {}).get("no_grad")
                                           for d in entry.get("self_calls", ())):
                return True
        # A wrapper whose constructor freezes the model it builds (`.requires_grad_(False)`):
        # with no parameter asking for gradients, its calls record no graph.
        return bool((facts.method(qual, "__init__") or {}).get("freezes"))

    def _local_runs_without_grad(self, local: cst.ClassDef) -> bool:
        def no_grad(method: cst.FunctionDef | None) -> bool:
            return method is not None and any(is_torch_no_grad(d.decorator, self.ctx.imports) for d in method.decorators)

        for entry in (self.ctx.index.method(local, m) for m in ("forward", "__call__")):
            if entry is None:
                continue
            if no_grad(entry):
                return True
            delegates = {dotted(n.func)[5:] for n in calls_in(entry.body.body) if (dotted(n.func) or "").count(".") == 1
                         and (dotted(n.func) or "").startswith("self.")}
            if any(no_grad(self.ctx.index.method(local, d)) for d in delegates):
                return True
        return False

    def _handed_grad_free(self, cls: cst.ClassDef, value: cst.BaseExpression) -> bool:
        """`self.x = x` in `__init__(self, x: KModel)`, where the annotated class disables grad
        itself: its instances record no graph."""
        if not isinstance(value, cst.Name):
            return False
        init = self.ctx.index.method(cls, "__init__")
        if init is None:
            return False
        p = init.params
        for param in (*p.posonly_params, *p.params, *p.kwonly_params):
            if param.name.value == value.value and param.annotation is not None:
                return self._runs_without_grad(annotated_class(param.annotation))
        return False

    def _by_words(self, name: str) -> str | None:
        words = snake_words(name)
        if name[:1].isupper():
            return None  # a class: calling it constructs, it does not run forward
        # a verb anywhere before the noun names an action (`util_get_current_model`), not a model
        if not words or words[0] in _VERBS or any(w in _ACTION_VERBS for w in words[1:-1]) or any(
                w in _NOT_MODEL_WORDS or w in _PREPOSITIONS for w in words):
            return None
        return "model" if words[-1] in self.model_words else None

    def classify(self, expr: cst.BaseExpression, depth: int = 0) -> str | None:
        """'model' (calling it runs forward with grad), 'grad_free', or None (unknown/not a model)."""
        ctx = self.ctx
        if depth > 6:
            return None
        if isinstance(expr, cst.Name):
            binding = ctx.binding(expr.value)
            if binding is not None:
                if binding.kind in ("def", "import"):
                    return None
                if binding.kind == "param" and binding.annotation is not None \
                        and self._runs_without_grad(annotated_class(binding.annotation)):
                    return "grad_free"  # `model: KModel`, a project class that disables grad itself
                if binding.kind == "assign" and isinstance(binding.value, cst.Lambda):
                    return None  # `model = lambda x: x**2`: a stand-in, not a module
                named = annotated_class(binding.annotation) if binding.annotation is not None else None
                if binding.kind == "assign" and named is not None and (self._runs_without_grad(named) or qualname_matches(
                        ctx.imports.qualname(named), self.grad_free)):  # `model: AudioLDMPipeline = None`, loaded later
                    return "grad_free"
                if binding.kind == "assign":
                    kind = self._constructor_kind(binding.value, depth + 1)
                    if kind in ("grad_free", "model"):
                        return kind
                    if kind in ("other", "weightless", "not_torch"):
                        return None
            elif ctx.imports.is_imported(expr.value) or expr.value in ctx.index.functions:
                return None
            elif expr.value in ctx.index.classes:
                return None
            else:
                for value in ctx.index.globals.get(expr.value, []):
                    kind = self._constructor_kind(value, depth + 1)
                    if kind == "grad_free":
                        return kind
            return self._by_words(expr.value)
        if isinstance(expr, cst.Attribute):
            spelled = dotted(expr)
            if spelled and spelled.startswith("self.") and spelled.count(".") == 1 and ctx.classes:
                cls = ctx.classes[-1]
                if ctx.index.method(cls, expr.attr.value) is not None:
                    return None  # `self._resolve_model(...)` is a method call, not a model
                if self._inherited(expr):
                    return None  # never assigned here: most likely a method inherited from a base
                attrs = ctx.index.self_attrs.get(cls.name.value, {})
                values = attrs.get(expr.attr.value, [])
                if values and all(isinstance(v, cst.Lambda) for v in values):
                    return None  # `self.model = lambda x: x**2` (a test double)
                kinds = {self._constructor_kind(v, depth + 1) for v in values}
                if any(self._handed_grad_free(cls, v) for v in values):
                    return "grad_free"  # `self.decoder = decoder` with `decoder: VAEDecoder` (no-grad __call__)
                if kinds & {"weightless", "not_torch"} and "model" not in kinds:
                    return None
                if "grad_free" in kinds:
                    return "grad_free"
                if "model" in kinds:
                    return "model"
            if ctx.imports.qualname(expr) is not None:
                return None
            root = (spelled or "").split(".")[0]
            if root[:1].isupper():
                return None  # `SomeClass.helper(...)`: a static function, not a model object
            return self._by_words(expr.attr.value)
        return None

    def is_forward_call(self, call: cst.Call) -> bool:
        """`model(x)`, `self.encoder(**inputs)`, or `<model>.forward(x)`. Not a call whose first
        argument is a string (`server.model("identity")` looks a model up by name)."""
        # `import mlx.core as mx` in this (or an enclosing) function: MLX's models (asked last: rare)
        return self._torch_forward(call) and not any(self._imports_other_runtime(f) for f in self.ctx.functions)

    def _torch_forward(self, call: cst.Call) -> bool:
        func = call.func
        if call.args and call.args[0].keyword is None and isinstance(
                call.args[0].value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            return False
        if isinstance(func, cst.Attribute) and self._not_torch(func.value) or fed_host_arrays(call, self.ctx):
            return False  # `ie.read_model(...)` of an OpenVINO `Core()`; `session(x_np)`: no torch module
        if isinstance(func, cst.Attribute) and func.attr.value == "forward":
            return self.classify(func.value) != "grad_free" and not self._plain_object(func.value) \
                and not self._inherited(func.value)
        if self._submodule_accessor(func):
            return True  # `self.model.get_encoder()(features)`: runs the model's encoder
        return self.classify(func) == "model"

    def _imports_other_runtime(self, func: cst.FunctionDef) -> bool:
        if id(func) not in self._runtime:
            packages = self.ctx.vocab.non_torch_packages
            self._runtime[id(func)] = contains(func.body, lambda n: isinstance(n, (cst.Import, cst.ImportFrom)) and any(
                within(m, packages) for m in imported_modules(n)))
        return self._runtime[id(func)]

    def _inherited(self, expr: cst.BaseExpression) -> bool:
        """`self.model`, never assigned in this class but in a base of another module: unknown,
        as calling it (`self.model(x)`) is (LightLLM's backends run `self.model.forward(...)` of a
        base's engine whose `forward` is no-grad)."""
        spelled = dotted(expr) or ""
        if not (spelled.startswith("self.") and spelled.count(".") == 1 and self.ctx.classes):
            return False
        cls = self.ctx.classes[-1]
        attr = spelled[5:]
        return bool(cls.bases) and self.ctx.index.method(cls, attr) is None \
            and attr not in self.ctx.index.self_attrs.get(cls.name.value, {})

    def _plain_object(self, expr: cst.BaseExpression) -> bool:
        """Built from a project class with no base but `object` (`PriorBox(cfg).forward()` makes
        anchors): its `forward` is a method of no module."""
        values = bound_values(self.ctx, expr)
        return bool(values) and all(isinstance(v, cst.Call) and self._plain_class(v.func) for v in values)

    def _plain_class(self, func: cst.BaseExpression) -> bool:
        name = dotted(func) or ""
        local = self.ctx.index.classes.get(name)
        if local is not None:
            return all(dotted(b.value) == "object" for b in local.bases)
        facts = self.ctx.facts
        hit = facts.lookup(self.ctx.imports.qualname(func) or name) if facts is not None and name else None
        return hit is not None and hit[0] == "class" and set(hit[2].get("bases", [])) <= {"object"}

    def _not_torch(self, expr: cst.BaseExpression) -> bool:
        """Built by a package whose objects are never torch modules (`cv2.dnn.readNet(...)`)."""
        return any(self._constructor_kind(v) == "not_torch" for v in bound_values(self.ctx, expr))

    def _submodule_accessor(self, func: cst.BaseExpression) -> bool:
        """`model.get_encoder()`, `model.get_decoder()`: a model's accessor for one of its
        submodules (named for a model part), whose result is itself a model."""
        if not (isinstance(func, cst.Call) and isinstance(func.func, cst.Attribute) and not func.args):
            return False
        words = snake_words(func.func.attr.value)
        return len(words) >= 2 and words[0] == "get" and words[-1] in self.model_words \
            and self.classify(func.func.value) == "model"

    def is_model(self, expr: cst.BaseExpression) -> bool:
        """A model object, or a call that builds one (`T2IAdapter.from_pretrained(...)`)."""
        return self.classify(expr) in ("model", "grad_free") or self._constructor_kind(expr) in ("model", "grad_free")

    def is_model_call(self, call: cst.Call) -> bool:
        """A forward call, or any method call on a model object (`model.generate(...)`)."""
        if self.is_forward_call(call):
            return True
        func = call.func
        return isinstance(func, cst.Attribute) and self.classify(func.value) in ("model", "grad_free")


def bound_values(ctx: Context, expr: cst.BaseExpression) -> list[cst.BaseExpression]:
    """What a name (its assignment here) or a `self.x` attribute (its assignments in the class)
    was set to; empty for anything else."""
    if isinstance(expr, cst.Name):
        binding = ctx.binding(expr.value)
        return [binding.value] if binding is not None and binding.kind == "assign" and binding.value is not None else []
    spelled = dotted(expr) or ""
    if not (isinstance(expr, cst.Attribute) and spelled.startswith("self.") and spelled.count(".") == 1
            and ctx.classes):
        return []
    return list(ctx.index.self_attrs.get(ctx.classes[-1].name.value, {}).get(expr.attr.value, []))


def project_loader(ctx: Context, qual: str | None) -> bool:
    """A project function that returns what it placed on a device (`load_jit_model(url, device)`:
    `model = torch.jit.load(p).to(device)`, `return model`): what it builds is a model, and it
    holds accelerator memory."""
    facts = ctx.facts
    if facts is None or not qual or qual.rsplit(".", 1)[-1][:1].isupper():
        return False  # a CapWords name is a class: its constructor, not a loader
    found = facts.function(qual)
    return bool(found and "placed" in found.get("returns", ()))


def returned_values(method: cst.FunctionDef) -> list[cst.BaseExpression]:
    """What a function returns: each `return <call>`, and for `return name` the values that name
    is assigned in the function (nested functions aside)."""
    returns: list[cst.BaseExpression] = []
    assigned: dict[str, list[cst.BaseExpression]] = {}
    stack: list[cst.CSTNode] = [method.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Return) and node.value is not None:
            returns.append(node.value)
        elif isinstance(node, cst.Assign) and len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name):
            assigned.setdefault(node.targets[0].target.value, []).append(node.value)
        stack.extend(children(node))
    return [v for r in returns for v in (assigned.get(r.value, []) if isinstance(r, cst.Name) else [r])]
