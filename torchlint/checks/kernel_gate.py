"""TL702: optional GPU kernels selected without a matching compute-capability gate, and
optional kernel packages imported at module level without a fallback."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

import libcst as cst

from torchlint.analysis.deployment import imports_cuda_extension
from torchlint.analysis.device_tests import asks_capability_helper, parse_capability_spec
from torchlint.analysis.guards import (CAPABILITIES, CapabilityEvaluator, format_capability, imports_cuda_only_package,
                                       mentions_cuda_probe)
from torchlint.analysis.names import contains, descendants, dotted, last_name, qualname_matches, snake_words, within
from torchlint.analysis.optional_imports import (AVAILABILITY_WORDS, catches_import_error, has_fallback, imports_in,
                                                 records_success, selected_by_name)
from torchlint.checks import Check, register
from torchlint.params import Params

Cap = tuple[int, int]


@dataclass
class _Pending:
    node: cst.CSTNode
    kernel: str
    supported: set[Cap] | None
    function: tuple[str | None, str] | None
    admitted: set[Cap]
    gated: bool


@dataclass(frozen=True)
class KernelGateParams(Params):
    loaders: tuple[str, ...]  # qualified names of kernel loaders (`kernels.get_kernel`)
    library_hint: str  # a regex: a loaded library's path that names a GPU kernel
    optional_packages: tuple[str, ...]  # optional kernel packages that need a fallback when imported


@register
class KernelGate(Check):
    kind = "kernel_gate"
    Params = KernelGateParams

    def __init__(self, *args):
        super().__init__(*args)
        kernels, attn = self.vocab.kernel_capabilities, self.vocab.attn_implementations
        self.table = {k: parse_capability_spec(v) for k, v in kernels.items()}
        self.attn = {k: parse_capability_spec(v) for k, v in attn.items()}
        self.spec_text = {k: ", ".join(map(str, v)) for k, v in {**kernels, **attn}.items()}
        self.library_hint = re.compile(self.params.library_hint)
        self.eval = CapabilityEvaluator(self.ctx)
        self.pending: list[_Pending] = []
        self.sites: dict[tuple[str | None, str], list[tuple[set[Cap], bool]]] = {}
        # (node, package, names): imports whose except branch only logs
        self.imports: list[tuple[cst.CSTNode, str, set[str]]] = []
        self.called: dict[str, set[str | None]] = {}  # name -> the module-level functions calling it

    # ----- (a) loading / selecting a kernel --------------------------------------------
    def _select(self, node: cst.CSTNode, kernel: str, supported: set[Cap] | None) -> None:
        admitted, gated = self.eval.admitted(self.ctx.conditions())
        if any(c.positive and asks_capability_helper(c.test, self.ctx) for c in self.ctx.conditions()):
            return  # a project helper reads the capability: it is the gate
        if supported is None and (gated or self.ctx.trys or self._cuda_guarded()):
            return
        if gated and supported is not None and admitted <= supported:
            return
        func = self.ctx.function
        key = self.ctx.function_key(func) if func is not None else None
        self.pending.append(_Pending(node, kernel, supported, key, admitted, gated))

    @staticmethod
    def _returned(func: cst.FunctionDef, names: set[str]) -> bool:
        """Does `func` return one of `names` (or an attribute of it)?"""
        def hit(node: cst.CSTNode) -> bool:
            if not isinstance(node, cst.Return) or node.value is None:
                return False
            spelled = dotted(node.value) or ""
            return spelled.split(".")[0] in names
        return contains(func.body, hit)

    def _wrapper_module(self) -> bool:
        return bool(set(snake_words(PurePath(self.ctx.path).stem)) & _KERNEL_WORDS)

    def _cuda_guarded(self) -> bool:
        return any(mentions_cuda_probe(c.test, self.ctx) for c in self.ctx.conditions())

    def visit_Call(self, node: cst.Call) -> None:
        name = last_name(node.func)
        if name is not None:
            base = dotted(node.func)
            top = self.ctx.functions[0].name.value if self.ctx.functions and not self.ctx.classes else None
            for called in {name, base.split(".")[0]} if base else {name}:
                self.called.setdefault(called, set()).add(top)  # by the module-level function it is in
        qual = self.ctx.imports.qualname(node.func)
        if qualname_matches(qual, self.params.loaders):
            kernel = self._literal(node.args[0].value) if node.args else None
            if kernel is None:
                return  # which kernel is loaded is not known here (a generic loader): stay silent
            if qual and qual.endswith("load_library"):
                # Custom-op libraries are often CPU code: only GPU-looking ones are kernels.
                text = self.ctx.module.code_for_node(node.args[0].value) if node.args else ""
                if not self.library_hint.search(text):
                    return
            self._select(node, kernel, self.table.get(kernel))
            return
        key = self.ctx.callee_key(node.func)
        if key is not None:
            self.sites.setdefault(key, []).append(self.eval.admitted(self.ctx.conditions()))

    def _literal(self, expr: cst.BaseExpression) -> str | None:
        """A string argument, directly or through a local variable or module-level constant."""
        if isinstance(expr, cst.Name):
            binding = self.ctx.binding(expr.value)
            if binding is not None and binding.kind == "assign" and binding.value is not None:
                expr = binding.value
            else:
                values = self.ctx.index.globals.get(expr.value, [])
                expr = values[-1] if values else expr
        if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
            if isinstance(expr, cst.SimpleString):
                return expr.evaluated_value
            return self.ctx.module.code_for_node(expr)
        return None

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        try:
            value = node.evaluated_value
        except Exception:
            return
        if value not in self.attn or not self._is_selection(node):
            return
        if not self._hardware_driven(node):
            return  # chosen from user config (`config._attn_implementation`): not our business
        self._select(node, value, self.attn[value])

    def _hardware_driven(self, node: cst.CSTNode) -> bool:
        """Turned on because of the machine (CUDA, an import, capability) or by a literal `attn_implementation=`?"""
        ctx = self.ctx
        conditions = ctx.conditions()
        if not conditions and not ctx.trys:
            parent = ctx.parent()
            return isinstance(parent, cst.Arg) and parent.keyword is not None
        if any(c.positive and _requests_kernel(c.test) for c in conditions):
            return False  # `elif args.flash_attn == AttentionFunction.FA2:`: the user asked for it
        if any(imports_in(t) for t in ctx.trys):
            return True
        return any(
            mentions_cuda_probe(c.test, ctx) or _mentions_availability(c.test) or self.eval.admitted([c])[1]
            for c in conditions
        )

    def _is_selection(self, node: cst.CSTNode) -> bool:
        """The string turns the kernel on (an argument, assignment or return), not a comparison."""
        stack = self.ctx.stack
        for i in range(len(stack) - 2, -1, -1):
            parent = stack[i]
            if isinstance(parent, cst.IfExp):
                continue
            if isinstance(parent, cst.Arg):
                return parent.keyword is not None and "attn" in parent.keyword.value
            if isinstance(parent, cst.DictElement):
                key = parent.key
                return isinstance(key, cst.SimpleString) and "attn" in key.evaluated_value
            if isinstance(parent, (cst.Assign, cst.AnnAssign)):
                targets = parent.targets if isinstance(parent, cst.Assign) else [parent]
                names = [_target_name(t.target) for t in targets]
                return any({"attn", "attention"} & set(snake_words(n)) for n in names)
            if isinstance(parent, cst.Return):
                return True
            return False
        return False

    # ----- (b) module-level imports of optional kernel packages -------------------------
    def _optional(self, module: str) -> bool:
        return within(module, self.params.optional_packages)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            module = alias.evaluated_name
            if self._optional(module):
                local = alias.evaluated_alias or module.split(".")[0]
                self._module_import(node, module, {local})

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is None or node.relative:
            return
        module = dotted(node.module) or ""
        if not self._optional(module):
            return
        names = set()
        if not isinstance(node.names, cst.ImportStar):
            names = {a.evaluated_alias or a.evaluated_name for a in node.names}
        self._module_import(node, module, names)

    def _module_import(self, node: cst.CSTNode, module: str, names: set[str]) -> None:
        ctx = self.ctx
        if ctx.function is not None and self._returned(ctx.function, names):
            # a loader that imports the kernel and hands it out: that is selecting it (a)
            kernel = next((k for k in self.table if module == k or module.startswith(k + ".")), None)
            if kernel is not None:
                self._select(node, kernel, self.table[kernel])
            return
        if ctx.function is not None or ctx.classes:
            return  # imported lazily where it is used: (a) covers its selection
        guarded = ctx.facts.imported_only_guarded() if ctx.facts is not None else None
        if guarded or (guarded is None and self._wrapper_module()):
            # A module every user imports in try/except, or one that exists to wrap the kernel
            # (`flash_attention.py`) and no project file imports: the fallback is its importers'.
            return
        for cond in ctx.conditions():
            if mentions_cuda_probe(cond.test, ctx) or _mentions_availability(cond.test) or any(
                    _mentions_availability(v) for n in descendants(cond.test) if isinstance(n, cst.Name)
                    for v in ctx.index.globals.get(n.value, ())):
                return  # also `if _CAN_USE_FLASH_ATTN:` with `_CAN_USE_FLASH_ATTN = is_flash_attn_available()`
        if ctx.facts is not None and ctx.facts.declares(module.split(".", 1)[0].lower()):
            return  # a requirement of the project (requirements.txt, pyproject dependencies), not optional
        if imports_cuda_only_package(ctx, besides=self.params.optional_packages) \
                or (ctx.facts is not None and imports_cuda_extension(ctx.facts)):
            return  # the module needs CUDA already, not for a kernel (fairscale's layers, its own CUDA extension)
        if ctx.trys:
            handlers = [h for t in ctx.trys for h in t.handlers]
            catching = [h for h in handlers if catches_import_error(h)]
            if catching and (any(has_fallback(h) for h in catching) or any(records_success(t) for t in ctx.trys)
                             or self._preset_none(names)):
                return  # `xformers_available = True` after the import, or `flash_attn_func = None` before it
            if catching:
                self.imports.append((node, module, names))  # decided at the end
                return
        self.pending.append(_Pending(node, module, None, None, set(CAPABILITIES), False))

    def _preset_none(self, names: set[str]) -> bool:
        """`fused_mlp_func = flash_attn_func = None` at module level, then the import in a try: the
        module's fallback is None, and its users test for it (`if self.fused_mlp_func is not None`)."""
        found = self.ctx.index.globals
        return bool(names) and all(any(isinstance(v, cst.Name) and v.value == "None" for v in found.get(n, ()))
                                   for n in names)

    # ----- decisions ---------------------------------------------------------------------
    def end(self) -> None:
        for node, module, names in self.imports:
            root = module.split(".", 1)[0]
            callers = {f for n in names for f in self.called.get(n, ())}
            if callers and not all(f is not None and selected_by_name(self.ctx.module, f, root) for f in callers):
                self.report(node, detail=f"`{module}` is imported in a try whose except only logs, "
                            "and the module calls its names anyway: give it a fallback")
        for p in self.pending:
            if isinstance(p.node, (cst.Import, cst.ImportFrom)):
                self.report(p.node, detail=f"optional kernel package `{p.kernel}` is imported at module "
                            "level with no fallback: import it in try/except ImportError with a fallback")
                continue
            sites = self.sites.get(p.function) if p.function else None
            if sites and all(g and p.supported is not None and a <= p.supported for a, g in sites):
                continue  # every caller in this module gates it correctly
            if sites and p.supported is None and all(g for _, g in sites):
                continue
            self.report(p.node, detail=self._detail(p))

    def _detail(self, p: _Pending) -> str:
        spec = self.spec_text.get(p.kernel)
        if not p.gated or p.supported is None:
            what = f"kernel `{p.kernel}` is selected without a compute-capability gate"
            if spec:
                what += f" (it supports capability {spec})"
            return what + ": gate it on `torch.cuda.get_device_capability()` and keep a fallback"
        extra = sorted(p.admitted - p.supported)
        return (
            f"the gate admits {', '.join(format_capability(c) for c in extra)}, but kernel `{p.kernel}` "
            f"supports only capability {spec}: narrow the capability check"
        )


