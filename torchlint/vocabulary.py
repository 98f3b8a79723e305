"""The shared vocabulary (vocabulary.yaml): model words, entry points, ML packages, grad-free
callees, capability tables. Every rule and the code roles read it; a project extends it once in
`[tool.torchlint.vocabulary]` (`extend_<name>` appends, `<name>` replaces)."""

from __future__ import annotations

import dataclasses
from fnmatch import fnmatchcase
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from torchlint.params import ParamError, Params, plain

PATH = Path(__file__).with_name("vocabulary.yaml")


@dataclasses.dataclass(frozen=True)
class Vocabulary(Params):
    model_words: frozenset[str]
    placing_methods: frozenset[str]
    quantization_keywords: frozenset[str]
    weightless_words: frozenset[str]
    vendored_packages: frozenset[str]
    non_torch_packages: tuple[str, ...]
    other_frameworks: tuple[str, ...]
    backend_words: frozenset[str]
    entry_points: frozenset[str]
    request_methods: frozenset[str]
    route_decorators: frozenset[str]
    ml_packages: tuple[str, ...]
    model_packages: tuple[str, ...]
    model_constructors: tuple[str, ...]
    cuda_only_packages: tuple[str, ...]
    cuda_only_requirements: tuple[str, ...]
    non_torch_model_packages: tuple[str, ...]
    grad_free_callees: tuple[str, ...]
    grad_free_hosts: tuple[str, ...]
    module_bases: tuple[str, ...]
    model_class_suffixes: tuple[str, ...]
    serving_base_packages: frozenset[str]
    unload_methods: tuple[str, ...]
    load_methods: tuple[str, ...]
    override_words: frozenset[str]
    kernel_capabilities: dict[str, tuple[str, ...]]
    attn_implementations: dict[str, tuple[str, ...]]
    training_words: frozenset[str]
    training_imports: tuple[str, ...]
    evaluation_imports: tuple[str, ...]

    @property
    def library_names(self) -> frozenset[str]:
        """Import names of libraries a project may carry a copy of (`trl/`, `diffusers/`)."""
        return frozenset(self.ml_packages) | frozenset(self.model_packages) | self.vendored_packages

    def needs_cuda(self, module: str, listed: tuple[str, ...] | None = None) -> bool:
        """Does importing the dotted `module` need CUDA? It is one of `listed` (default
        `cuda_only_packages`) or inside one, or its top-level name matches a pattern there
        (`*_cuda`: a compiled CUDA extension such as `torchac_cuda`)."""
        for package in self.cuda_only_packages if listed is None else listed:
            if "*" in package:
                if fnmatchcase(module.split(".", 1)[0], package):
                    return True
            elif module == package or module.startswith(package + "."):
                return True
        return False

    def raw(self) -> dict[str, Any]:
        """Plain data: prefilter placeholders and cache keys."""
        return {f.name: plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


@lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    return yaml.safe_load(PATH.read_text(encoding="utf-8"))


def load(overrides: Mapping[str, Any] | None = None) -> Vocabulary:
    """The shipped vocabulary with `overrides` applied; ParamError names the offending key."""
    return _load(tuple(sorted((k, _freeze(v)) for k, v in (overrides or {}).items())))


@lru_cache(maxsize=8)
def _load(overrides: tuple) -> Vocabulary:
    raw = dict(_shipped())
    for name, value in overrides:
        value = _thaw(value)
        base = name[len("extend_"):] if name.startswith("extend_") else None
        if base is not None and base in raw:
            if isinstance(raw[base], dict):
                if not isinstance(value, dict):
                    raise ParamError(name, f"expected a table to add to `{base}`")
                raw[base] = {**raw[base], **value}
            else:
                if not isinstance(value, list):
                    raise ParamError(name, f"expected a list to append to `{base}`")
                raw[base] = [*raw[base], *value]
        elif name in raw:
            raw[name] = value
        else:
            raise ParamError(name, f"not a vocabulary list; known: {', '.join(sorted(raw))} (or extend_<name>)")
    return Vocabulary.build(raw)


def _freeze(value: Any) -> Any:
    if isinstance(value, list):
        return ("list", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and value[0] in ("list", "dict"):
        if value[0] == "list":
            return [_thaw(v) for v in value[1]]
        return {k: _thaw(v) for k, v in value[1]}
    return value
