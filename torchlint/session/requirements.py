"""The packages a project declares it installs: requirement files, `pyproject.toml` and the
`pip install` lines of its Dockerfiles, read beside the code (never imported). A check asks
whether an optional dependency (xformers, accelerate) is part of the deployment."""

from __future__ import annotations

import ast
import os
import re

from typing import Any

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_REQUIREMENTS = re.compile(r"^requirements([-_.][\w.-]+)?\.(txt|in)$")
DOCKERFILE = re.compile(r"^(Dockerfile(\..+)?|.+\.Dockerfile|Containerfile)$")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_LOWER = re.compile(r"(?:==|>=|~=|\^|===)\s*v?([0-9][0-9A-Za-z.]*)")  # the lowest version a spec admits


def normalized(name: str) -> str:
    """`Flash-Attn` and `flash_attn` alike (PEP 503, with the import spelling's underscores)."""
    return re.sub(r"[-_.]+", "_", name).lower()


class ManifestTexts:
    """Each manifest file read, and parsed, once per run (a Dockerfile, cog.yaml, envd file or
    Truss config is read both for what it deploys and for what it installs); "" when it cannot
    be read."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}
        self._parsed: dict[tuple[str, str], tuple[bool, Any]] = {}

    def __call__(self, folder: str, name: str) -> str:
        path = os.path.join(folder, name)
        if path not in self._texts:
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    self._texts[path] = f.read(200_000)
            except OSError:
                self._texts[path] = ""
        return self._texts[path]

    def parsed(self, folder: str, name: str, kind: str) -> tuple[bool, Any]:
        """The file parsed once per run as "yaml" or "python" (an envd file is Starlark):
        (True, value), or (False, None) when it does not parse."""
        key = (os.path.join(folder, name), kind)
        if key not in self._parsed:
            text = self(folder, name)
            try:
                self._parsed[key] = (True, yaml.safe_load(text) if kind == "yaml" else ast.parse(text))
            except (yaml.YAMLError, SyntaxError, ValueError):
                self._parsed[key] = (False, None)
        return self._parsed[key]


def declared_in(folder: str, names: set[str], read: ManifestTexts | None = None) -> dict[str, str]:
    """Packages the manifests directly in `folder` install: name -> the lowest version their
    spec admits ("" when it names none). `read`: the run's manifest texts (a fresh one if none)."""
    read = read or ManifestTexts()
    out: dict[str, str] = {}
    for name in names:
        if _REQUIREMENTS.match(name):
            out.update(_requirement_lines(read(folder, name).splitlines()))
        elif name == "pyproject.toml":
            out.update(_pyproject(read(folder, name)))
        elif name == "cog.yaml":
            out.update(_cog_packages(read.parsed(folder, name, "yaml")[1]))
        elif name == "config.yaml" and (truss := truss_config(folder, names, read)) is not None:
            out.update(_requirement_lines(p for p in truss.get("requirements") or () if isinstance(p, str)))
        elif name.endswith(".envd"):
            out.update(_envd_packages(read.parsed(folder, name, "python")[1]))
        elif DOCKERFILE.match(name):
            for line in read(folder, name).splitlines():
                if "pip install" in line or "uv pip install" in line:
                    words = re.split(r"&&|;|\|", line.split("install", 1)[1])[0].split()
                    out.update(_requirement_lines(w.strip("\"'") for w in words if not w.startswith(("-", "$"))))
    return out


def _requirement_lines(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith(("-", "git+", "http:", "https:", ".", "/")):
            continue
        m = _NAME.match(line)
        if m:
            low = _LOWER.search(line[m.end():].split(";", 1)[0])
            out[normalized(m.group(1))] = low.group(1) if low else ""
    return out


def _pyproject(text: str) -> dict[str, str]:
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return {}
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    specs = list(project.get("dependencies") or [])  # not the extras: nothing installs those by default
    poetry = ((data.get("tool") or {}).get("poetry") or {}).get("dependencies") or {}
    out = _requirement_lines(s for s in specs if isinstance(s, str))
    out.update(_requirement_lines(f"{k}{v}" if isinstance(v, str) else k for k in poetry if isinstance(k, str)
                                  for v in [poetry[k]]))
    return out


def _cog_packages(data: Any) -> dict[str, str]:
    """`build: python_packages:` of a Cog config (a list of requirement specs)."""
    build = data.get("build") if isinstance(data, dict) else None
    packages = build.get("python_packages") if isinstance(build, dict) else None
    return _requirement_lines(p for p in packages if isinstance(p, str)) if isinstance(packages, list) else {}


def _envd_packages(tree: ast.AST | None) -> dict[str, str]:
    """`install.python_packages(name=[...])` of an envd build file (Starlark, Python's syntax):
    requirement specs, some with pip options after them (`"torch --extra-index-url ..."`)."""
    if tree is None:
        return {}
    specs = [e.value.split()[0] for call in ast.walk(tree)
             if isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "python_packages"
             for arg in (*call.args, *(k.value for k in call.keywords if k.arg == "name"))
             if isinstance(arg, (ast.List, ast.Tuple))
             for e in arg.elts if isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value.split()]
    return _requirement_lines(specs)


def truss_config(folder: str, names: set[str], read: ManifestTexts) -> dict | None:
    """A Truss's `config.yaml` (Baseten): beside a `model/` folder (or the one its
    `model_module_dir` names), with Truss's keys; its model code and bundled packages run in the
    image it describes."""
    if "config.yaml" not in names:
        return None
    text = read(folder, "config.yaml")
    if not re.search(r"^(resources|model_name|model_class_name|model_module_dir):", text, re.MULTILINE):
        return None
    data = read.parsed(folder, "config.yaml", "yaml")[1]
    if not isinstance(data, dict) or str(data.get("model_module_dir") or "model") not in names:
        return None
    return data
