"""Is a file deployed on CUDA only? The project facts that say so, gathered in one place for
TL101, TL102, TL201 and TL501 (RULES.md: "not when the module is clearly CUDA-only by config").

The questions that span files are answered once per project and cached on it (`ProjectFacts`
keeps them in `memo`): a file notes one fact per question, so a warm run rechecks a file with
a few set lookups rather than by resolving its imports again."""

from __future__ import annotations

import os
import posixpath
from typing import Any, Iterable

from torchlint.analysis.modpaths import posix
from torchlint.analysis.names import within
from torchlint.analysis.summary import FOREIGN_ROOTS

# `FileFacts` and `ProjectFacts` (torchlint.analysis.project), which imports this module: the
# annotations name them as Any to keep the import graph acyclic.
FileFacts = ProjectFacts = Any
_MAX_STEPS = 6  # import hops followed from a refusing module to the modules that import it


def cuda_deployment(facts: FileFacts) -> str | None:
    """Why this file runs on CUDA only: it compiles CUDA kernels as it loads; a deployment
    manifest (cog.yaml, a Dockerfile) or a serving decorator asking for a GPU runs it so, or it
    joins an NCCL group, or its package ships and imports a CUDA extension; it imports (not
    under try/except or a check) a project module that refuses to load without CUDA; or only such
    deployed files import it. Worked out once per file."""
    known = getattr(facts, "_deployment", False)
    if known is False:
        known = facts._deployment = _cuda_deployment(facts)
    return known


def _cuda_deployment(facts: FileFacts) -> str | None:
    project, path = facts.project, facts.path
    evidence = facts.summary.get("evidence", {})
    if evidence.get("compiles_cuda_kernels"):
        return "it builds CUDA kernels (torch.utils.cpp_extension) as it loads"
    if evidence.get("asks_cuda"):
        return "it asks the CUDA runtime (`torch.cuda.current_device()`, ...) as it loads"
    if evidence.get("triton_kernels") or evidence.get("optional_triton_kernels"):
        return "it defines Triton kernels, which launch on a GPU only"
    facts.note(f"deployment:{path}")
    why = deployed(project, path)
    if why is not None:
        return why
    why = cuda_build_required(facts)
    if why is not None:
        return why
    facts.note("refusing")
    why = gpu_engine(facts)
    if why is not None:
        return why
    if refusing(project):  # rare: only then are this file's imports resolved
        stems = _stems(project)
        for _, target, guard in (project.summaries.get(path) or {}).get("imports", []):
            if guard or not stems & set(target.lstrip(".").split(".")):
                continue  # it cannot name a refusing module (a change to them changes "refusing")
            facts.note(f"lookup:{path}|{target}")
            found = project.lookup(path, target)
            if found is not None and found[0] != path and found[0] in refusing(project):
                kernels = (project.summaries.get(found[0]) or {}).get("evidence", {}).get("triton_kernels")
                return f"it imports {found[0]}, " + ("whose Triton kernels launch on a GPU only" if kernels
                                                     else "which refuses to load without CUDA")
        if path in project.memo["refusing-why"]:
            return project.memo["refusing-why"][path]
    facts.note(f"deployed-importers:{path}")
    return deployed_importers(project, path)


def gpu_engine(facts: FileFacts) -> str | None:
    """Why the project is a GPU inference engine: it defines Triton kernels of its own and the
    manifests above this file install a package whose PyPI builds need CUDA (vocabulary
    `cuda_only_requirements`: vLLM, FlashInfer, sgl-kernel...). Such an engine runs on NVIDIA
    GPUs by design; a hard-coded CUDA device in it is no portability bug. (The caller notes
    "refusing", which changes whenever the set of Triton-kernel modules does.)"""
    project = facts.project
    if "triton-modules" not in project.memo:
        project.memo["triton-modules"] = sorted(
            p for p in refusing(project) if (project.summaries.get(p) or {}).get("evidence", {}).get("triton_kernels"))
    kernels = project.memo["triton-modules"]
    if not kernels:
        return None
    pinned = [p for p in project.vocab.cuda_only_requirements if facts.declares(p)]
    if not pinned:
        return None
    return (f"a GPU inference engine: the project defines Triton kernels ({kernels[0]}) and its manifests "
            f"install {', '.join(pinned)}, CUDA builds")