# File-name words of a module that wraps a GPU kernel.
# Words of a module that exists to wrap or install a kernel (`flash_attention.py`, a
# `llama_patch.py` monkey-patch): nobody imports it by accident.
_KERNEL_WORDS = frozenset({"flash", "attn", "attention", "xformers", "kernel", "kernels", "triton", "fa2", "fa3",
                           "patch", "patching", "monkey"})
_OPTION_OWNERS = frozenset({"option", "options", "opts", "config", "cfg", "args", "settings"})  # what a user sets


def _target_name(target: cst.BaseExpression) -> str:
    """`attn_impl` of `attn_impl = ...`, `self.attn_impl = ...`, `kwargs["attn_implementation"] = ...`."""
    if isinstance(target, cst.Subscript) and len(target.slice) == 1:
        index = target.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return str(index.value.evaluated_value)
    return last_name(target) or ""


def _mentions_availability(test: cst.BaseExpression) -> bool:
    """`is_flash_attn_2_available()`, `xformers_enabled()`, `has_flash_attn`, `find_spec(...)`, `TYPE_CHECKING`."""

    def hit(node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Name):
            words = snake_words(node.value)
            return bool(set(words) & AVAILABILITY_WORDS) or words[:1] == ["has"] or node.value in (
                "TYPE_CHECKING", "find_spec")
        return isinstance(node, cst.Attribute) and node.attr.value in ("TYPE_CHECKING", "find_spec")

    return contains(test, hit)


