"""TL303: an unload path drops torch-backed objects without `torch.cuda.empty_cache()`."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from torchlint.analysis.edits import Fix, call, torch_name
from torchlint.analysis.lifecycle import calls_in, method_of, name_has, self_attribute
from torchlint.analysis.models import ModelOracle, project_loader
from torchlint.analysis.names import dotted, last_name, qualname_matches, snake_words
from torchlint.checks import Check, register
from torchlint.params import Params

EMPTY_CACHE = "torch.cuda.empty_cache"


@dataclass
class _Unload:
    method: cst.FunctionDef
    # (reported node, attribute, the statement line holding the drop)
    drops: list[tuple[cst.CSTNode, str, cst.CSTNode | None]] = field(default_factory=list)
    clears: bool = False
    delegates: bool = False


@dataclass(frozen=True)
class UnloadCacheClearParams(Params):
    torch_backed_constructors: tuple[str, ...]  # qualified names (fnmatch) whose result holds GPU memory
    not_torch_backed: tuple[str, ...]  # backends whose memory torch's cache does not hold


@register
class UnloadCacheClear(Check):
    kind = "unload_cache_clear"
    Params = UnloadCacheClearParams
    fields = frozenset({"attr", "method"})

    def __init__(self, *args):
        super().__init__(*args)
        self.models = ModelOracle(self.ctx)
        self.unloads: dict[int, _Unload] = {}
        index = self.ctx.index
        self.clearing_functions = {n for n, f in index.functions.items() if self._clears_cache(f)}

    def _clears_cache(self, func: cst.FunctionDef) -> bool:
        return any(self.ctx.imports.qualname(c.func) == EMPTY_CACHE for c in calls_in(func.body.body))

    def _current(self) -> _Unload | None:
        found = method_of(self.ctx)
        return self.unloads.get(id(found[1])) if found else None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        cls = self.ctx.class_of(node)
        if cls is not None and name_has(node.name.value, self.vocab.unload_methods):
            self.unloads[id(node)] = _Unload(node)

    def _drop(self, node: cst.CSTNode, attr: str | None) -> None:
        unload = self._current()
        if unload is not None and attr is not None:
            unload.drops.append((node, attr, self._anchor()))

    def _anchor(self) -> cst.SimpleStatementLine | None:
        """The statement line after which `empty_cache()` goes: the drop's own line, moved past
        the drops and `gc.collect()` calls that directly follow it in the same block."""
        stack = self.ctx.stack
        i = max((k for k, n in enumerate(stack) if isinstance(n, cst.SimpleStatementLine)), default=0)
        if i == 0 or not isinstance(stack[i - 1], cst.IndentedBlock):
            return None
        body = list(stack[i - 1].body)
        at = next(k for k, n in enumerate(body) if n is stack[i])
        while at + 1 < len(body) and self._cleanup_line(body[at + 1]):
            at += 1
        return body[at]

    def _cleanup_line(self, stmt: cst.CSTNode) -> bool:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        for small in stmt.body:
            if isinstance(small, cst.Del):
                continue
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Name) and small.value.value == "None":
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and (
                self.ctx.imports.qualname(small.value.func) == "gc.collect"
            ):
                continue
            return False
        return True

    def visit_Assign(self, node: cst.Assign) -> None:
        if isinstance(node.value, cst.Name) and node.value.value == "None":
            for target in node.targets:
                self._drop(node, self_attribute(target.target))

    def visit_Del(self, node: cst.Del) -> None:
        targets = node.target.elements if isinstance(node.target, cst.Tuple) else [node.target]
        for t in targets:
            self._drop(node, self_attribute(t.value if isinstance(t, cst.Element) else t))

    def visit_Call(self, node: cst.Call) -> None:
        unload = self._current()
        if unload is None:
            return
        func = node.func
        qual = self.ctx.imports.qualname(func)
        name = last_name(func) or ""
        if qual == EMPTY_CACHE:
            unload.clears = True
        elif name == "delattr" and len(node.args) == 2 and isinstance(node.args[1].value, cst.SimpleString):
            owner = node.args[0].value
            if isinstance(owner, cst.Name) and owner.value == "self":
                self._drop(node, node.args[1].value.evaluated_value)
        elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call) and last_name(func.value.func) == "super":
            unload.delegates = unload.delegates or name == unload.method.name.value
        elif self._calls_clearing_helper(func):
            unload.clears = True

    def _calls_clearing_helper(self, func: cst.BaseExpression) -> bool:
        """A method of this class, a function of this module, or an imported helper that clears."""
        attr = self_attribute(func)
        if attr is not None:
            found = method_of(self.ctx)
            cls = found[0] if found else None
            if cls is None:
                return False
            own = self.ctx.index.method(cls, attr)
            if own is not None:
                return self._clears_cache(own)
            return any(self._inherited_clears(base, attr) for base in cls.bases)
        if isinstance(func, cst.Name) and func.value in self.clearing_functions:
            return True
        qual = self.ctx.imports.qualname(func)
        facts = self.ctx.facts
        helper = facts.function(qual) if qual is not None and facts is not None else None
        if helper is not None:
            return facts.clears_cache(helper)
        words = set(snake_words(last_name(func) or ""))
        if qual is None or qual.startswith("torch."):
            return False  # torch.mps.empty_cache() does not clear the CUDA cache
        return "cache" in words and bool(words & {"clear", "empty", "free", "flush"})

    def _base_keeps_cache(self, cls: cst.ClassDef, method: str) -> bool:
        """`super().<method>()` delegates the clearing, unless the project knows every base's
        `<method>` and none clears the cache (directly or through a project helper it calls)."""
        facts = self.ctx.facts
        if facts is None or not cls.bases:
            return False
        for base in cls.bases:
            name = self.ctx.imports.qualname(base.value)
            found = facts.method(name, method) if name is not None else None
            if found is None or facts.clears_cache(found):
                return False
        return True

    def _inherited_clears(self, base: cst.Arg, method: str) -> bool:
        """Does a project base class (another module's) define `method` so that it clears?"""
        name = self.ctx.imports.qualname(base.value)
        facts = self.ctx.facts
        found = facts.method(name, method) if name is not None and facts is not None else None
        return bool(found and facts.clears_cache(found))

    def _torch_backed(self, cls_name: str, attr: str) -> bool:
        values = self.ctx.index.self_attrs.get(cls_name, {}).get(attr, [])
        for value in values:
            call = value
            moved = False
            while isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value in (
                "to", "cuda", "eval", "half", "float", "bfloat16", "requires_grad_",
            ):
                moved = moved or call.func.attr.value in ("to", "cuda")
                call = call.func.value
            if not isinstance(call, cst.Call):
                continue
            qual = self.ctx.imports.qualname(call.func) or dotted(call.func) or ""
            if qualname_matches(qual, self.params.not_torch_backed):
                continue
            owner_words = set(snake_words(qual.rsplit(".", 2)[-2] if "." in qual else qual))
            if owner_words & {"tokenizer", "processor", "config", "extractor"}:
                continue
            if moved or qualname_matches(qual, self.params.torch_backed_constructors) or self._local_module(call.func) \
                    or project_loader(self.ctx, qual):
                return True
        return False

    def _local_module(self, func: cst.BaseExpression) -> bool:
        """A class of this module that subclasses nn.Module."""
        if not isinstance(func, cst.Name) or func.value not in self.ctx.index.classes:
            return False
        bases = [dotted(b.value) or "" for b in self.ctx.index.classes[func.value].bases]
        return any(b.endswith("Module") for b in bases)

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        unload = self.unloads.get(id(node))
        if unload is None or unload.clears:
            return
        cls = self.ctx.class_of(node)
        if cls is None or (unload.delegates and not self._base_keeps_cache(cls, node.name.value)):
            return
        found = [d for d in unload.drops if self._torch_backed(cls.name.value, d[1])]
        fix = self._clear_after(found[-1][2]) if found else None
        for stmt, attr, _ in found:
            self.report(stmt, attr=attr, method=node.name.value, fix=fix)

    def _clear_after(self, line: cst.CSTNode | None) -> Fix | None:
        """`torch.cuda.empty_cache()` as the statement after the last drop."""
        if line is None:
            return None
        fix = Fix("Call `torch.cuda.empty_cache()` after the references are dropped")
        torch = torch_name(self.ctx.imports, fix, self.ctx.module)
        if torch is None:
            return None
        clear = cst.SimpleStatementLine([cst.Expr(call(f"{torch}.cuda.empty_cache"))])
        return fix.change(line, lambda updated: cst.FlattenSentinel([updated, clear]))