def cuda_build_required(facts: FileFacts) -> str | None:
    """Why the project cannot run without CUDA: its manifests require a package named as a CUDA
    build (vocabulary `cuda_only_requirements` patterns: `torchac_cuda`), which has no CPU wheel,
    and a project module imports it at its top, unguarded (not a Windows-only extra that one
    function imports when chosen). Names listed plainly there (vLLM, flash-attn) need Triton
    kernels too (`gpu_engine`): projects require those for an optional speed-up."""
    project = facts.project
    patterns = tuple(p for p in project.vocab.cuda_only_requirements if "*" in p)
    if not patterns:
        return None
    facts.note(f"declared:{facts.path}")
    named = [p for p in project.manifests.declared.get(facts.path, {}) if project.vocab.needs_cuda(p, patterns)]
    if not named:
        return None
    facts.note("refusing")  # its digest covers the modules that import such a package plainly
    used = sorted(set(named) & _imported_plainly(project, at_top=True))
    return f"its manifests require {used[0]}, a CUDA build with no CPU wheel" if used else None


def deployed(project: ProjectFacts, path: str) -> str | None:
    """A manifest runs `path` on CUDA, a decorator in it asks the platform for a GPU, or it
    joins an NCCL process group."""
    why = project.manifests.deployments.get(path)
    if why is not None:
        return why
    summary = project.summaries.get(path) or {}
    evidence = summary.get("evidence", {})
    if evidence.get("gpu_service"):
        return "a serving decorator there asks the platform for a GPU"
    if evidence.get("nccl") or any("NCCL" in f.get("distributed", "") for f in summary.get("functions", {}).values()):
        return "it joins an NCCL process group"
    shipped = project.manifests.extensions.get(path)
    if shipped is not None and set(shipped[0]) & _imported_plainly(project):
        return shipped[1]
    return None


def _imported_plainly(project: ProjectFacts, at_top: bool = False) -> frozenset[str]:
    """Top-level packages some project file imports outside try/except and CUDA checks (only at
    a module's top with `at_top`): a CUDA extension imported so is a requirement of the package
    that ships it, not an option."""
    key = "imported-at-top" if at_top else "imported-plainly"
    if key not in project.memo:
        project.memo[key] = frozenset(
            target.split(".", 1)[0] for s in project.summaries.values()
            for _, target, guard in (s or {}).get("imports", [])[:(s or {}).get("evidence", {}).get("top_imports", 0)
                                                               if at_top else None]
            if not guard and not target.startswith("."))
    return project.memo[key]


def refusing(project: ProjectFacts) -> frozenset[str]:
    """Project modules that raise at import without CUDA: a module-level raise/assert about it, or
    an unconditional module-level import of a package that runs only with CUDA (vocabulary
    `cuda_only_packages`: TensorRT, flash-attn, fairscale's model-parallel layers) or of an
    extension module the project builds for CUDA only (`from .._C import ops`, where setup.py
    has `CUDAExtension(name="nunchaku._C")` and no CppExtension); and modules defining Triton
    kernels, which their importers launch on a GPU."""
    if "refusing" not in project.memo:
        vocab = project.vocab
        roots = {w.split(".", 1)[0] for w in vocab.cuda_only_packages}  # a set lookup first: most imports are torch's
        patterned = any("*" in w for w in vocab.cuda_only_packages)
        built = project.manifests.cuda_modules

        extension: dict[str, str] = {}  # module -> why: it imports a CUDA-only extension

        def refuses(path: str, summary: dict) -> bool:
            evidence = summary.get("evidence", {})
            top = summary.get("imports", [])[:evidence.get("top_imports", 0)]  # the module level's come first
            named = next((t for _, t, guard in top if built and not guard and _names_built(path, t, built)), None)
            if named is not None:
                extension[path] = f"it imports {named.lstrip('.')}, a CUDA extension its setup.py builds with no CPU build"
            return named is not None or bool(evidence.get("refuses_without_cuda")) or any(
                not guard and (target.split(".", 1)[0] in roots or patterned and not target.startswith("."))
                and vocab.needs_cuda(target) for _, target, guard in top)

        found = {p for p, s in project.summaries.items() if refuses(p, s or {})}
        origin = {p: p for p in found}  # module -> the refusing module its failure comes from
        why = _refusing_importers(project, found, origin) if found else {}
        project.memo["refusing-origin"] = origin
        project.memo["extension-importers"] = extension
        project.memo["refusing-why"] = {**extension, **why}
        project.memo["refusing"] = frozenset(found | set(why))
    return project.memo["refusing"]


