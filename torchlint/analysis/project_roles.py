"""A file's role as the project sees it: its own (torchlint.analysis.roles), unless the
manifests name it a copy of another project, it is a package module with a self-test block, or
it is a helper module that only training, evaluation, benchmark, tooling or test code imports."""

from __future__ import annotations

import posixpath
from typing import Any

from torchlint.analysis.modpaths import posix
from torchlint.analysis.roles import SCRIPT_WHY, Role, file_role

# Roles no inference rule is about: a module only such code imports is their helper.
SUPPORT_ROLES = ("training", "evaluation", "benchmark", "tooling", "tests")
NO_EVIDENCE = "no stronger evidence"


def project_role(project: Any, path: str) -> Role:
    """`path`'s role; `project` is the ProjectFacts asking (its summaries, manifests, importers)."""
    role = file_role(path, project.summaries.get(path), project.vocab, project.role_globs, project.root)
    if path in project.manifests.copies and role.role != "vendored" and not role.why.startswith("config:"):
        return Role("vendored", project.manifests.copies[path])
    if role.why == SCRIPT_WHY and in_package(project, path):  # a module with a self-test block
        return Role("library", "a module of a package (its `__main__` block is a self-test)")
    if role.role == "library" and role.why == NO_EVIDENCE:
        return _helper_of(project, path) or role
    return role


def _helper_of(project: Any, path: str) -> Role | None:
    """The role of every project file that imports `path`, when they all share a support role
    (PBIDR's ray tracer, imported by its training and evaluation runners' model module)."""
    active = project.memo.setdefault("roles-in-progress", set())
    if path in active:
        return None  # an import cycle: no verdict from a file still being decided
    active.add(path)
    try:
        found: list[tuple[str, str]] = []
        for importer in project.iter_importers(path):
            role = project.role(importer["path"]).role
            if role not in SUPPORT_ROLES:
                return None
            found.append((role, importer["path"]))
    finally:
        active.discard(path)
    if not found:
        return None
    role, first = sorted(found, key=lambda f: (SUPPORT_ROLES.index(f[0]), f[1]))[0]
    return Role(role, f"imported only by {' and '.join(sorted({r for r, _ in found}))} code ({first})")


def in_package(project: Any, path: str) -> bool:
    """Is `path` a module of a package (an `__init__.py` beside it, not the package itself)?"""
    spelled = posix(path)
    folder, name = posixpath.dirname(spelled), posixpath.basename(spelled)
    if name == "__init__.py":
        return False
    if "packages" not in project.memo:
        project.memo["packages"] = {posixpath.dirname(posix(p)) for p in project.summaries if p.endswith("__init__.py")}
    return folder in project.memo["packages"]
