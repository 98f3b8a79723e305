"""Deployment manifests beside the code: a Cog `cog.yaml` with `build: gpu: true` runs its
predictor in a CUDA container, and a Dockerfile whose final stage starts `FROM` a CUDA image
runs the Python files it names. Such a file is CUDA-only by configuration (RULES.md TL102: "not
when the module is clearly CUDA-only by config"). Read here, in the session, so that checks
never open files; each file's answer reaches the lint as a project fact."""

from __future__ import annotations

import ast
import os
import re
import shlex

from torchlint.analysis.modpaths import posix
from torchlint.analysis.names import alnum
from torchlint.model import Manifests
from torchlint.session.requirements import DOCKERFILE, ManifestTexts, declared_in, truss_config

_CUDA_IMAGE = re.compile(r"cuda|cudnn|^nvcr\.io/nvidia/", re.IGNORECASE)  # nvidia/cuda, pytorch/...-cuda12.1-...
_MAX_UP = 8  # folders above a file searched for a manifest (a Truss's bundled packages sit deep)
_LICENSES = frozenset({"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING"})
# Files only a published project's root has: torch.hub's entry points, a model zoo's table.
_ROOT_FILES = frozenset({"hubconf.py", "model_zoo.md"})
_DECLARED_NAME = re.compile(r"""^\s*name\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_CONDA = ("environment.yaml", "environment.yml")
_VERSION = re.compile(r"""^__version__\s*=\s*["'][0-9]""", re.MULTILINE)
_CONDA_NAME = re.compile(r"""^name:\s*["']?([^"'\s#]+)""", re.MULTILINE)
# `cog.yaml`, or the template a project merges per-model settings into (`cog.yaml.template`).
_COG = re.compile(r"^cog\.ya?ml(\.template)?$")
# `setup(name="custom_rasterizer", ...)`, `CUDAExtension("custom_rasterizer_kernel", [...])`
_BUILT_NAME = re.compile(r"""(?:\bname\s*=\s*|CUDAExtension\(\s*)["']([A-Za-z_][\w.]*)["']""")
_EXTENSION_WHY = "setup.py here builds a CUDAExtension: a CUDA-extension sub-package"
_CPU_BUILD = re.compile(r"\bCppExtension\s*\(")  # built, not merely imported beside CUDAExtension


def read_manifests(files: list[str], root: str | None = None, libraries: frozenset[str] = frozenset()) -> Manifests:
    """For each of `files` (Python files, as spelled): why a manifest runs it on CUDA only (when
    one does), the packages the manifests above it install, why it lies in another project
    copied below `root` (when it does), and the CUDA extension its package builds (when one
    does). Each folder on the way up is listed once, for every kind of manifest."""
    wanted = {os.path.abspath(f): f for f in files}
    top = os.path.abspath(str(root)) if root is not None else None
    owner = alnum(os.path.basename(top)) if top is not None else ""
    read = ManifestTexts()
    if top is not None:  # the name the root's setup declares is the project's too (a checkout in /app)
        owner += "/" + "/".join(alnum(m.group(1)) for manifest in ("pyproject.toml", "setup.py")
                                for m in [_DECLARED_NAME.search(read(top, manifest))] if m)
    copies: dict[str, str] = {}  # folder -> why it holds another project's root
    installs: dict[str, dict[str, str]] = {}  # folder -> packages its manifests install, and versions
    found: dict[str, str] = {}
    elsewhere: set[str] = set()  # files a manifest runs on an image without CUDA
    subtrees: dict[str, str] = {}  # CUDA-extension folders, and why
    cuda_modules: dict[str, str] = {}  # extension modules built for CUDA only -> where they would lie
    built: dict[str, tuple[str, ...]] = {}  # CUDA-extension folder -> the names it is imported by
    listings: dict[str, set[str]] = {}  # folder -> its entries
    ancestors: dict[str, list[str]] = {}
    for real in wanted:
        folder = os.path.dirname(real)
        chain = ancestors.setdefault(real, [])
        for _ in range(_MAX_UP):
            chain.append(folder)
            if folder not in listings:
                try:
                    listings[folder] = set(os.listdir(folder))
                except OSError:
                    listings[folder] = set()
                for target, why in _manifest_targets(folder, listings[folder], read):
                    if target in wanted and why is None:
                        elsewhere.add(wanted[target])
                    elif target in wanted and wanted[target] not in found:
                        found[wanted[target]] = why
                names, cpu_build = _cuda_extension(folder, listings[folder], read)
                cuda_modules.update(_cuda_only_modules(folder, listings[folder], read))
                if names and not cpu_build:
                    built[folder] = names  # no CPU build beside it: importing it needs CUDA
                why = _EXTENSION_WHY if names else _truss_gpu(folder, listings[folder], read)
                if why:
                    subtrees[folder] = why  # everything below it
                installs[folder] = declared_in(folder, listings[folder], read)
                if top is not None and folder.startswith(top + os.sep):
                    copy = _copied_library(folder, listings[folder], read, owner, libraries) \
                        or _copied_project(folder, listings[folder], read, owner)
                    if copy:
                        copies[folder] = f"path: {os.path.relpath(folder, top)}/, {copy}"
            parent = os.path.dirname(folder)
            if parent == folder or ".git" in listings[folder]:
                break
            folder = parent
    declared: dict[str, dict[str, str]] = {}
    copied = {}  # file -> why it is another project's (the outermost copy above it)
    extensions: dict[str, tuple[tuple[str, ...], str]] = {}
    merged: dict[tuple[str, ...], dict[str, str]] = {}  # one dict per folder chain, shared
    for real, chain in ancestors.items():
        hit = next((subtrees[f] for f in chain if f in subtrees), None)
        if hit is not None and wanted[real] not in found:
            found[wanted[real]] = hit
        copy = next((copies[f] for f in reversed(chain) if f in copies), None)
        if copy is not None:
            copied[wanted[real]] = copy
        ships = next((e for e in built if os.path.dirname(e) in chain and e not in chain), None)
        if ships is not None:  # the extension's sibling modules, in the package that ships it
            package = os.path.relpath(os.path.dirname(ships), top) if top else os.path.dirname(ships)
            extensions[wanted[real]] = (built[ships], f"its package {posix(package)}/ ships the CUDA extension "
                                        f"{'/'.join(built[ships])} (built from .cu sources by "
                                        f"{os.path.basename(ships)}/setup.py) and imports it")
        key = tuple(chain)
        if key not in merged:
            packages: dict[str, str] = {}
            for f in reversed(chain):  # the folder nearest the file has the last word
                packages.update(installs.get(f, {}))
            merged[key] = packages
        if merged[key]:
            declared[wanted[real]] = merged[key]
    return Manifests({f: why for f, why in found.items() if f not in elsewhere}, declared, copied, extensions,
                     cuda_modules)


def _copied_library(folder: str, names: set[str], read: ManifestTexts, owner: str,
                    libraries: frozenset[str]) -> str | None:
    """Why `folder` is a copy of a library the project uses: a package named like it (`trl/`,
    `src/diffusers/`) whose `__init__.py` declares a `__version__`, as a release does (a project's
    own `models/transformers/` of transformer blocks declares none), in a checkout not named
    after it."""
    name = os.path.basename(folder)
    if name not in libraries or "__init__.py" not in names or alnum(name) in owner:
        return None
    if not _VERSION.search(read(folder, "__init__.py")):
        return None
    return f"a copy of the {name} library (its own __version__)"


def _copied_project(folder: str, names: set[str], read: ManifestTexts, owner: str) -> str | None:
    """Why `folder` holds another project's root: a root's marks (its own licence, or a README
    and a .gitignore) and a name that shares no word with the checkout's. The name is the one a
    pyproject.toml or setup.py declares beside a licence (`stable_diffusion/` declaring
    `latent-diffusion` inside instruct-pix2pix), the conda environment beside a README and a
    .gitignore (`ControlNet-v1-1-nightly/` creating `control-v11` inside DWPose) or a licence
    when the folder bears the environment's name (`aokvqa/` inside MiniGPT4-video; Ask-Anything's
    adapted `video_miniGPT4/`, creating `minigpt4`, is its own), or, with all
    marks but the .gitignore (which copies leave behind) and its own requirements.txt, the
    folder's (`ImageBind/`, `ddepth_anything_v2/`), as it is with a licence
    beside a torch.hub `hubconf.py` or a `MODEL_ZOO.md` (`dino/`, `aot/`). A monorepo's own
    packages (`runtimes/huggingface/` declaring `mlserver-huggingface` in MLServer) and demos
    (`demo/` creating `gligen_demo` in GLIGEN) name it."""
    licensed = bool(names & _LICENSES)
    rooted = ".gitignore" in names and any(n.lower().startswith("readme") for n in names)
    declared = None
    if licensed:
        declared = next((m.group(1) for manifest in ("pyproject.toml", "setup.py") if manifest in names
                         for m in [_DECLARED_NAME.search(read(folder, manifest))] if m), None)
        why = "another project (its own LICENSE and setup) copied in"
        if declared is None and "requirements.txt" in names and any(n.lower().startswith("readme") for n in names):
            # a copy may leave the .gitignore behind (depthmap-script's bundled `ddepth_anything_v2/`)
            declared, why = os.path.basename(folder), "another project (its own LICENSE, README and requirements) copied in"
        root_doc = next((n for n in sorted(names) if n.lower() in _ROOT_FILES), None)
        if declared is None and root_doc is not None:
            declared, why = os.path.basename(folder), f"another project (its own LICENSE and {root_doc}) copied in"
    readme = any(n.lower().startswith("readme") for n in names)
    if declared is None and (rooted or (licensed and readme)):
        declared = next((m.group(1) for conda in _CONDA if conda in names
                         for m in [_CONDA_NAME.search(read(folder, conda))] if m), None)
        if not rooted and declared is not None and alnum(declared) != alnum(os.path.basename(folder)):
            declared = None  # a licence only: the folder must still bear the environment's name (`aokvqa/`)
        why = f"another project (its own README, {'.gitignore' if rooted else 'LICENSE'} and conda environment) copied in"
    if declared is None or any(len(w) >= 4 and alnum(w) in owner for w in re.split(r"[-_.\s]+", declared)):
        return None
    return why


def _cuda_extension(folder: str, names: set[str], read: ManifestTexts) -> tuple[tuple[str, ...], bool]:
    """The names a CUDA-extension sub-package is imported by (its setup name, its extension
    modules), and whether its setup.py also has a CppExtension for machines without CUDA, when
    `folder` is one: a `setup.py` that builds a
    `torch.utils.cpp_extension.CUDAExtension`, in a folder that is not a project's root (no
    `.git`, `pyproject.toml` or README beside it): an `ops/` folder of custom kernels, whose
    scripts exist to build and check the CUDA op."""
    if "setup.py" not in names or ".git" in names or "pyproject.toml" in names \
            or any(n.lower().startswith("readme") for n in names):
        return (), False
    text = read(folder, "setup.py")
    if "CUDAExtension" not in text:
        return (), False
    built = dict.fromkeys(m.split(".")[0] for m in _BUILT_NAME.findall(text))
    return tuple(built) or (os.path.basename(folder),), _CPU_BUILD.search(text) is not None


def _cuda_only_modules(folder: str, names: set[str], read: ManifestTexts) -> dict[str, str]:
    """The extension modules `folder`'s setup.py builds as `CUDAExtension`s with no
    `CppExtension(...)` built anywhere in it (`CUDAExtension(name="nunchaku._C", ...)`): dotted name -> the
    path it is installed at, without its suffix. A module importing one needs CUDA to load."""
    if "setup.py" not in names:
        return {}
    text = read(folder, "setup.py")
    if "CUDAExtension" not in text or _CPU_BUILD.search(text):
        return {}
    ok, tree = read.parsed(folder, "setup.py", "python")
    if not ok:
        return {}
    out = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or getattr(node.func, "id", getattr(node.func, "attr", None)) != "CUDAExtension":
            continue
        spelled = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "name")]
        for value in spelled:
            if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip():
                dotted = value.value.strip()
                out[dotted] = posix(os.path.join(os.path.abspath(folder), *dotted.split(".")))
    return out


