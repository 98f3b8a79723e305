"""TL402: a model loaded without a dtype and then placed on an accelerator."""

from __future__ import annotations

import dataclasses
import re

import libcst as cst

from torchlint.analysis.edits import append_arg, keyword_arg, replace
from torchlint.analysis.guards import device_literal
from torchlint.analysis.loading import LoadTracker, may_be_accelerator, quantized_load
from torchlint.analysis.names import contains, descendants, literal, path_words, qualname_matches
from torchlint.checks import Check, register
from torchlint.model import SAFE
from torchlint.params import Params


def _version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts = []
    for piece in str(text).split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def _stays_on_cpu(value: cst.BaseExpression) -> bool:
    if device_literal(value) == "cpu" or (isinstance(value, cst.Name) and value.value == "None"):
        return True
    if isinstance(value, cst.Dict):  # {"": "cpu"}
        return all(device_literal(e.value) == "cpu" for e in value.elements if isinstance(e, cst.DictElement))
    return False


# `owner/name` as the Hugging Face Hub spells a repo id (no file extension, no path beyond it).
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9]")

_MEDIA_TYPES = frozenset({"text", "application", "image", "audio", "video", "multipart"})  # `text/event-stream`


_PRECISIONS = frozenset({"fp16", "fp32", "bf16", "float16", "float32", "bfloat16", "half", "full"})


def _names_precision(node: cst.CSTNode) -> bool:
    """`precision == "fp16"`: one value of a precision option (not an opt-in flag such as
    `if args.bf16:`, whose else branch is a default nobody chose)."""
    return isinstance(node, cst.SimpleString) and str(literal(node)).lower() in _PRECISIONS


def _repo_ids(node: cst.CSTNode) -> list[str]:
    """The hub repo ids the string literals in `node` spell."""
    return [v for n in descendants(node) if isinstance(n, cst.SimpleString) for v in [literal(n)]
            if isinstance(v, str) and _REPO_ID.fullmatch(v) and v.split("/")[0] not in _MEDIA_TYPES]


@dataclasses.dataclass(frozen=True)
class PretrainedDtypeParams(Params):
    transformers_version: str | None  # the project's transformers (None: read from the tree)
    auto_dtype_since: str  # transformers release whose default dtype is "auto"
    dtype_keyword_since: str  # transformers release that renamed `torch_dtype=` to `dtype=`
    self_dtype_checkpoints: tuple[str, ...]  # repo ids (fnmatch) whose remote code picks bf16/fp16 itself
    export_packages: tuple[str, ...]  # ONNX/TensorRT tooling: a module importing one builds engines