def _requests_kernel(test: cst.BaseExpression) -> bool:
    """A setting compared to the kernel's own option (`model_args.flash_attn == AttentionFunction.FA2`,
    `args.attn == "flash_attention_2"`) or an option naming it: a request, not the machine's doing."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _requests_kernel(test.left) or _requests_kernel(test.right)
    if isinstance(test, cst.Attribute):  # `accelerator_options.cuda_use_flash_attention2`: a user's option
        return "flash" in test.attr.value.lower() and bool(_OPTION_OWNERS & set(snake_words(dotted(test.value) or "")))
    if not isinstance(test, cst.Comparison) or not all(
            isinstance(c.operator, (cst.Equal, cst.In)) for c in test.comparisons):
        return False
    sides = [test.left, *(c.comparator for c in test.comparisons)]

    def names_kernel(node: cst.CSTNode) -> bool:
        text = (dotted(node) if isinstance(node, (cst.Name, cst.Attribute)) else
                str(node.evaluated_value) if isinstance(node, cst.SimpleString) else "") or ""
        return "flash" in text.lower() or bool({"fa2", "fa3"} & set(snake_words(text.replace(".", "_"))))

    return any(contains(side, names_kernel) for side in sides[1:]) or (
        isinstance(sides[0], cst.SimpleString) and names_kernel(sides[0]))