def _truss_gpu(folder: str, names: set[str], read: ManifestTexts) -> str | None:
    data = truss_config(folder, names, read)
    resources = data.get("resources") if data else None
    if not isinstance(resources, dict):
        return None
    accelerator = resources.get("accelerator")
    if resources.get("use_gpu") is True or (accelerator and str(accelerator).lower() not in ("none", "null", "cpu")):
        return f"config.yaml: a Truss with `resources: {'accelerator: ' + str(accelerator) if accelerator else 'use_gpu: true'}` runs on a GPU"
    return None


def _manifest_targets(folder: str, names: set[str], read: ManifestTexts) -> list[tuple[str, str | None]]:
    """The files a manifest here runs, each with why it runs on CUDA only (None: it runs without)."""
    out: list[tuple[str, str | None]] = []
    cog = sorted(n for n in names if _COG.match(n))
    if cog:
        out += _cog(folder, cog[0], names, read)
    for name in sorted(names):
        if DOCKERFILE.match(name):
            out += _dockerfile(folder, name, read)
        elif name.endswith(".envd"):
            out += _envd(folder, name, read)
    return out


def _envd(folder: str, name: str, read: ManifestTexts) -> list[tuple[str, str]]:
    """An envd build file (Starlark, Python's syntax) that installs CUDA on every path
    (`install.cuda(...)`, never under an `if`: no CPU target) runs the Python files it names
    (`io.copy("server.py", ...)`, `config.entrypoint(["python", "server.py"])`) on CUDA."""
    ok, tree = read.parsed(folder, name, "python")
    if not ok:
        return []
    cuda = [(node, parents) for node, parents in _walk_with_parents(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda"
            and isinstance(node.func.value, ast.Name) and node.func.value.id == "install"]
    if not cuda or any(any(isinstance(p, (ast.If, ast.IfExp)) for p in parents) for _, parents in cuda):
        return []
    files = sorted({n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    and n.value.endswith(".py") and "/" not in n.value.strip("/")})
    why = f"{name}: `install.cuda(...)` on every build path, an envd CUDA image"
    return [(os.path.abspath(os.path.join(folder, f.strip("/"))), why) for f in files]


def _walk_with_parents(tree: ast.AST):
    stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [(tree, ())]
    while stack:
        node, parents = stack.pop()
        yield node, parents
        stack.extend((child, (*parents, node)) for child in ast.iter_child_nodes(node))


def _cog(folder: str, name: str, names: set[str], read: ManifestTexts) -> list[tuple[str, str]]:
    text = read(folder, name)
    if "\ufffd" in text:
        return []  # not UTF-8: not a config Cog would read either
    ok, data = read.parsed(folder, name, "yaml")
    if not ok:  # Cog's own parser is laxer (a leading docstring): read the two keys
        data = {"build": {"gpu": bool(re.search(r"^\s+gpu:\s*true\s*$", text, re.MULTILINE))},
                **{k: m.group(1) for k in ("predict", "train")
                   if (m := re.search(rf"^{k}:\s*[\"']?([^\"'\s]+)", text, re.MULTILINE))}}
    if not isinstance(data, dict) or not isinstance(data.get("build"), dict) or data["build"].get("gpu") is not True:
        return []
    targets = [data.get(k) for k in ("predict", "train")]
    if not any(isinstance(t, str) for t in targets):  # set per model elsewhere: Cog's own file names
        targets = [f"{stem}.py" for stem in ("predict", "train") if f"{stem}.py" in names]
    # Other predictors beside it (`predict_i2v.py`, swapped in by editing `predict:`) run in the
    # same container: a Python file here that subclasses Cog's BasePredictor.
    targets += [n for n in sorted(names) if n.endswith(".py") and n not in targets and _is_predictor(folder, n)]
    return [(os.path.abspath(os.path.join(folder, t.split(":", 1)[0])), f"{name}: `build: gpu: true` runs it in a CUDA container")
            for t in targets if isinstance(t, str) and t.split(":", 1)[0].endswith(".py")]


def _is_predictor(folder: str, name: str) -> bool:
    try:
        with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as f:
            text = f.read(100_000)
    except OSError:
        return False
    return "BasePredictor" in text and re.search(r"^\s*(from cog import|import cog)", text, re.MULTILINE) is not None


def _dockerfile(folder: str, name: str, read: ManifestTexts) -> list[tuple[str, str | None]]:
    lines = read(folder, name).splitlines()
    stage_base = None
    stages: dict[str, str] = {}
    named: set[str] = set()
    for line in lines:
        words = line.strip().split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        op, rest = words[0].upper(), words[1] if len(words) > 1 else ""
        if op == "FROM":
            image = [w for w in rest.split() if not w.startswith("--")]
            stage_base = stages.get(image[0], image[0]) if image else None
            if len(image) == 3 and image[1].upper() == "AS":
                stages[image[2]] = stage_base  # `FROM nvidia/cuda:12 AS base`, later `FROM base`
            named = set()  # only the final stage's files run there
        elif op in ("COPY", "ADD", "CMD", "ENTRYPOINT", "RUN"):
            try:
                tokens = shlex.split(rest.replace("[", " ").replace("]", " ").replace(",", " "))
            except ValueError:
                tokens = rest.split()
            named |= {os.path.basename(t) for t in tokens if t.endswith(".py")}
    if stage_base is None:
        return []
    # A Dockerfile on another image runs the files it names without CUDA (`Dockerfile.min` on
    # ubuntu beside a CUDA `Dockerfile`): None says so, and such a file is not CUDA-only.
    why = f"{name}: its final stage runs `FROM {stage_base}`, a CUDA image" if _CUDA_IMAGE.search(stage_base) else None
    return [(os.path.abspath(os.path.join(folder, n)), why) for n in sorted(named)]
