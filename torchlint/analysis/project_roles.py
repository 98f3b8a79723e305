"""A file's role as the project sees it: its own (torchlint.analysis.roles), unless the
manifests name it a copy of another project or it is a package module with a self-test block.
(Not from its importers' roles: a view of part of a project, such as labelled files alone or a
subfolder, lacks the importers that would make a helper inference code.)"""

from __future__ import annotations

import posixpath
from typing import Any

from torchlint.analysis.modpaths import posix
from torchlint.analysis.roles import SCRIPT_WHY, Role, file_role


def project_role(project: Any, path: str) -> Role:
    """`path`'s role; `project` is the ProjectFacts asking (its summaries, manifests, importers)."""
    role = file_role(path, project.summaries.get(path), project.vocab, project.role_globs, project.root)
    if path in project.manifests.copies and role.role != "vendored" and not role.why.startswith("config:"):
        return Role("vendored", project.manifests.copies[path])
    if role.why == SCRIPT_WHY and in_package(project, path):  # a module with a self-test block
        return Role("library", "a module of a package (its `__main__` block is a self-test)")
    return role


def in_package(project: Any, path: str) -> bool:
    """Is `path` a module of a package (an `__init__.py` beside it, not the package itself)?"""
    spelled = posix(path)
    folder, name = posixpath.dirname(spelled), posixpath.basename(spelled)
    if name == "__init__.py":
        return False
    if "packages" not in project.memo:
        project.memo["packages"] = {posixpath.dirname(posix(p)) for p in project.summaries if p.endswith("__init__.py")}
    return folder in project.memo["packages"]