def _refusing_importers(project: ProjectFacts, found: set[str], origin: dict[str, str]) -> dict[str, str]:
    """The modules that fail to load because they import a refusing one: at module level and
    outside try/except (`from utils import get_pipeline`, where utils.py imports the extension's
    wrapper), or as a submodule of a package whose `__init__.py` does (Python runs the parent
    package's `__init__` first). Followed from the modules each step adds, a few steps at most.
    `origin` learns, for each module added, the refusing module its failure comes from."""
    imports: dict[str, list[tuple[str, set[str]]]] = {}  # module -> its plain top-level imports, by name part
    choices: dict[str, dict[str, list[str]]] = {}  # module -> guarded local name -> what may bind it
    built = project.manifests.cuda_modules
    for path, summary in project.summaries.items():
        top = (summary or {}).get("imports", [])[:(summary or {}).get("evidence", {}).get("top_imports", 0)]
        imports[path] = [(t, set(t.lstrip(".").split("."))) for _, t, guard in top if not guard]
        named: dict[str, list[str]] = {}
        for local, t, guard in top:
            if guard == "try":
                named.setdefault(local, []).append(t)
        if any(len(ts) > 1 for ts in named.values()):  # a name bound by one import or another
            choices[path] = {local: ts for local, ts in named.items() if len(ts) > 1}
    refusing = set(found)
    added: dict[str, str] = {}  # module -> why it cannot load
    frontier = set(found)
    for _ in range(_MAX_STEPS):
        stems = _stems_of(project, frontier)
        new: dict[str, str] = {}
        for path in project.summaries:
            if path in refusing:
                continue
            init = next((i for i in _package_inits(project, path) if i in frontier), None)
            if init is not None:
                new[path], origin[path] = f"its package's {init} cannot load without CUDA", origin[init]
                continue
            for target, parts in imports[path]:
                if not stems & parts:
                    continue
                hit = project.lookup(path, target)
                if hit is not None and hit[0] != path and hit[0] in frontier:
                    new[path], origin[path] = f"it imports {hit[0]}, which cannot load without CUDA", origin[hit[0]]
                    break
            else:
                # `try: import _raymarching_face as _backend` / `except ImportError: from .backend
                # import _backend` (a JIT CUDA build): every way to bind the name needs CUDA
                for targets in choices.get(path, {}).values():
                    if not any(stems & set(t.lstrip(".").split(".")) for t in targets):
                        continue  # none of them can name a module this step added
                    hits = [project.resolve(path, t) for t in targets if not (built and _names_built(path, t, built))]
                    origin_of = next((h[0] for h in hits if h is not None and h[0] in refusing), None)
                    if origin_of is not None and all(h is not None and h[0] in refusing for h in hits):
                        new[path], origin[path] = f"every import it tries needs CUDA ({origin_of})", origin[origin_of]
                        break
        if not new:
            break
        added.update(new)
        refusing |= set(new)
        frontier = set(new)
    return added


def _package_inits(project: ProjectFacts, path: str) -> list[str]:
    """The `__init__.py` files Python runs before `path`'s module: its package's and those
    above it, as far as the project has them (worked out once per folder)."""
    folder = posixpath.dirname(path.replace(os.sep, "/"))
    if posixpath.basename(path) == "__init__.py":
        folder = posixpath.dirname(folder)
    known = project.memo.setdefault("package-inits", {})
    if folder not in known:
        init = posixpath.join(folder, "__init__.py")
        # a folder with no `__init__.py` inside a package is a namespace portion of it: the
        # packages above still run first (`exllamav2/experimental/fpx.py`)
        known[folder] = [] if folder in ("", ".", "/") else \
            [*([init] if init in project.summaries else []), *_package_inits(project, init)]
    return known[folder]


