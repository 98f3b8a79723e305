"""Hosts that run a project's plugins with grad off: a ComfyUI custom-node package executes
under the host's `torch.inference_mode()`, whatever its own functions say."""

from __future__ import annotations

import posixpath
from typing import Any

from torchlint.analysis.modpaths import posix

# `ProjectFacts` (torchlint.analysis.project), which imports this module: named as Any to keep
# the import graph acyclic.
ProjectFacts = Any


def grad_free_host(project: ProjectFacts, path: str) -> str | None:
    """Why `path` runs with grad off: it belongs to a plugin of a host that executes it under
    `torch.inference_mode()` (vocabulary `grad_free_hosts`: a ComfyUI custom-node package). A
    folder holding a file that imports the host, or registers ComfyUI nodes (`NODE_CLASS_MAPPINGS
    = {...}`), is such a plugin, with everything below it."""
    if "grad-free-hosts" not in project.memo:
        hosts, found = project.vocab.grad_free_hosts, {}
        for other, summary in project.summaries.items():
            target = next((t for _, t, _ in (summary or {}).get("imports", [])
                           if not t.startswith(".") and t.split(".", 1)[0] in hosts), None)
            if target is not None:
                found.setdefault(posixpath.dirname(posix(other)), f"{other} imports {target}")
            elif (summary or {}).get("evidence", {}).get("comfy_nodes"):
                found.setdefault(posixpath.dirname(posix(other)), f"{other} registers ComfyUI nodes (NODE_CLASS_MAPPINGS)")
        project.memo["grad-free-hosts"] = found
    found, folder = project.memo["grad-free-hosts"], posixpath.dirname(posix(path))
    while True:
        if folder in found:
            return f"{found[folder]}, a host that runs its plugins under torch.inference_mode()"
        if folder in ("", ".", "/"):
            return None
        folder = posixpath.dirname(folder)
