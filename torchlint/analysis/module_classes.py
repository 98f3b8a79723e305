"""Which classes are nn.Modules: their methods are building blocks the caller runs (not
inference entry points), and their submodules move with them."""

from __future__ import annotations

import libcst as cst

from torchlint.analysis.context import Context
from torchlint.analysis.names import dotted


def is_module_class(ctx: Context, cls: cst.ClassDef, depth: int = 0) -> bool:
    """An nn.Module (a class with `forward`, or a subclass of a module/loss/model/pipeline class,
    vocabulary `module_bases`, also through a base class of this module): its methods are
    building blocks the caller runs, and its submodules move with it."""
    if cls.name.value.endswith(ctx.vocab.model_class_suffixes):
        return True  # `LlavaMetaForCausalLM(ABC)`: a mixin of the model class, named for it
    names = [dotted(b.value) or "" for b in cls.bases]
    if any(n.rsplit(".", 1)[-1].endswith(ctx.vocab.module_bases) and n not in ctx.index.classes
           and not _serving_base(ctx, b.value) for n, b in zip(names, cls.bases)):
        return True  # a class of this module is judged by what it is (below), not by its name
    if ctx.index.method(cls, "forward") is not None:
        return True
    local = [ctx.index.classes.get(n) for n in names]
    if depth < 8 and any(b is not None and b is not cls and is_module_class(ctx, b, depth + 1) for b in local):
        return True
    # a base from another project module that is a module there (shap-e's encoders); asked once a class
    if id(cls) not in ctx.index.module_classes:
        hits = [ctx.facts.lookup(ctx.imports.qualname(base.value) or n) for n, b, base in zip(names, local, cls.bases)
                if ctx.facts is not None and b is None and n]
        ctx.index.module_classes[id(cls)] = any(h is not None and h[0] == "class" and _module_in(ctx, h[2]["path"], h[1])
                                                for h in hits)
    return ctx.index.module_classes[id(cls)]


def _module_in(ctx: Context, path: str, qual: str, depth: int = 0) -> bool:
    """Is class `qual` of project file `path` a module: it or a base of its own file defines
    `forward`, or a base's name ends like a module base (`nn.Module`)?"""
    summary = ctx.facts.project.summaries.get(path) or {}
    classes = summary.get("classes", {})
    if f"{qual}.forward" in summary.get("functions", {}) or depth > 8:
        return depth <= 8
    return any(base.rsplit(".", 1)[-1].endswith(ctx.vocab.module_bases)
               or (base in classes and _module_in(ctx, path, base, depth + 1))
               for base in classes.get(qual, {}).get("bases", []))


def _serving_base(ctx: Context, base: cst.BaseExpression) -> bool:
    """A base imported from a serving or data-class package (vocabulary `serving_base_packages`):
    `kserve.Model` ends in "Model" but is no nn.Module."""
    qual = ctx.imports.qualname(base) or ""
    return qual.split(".", 1)[0] in ctx.vocab.serving_base_packages