def imports_cuda_extension(facts: FileFacts) -> str | None:
    """Why this module cannot load without CUDA whatever else it imports: it imports, at module
    level and unguarded, an extension module its project builds for CUDA only."""
    facts.note("refusing")
    refusing(facts.project)
    return facts.project.memo["extension-importers"].get(facts.path)


def _names_built(path: str, target: str, built: dict[str, str]) -> bool:
    """Does the import `target` in `path` name one of the CUDA-only extension modules `built`
    (dotted name -> where it lies)? A relative import is resolved against the file's folder."""
    if not target.startswith("."):
        return within(target, built)
    level = len(target) - len(target.lstrip("."))
    base = posix(os.path.dirname(os.path.abspath(path)))
    for _ in range(level - 1):
        base = posixpath.dirname(base)
    spot = posixpath.join(base, *target.lstrip(".").split("."))
    return any(spot == where or spot.startswith(where + "/") for where in built.values())


def _stems(project: ProjectFacts) -> set[str]:
    """The names an import of a refusing module must mention (see `_stems_of`)."""
    if "refusing-stems" not in project.memo:
        project.memo["refusing-stems"] = _stems_of(project, refusing(project))
    return project.memo["refusing-stems"]


def _stems_of(project: ProjectFacts, modules: Iterable[str]) -> set[str]:
    """The names an import of one of `modules` must mention: its stem (`cutlass_utils`, or a
    package's folder), or a class or function it defines (`from renderers import MeshRenderer`
    reaches it through the package's re-export)."""
    stems: set[str] = set()
    for p in modules:
        folder, stem = posixpath.split(posixpath.splitext(posix(p))[0])
        stems.add(posixpath.basename(folder) if stem == "__init__" else stem)
        summary = project.summaries.get(p) or {}
        stems |= {q for q in (*summary.get("classes", {}), *summary.get("functions", {})) if "." not in q}
    return stems


def deployed_importers(project: ProjectFacts, path: str) -> str | None:
    """Why `path` runs on CUDA only because only files deployed so, or unable to load without
    CUDA, import it (unguarded)."""
    answers = project.memo.setdefault("deployed-importers", {})
    if path not in answers:
        answers[path] = None
        if path in _deployed_imports(project):
            reasons = []
            for i in project.iter_importers(path):  # stops at the first importer not deployed
                why = None if i["guard"] else _cuda_bound(project, i["path"], path)
                if why is None:
                    break
                reasons.append(f"only code deployed on CUDA imports it ({i['path']}: {why})")
            else:
                answers[path] = reasons[0] if reasons else None
    return answers[path]


def _cuda_bound(project: ProjectFacts, path: str, besides: str = "") -> str | None:
    """Why `path` runs on CUDA only: deployed so, or unable to load without CUDA because of a
    CUDA-only extension it imports, directly or through its imports and packages (not when the
    failure comes from `besides`: a module is not CUDA-only because its own importers are)."""
    why = deployed(project, path)
    if why is None and refusing(project) and project.memo["refusing-origin"].get(path) != besides:
        why = project.memo["refusing-why"].get(path)
    return why


def _deployed_imports(project: ProjectFacts) -> frozenset[str]:
    """Files that some deployed file imports without a guard: the only candidates (imports of
    torch, numpy and the like are never the project's own helpers, even where the project is
    torch itself)."""
    if "deployed-imports" not in project.memo:
        found = set()
        for path in project.summaries:
            if _cuda_bound(project, path) is None:
                continue
            for _, target, guard in (project.summaries.get(path) or {}).get("imports", []):
                if guard or not target.startswith(".") and target.split(".", 1)[0] in FOREIGN_ROOTS:
                    continue
                hit = project.lookup(path, target)
                if hit is not None and hit[0] != path:
                    found.add(hit[0])
        project.memo["deployed-imports"] = frozenset(found)
    return project.memo["deployed-imports"]