@register
class PretrainedDtype(Check):
    kind = "pretrained_dtype"
    Params = PretrainedDtypeParams
    fields = frozenset({"cls", "detail"})

    def __init__(self, *args):
        super().__init__(*args)
        p = self.params
        self.tracker = LoadTracker(self.ctx, self.vocab.model_packages, self.vocab.placing_methods)
        words = path_words(self.ctx.project_path)
        # Training keeps float32 master weights on purpose (mixed precision casts per op).
        self.training = bool(words & self.vocab.training_words) or any(
            self.ctx.imports.imports_from(pkg) for pkg in self.vocab.training_imports
        )
        # ONNX/TensorRT export tooling loads float32 weights as the export's source; the engine
        # builder chooses the engine's precision.
        self.export_tooling = any(self.ctx.imports.imports_from(pkg) for pkg in p.export_packages)
        declared = self.ctx.facts.declared_version("transformers") if self.ctx.facts is not None else None
        version = _version(p.transformers_version or declared)
        self._checkpoints: list[str] | None = None
        self._self_dtype = tuple(r.lower() for r in p.self_dtype_checkpoints)  # hub ids ignore case
        self.auto_default = version is not None and version >= _version(p.auto_dtype_since)
        self.dtype_keyword = version is not None and version >= _version(p.dtype_keyword_since)

    def _sets_own_dtype(self, call: cst.Call) -> bool:
        """A remote-code checkpoint (`trust_remote_code=True`) whose modeling code chooses bf16 or
        fp16 itself when no dtype is given (Qwen's first generation)."""
        remote = any(a.keyword is not None and a.keyword.value == "trust_remote_code" for a in call.args)
        name = next((a.value for a in call.args if a.keyword is None
                     or a.keyword.value == "pretrained_model_name_or_path"), None)
        if not remote or name is None:
            return False
        named = self._checkpoints_of(name, 3)
        if not named:  # `args.checkpoint_path`: every checkpoint the module names is such a one
            named = self._named_checkpoints()
        return bool(named) and all(qualname_matches(r.lower(), self._self_dtype) for r in named)

    def _put_in_train_mode(self, call: cst.Call) -> bool:
        """`T5EncoderModel.from_pretrained(name).train(mode=finetune)`: weights that may be trained
        keep float32 master copies (mixed precision casts per op)."""
        stack = self.ctx.stack
        for i in range(len(stack) - 2, 0, -1):
            node = stack[i]
            if isinstance(node, cst.Attribute) and node.attr.value == "train" and isinstance(stack[i - 1], cst.Call):
                return True
            if not isinstance(node, (cst.Attribute, cst.Call)):
                return False
        return False

    def _precision_chosen(self) -> bool:
        """In a branch of the user's precision option (`if precision == "fp16": ... else:`, the
        branch holding the load, not an early exit before it): the float32 load is the choice
        made, not an omission."""
        around = {id(n) for n in self.ctx.stack}
        return any(id(c.node) in around and contains(c.test, _names_precision) for c in self.ctx.conditions())

    def _built_under_default_dtype(self) -> bool:
        """A load in a class's method in a project whose loader sets torch's default dtype while
        it builds models (vLLM's `with set_default_torch_dtype(config.dtype):`): the weights take
        that dtype, not float32."""
        func = self.ctx.function
        return func is not None and self.ctx.class_of(func) is not None and self.ctx.facts is not None \
            and self.ctx.facts.default_dtype_set() is not None

    def _older_release_fallback(self) -> bool:
        """In the `except` of a `try:` that loads with `dtype=`: the `torch_dtype=` spelling is
        the fallback for transformers releases before 4.56, which reject `dtype=`."""
        stack = self.ctx.stack
        for i in range(len(stack) - 2, 0, -1):
            if isinstance(stack[i], cst.ExceptHandler) and isinstance(stack[i - 1], cst.Try):
                return contains(stack[i - 1].body, lambda n: isinstance(n, cst.Arg) and n.keyword is not None
                                and n.keyword.value == "dtype")
            if isinstance(stack[i], cst.FunctionDef):
                return False
        return False

    def _checkpoints_of(self, expr: cst.BaseExpression, depth: int) -> list[str]:
        """The hub repo ids a checkpoint argument can hold: a literal, or what a variable was set
        to (`MODEL_PATH = os.environ.get("MODEL_PATH", "THUDM/chatglm3-6b")`), followed `depth` deep."""
        value = literal(expr)
        if isinstance(value, str):
            return [value]
        if not isinstance(expr, cst.Name) or depth == 0:
            return []
        binding = self.ctx.binding(expr.value)
        if binding is None or binding.kind != "assign" or binding.value is None:
            return []
        found = _repo_ids(binding.value)
        for n in descendants(binding.value):
            if isinstance(n, cst.Name) and n is not binding.value:
                found += self._checkpoints_of(n, depth - 1)
        return found

    def _named_checkpoints(self) -> list[str]:
        """The hub repo ids (`Qwen/Qwen-7B-Chat`) the module's string literals spell."""
        if self._checkpoints is None:
            self._checkpoints = _repo_ids(self.ctx.module)
        return self._checkpoints

    def visit_Call(self, node: cst.Call) -> None:
        load = self.tracker.load(node)
        if load is None:
            return
        cls = load.owner.rsplit(".", 1)[-1]
        transformers = load.owner.startswith("transformers.")
        if load.dtype is not None:
            if self.dtype_keyword and transformers and load.dtype.keyword.value == "torch_dtype" \
                    and not self._older_release_fallback():
                rename = replace(
                    "Rename `torch_dtype=` to `dtype=`", load.dtype.keyword,
                    lambda updated: cst.Name("dtype"), safety=SAFE,
                )
                self.report(
                    load.dtype, severity="low", cls=cls, fix=rename,
                    detail="uses `torch_dtype=`, deprecated since transformers 4.56: write `dtype=`",
                )
            return
        quantized = quantized_load(node, self.ctx, self.vocab.quantization_keywords)
        if load.star_kwargs or load.casts or quantized or self.training or (transformers and self.auto_default):
            return
        if self._sets_own_dtype(node) or self.export_tooling or self._put_in_train_mode(node) \
                or self._built_under_default_dtype() or self._precision_chosen():
            return
        where = None
        if load.device_map is not None and not _stays_on_cpu(load.device_map.value):
            where = "`device_map=`"
        elif load.device is not None and not _stays_on_cpu(load.device.value):
            where = "`device=`"
        else:
            placed = next((c for c in load.placements if may_be_accelerator(c, self.ctx)), None)
            if placed is not None:
                where = f"`.{placed.func.attr.value}(...)`"
        if where is not None:
            fix = None
            if transformers:
                keyword = "dtype" if self.dtype_keyword else "torch_dtype"
                fix = replace(
                    f'Load in the checkpoint\'s dtype: `{keyword}="auto"`', node,
                    lambda updated: append_arg(updated, keyword_arg(keyword, cst.SimpleString('"auto"'))),
                )
            # The keyword named is the one the fix writes: `dtype=` when the project's
            # transformers is known to be 4.56 or newer, else `torch_dtype=` (accepted by all).
            keyword = "dtype" if self.dtype_keyword else "torch_dtype"
            renamed = "" if self.dtype_keyword else " (`dtype=` from transformers 4.56)"
            if load.host_casts:
                # `.to(dtype).to(device)`: the device never sees float32; host RAM at load does.
                self.report(
                    node, cls=cls, fix=fix, severity="low",
                    detail=f"loads float32 weights into host RAM, then `.to(dtype)` casts them before {where}: "
                    f"twice the host memory at load; pass `{keyword}=`{renamed} to load in that dtype",
                )
                return
            self.report(
                node, cls=cls, fix=fix,
                detail=f"loads float32 weights and then goes to an accelerator ({where}): twice the memory "
                f"of fp16/bf16; pass `{keyword}=`{renamed}, e.g. `{keyword}=\"auto\"` or "
                "`torch.float16 if device.type != \"cpu\" else torch.float32`",
            )
