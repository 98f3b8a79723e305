"""Is a file deployed on CUDA only? The project facts that say so, gathered in one place for
TL101, TL102 and TL201 (RULES.md: "not when the module is clearly CUDA-only by config")."""

from __future__ import annotations

from torchlint.analysis.project import FileFacts


def cuda_deployment(facts: FileFacts) -> str | None:
    """Why this file runs on CUDA only: a deployment manifest (cog.yaml, a Dockerfile) or a
    serving decorator asking for a GPU runs it so; it imports (not under try/except or a check)
    a project module that refuses to load without CUDA; or only such deployed files import it.
    Worked out once per file."""
    known = getattr(facts, "_deployment", False)
    if known is False:
        known = facts._deployment = _cuda_deployment(facts)
    return known


def _cuda_deployment(facts: FileFacts) -> str | None:
    project, path = facts.project, facts.path
    facts.note(f"deployment:{path}")
    why = _deployed(facts, path)
    if why is not None:
        return why
    for _, target, guard in (project.summaries.get(path) or {}).get("imports", []):
        if guard:
            continue
        facts.note(f"lookup:{path}|{target}")
        found = project.lookup(path, target)
        if found is None or found[0] == path:
            continue
        facts.note(f"file:{found[0]}")
        if (project.summaries.get(found[0]) or {}).get("evidence", {}).get("refuses_without_cuda"):
            return f"it imports {found[0]}, which refuses to load without CUDA"
    facts.note(f"importers:{path}")
    importers = project.importers(path)
    reasons = [None if i["guard"] else _deployed(facts, i["path"]) for i in importers]
    if reasons and all(reasons):
        return f"only code deployed on CUDA imports it ({importers[0]['path']}: {reasons[0]})"
    return None


def _deployed(facts: FileFacts, path: str) -> str | None:
    """A manifest runs `path` on CUDA, or a decorator in it asks the platform for a GPU."""
    facts.note(f"deployment:{path}")
    facts.note(f"file:{path}")
    why = facts.project.deployments.get(path)
    summary = facts.project.summaries.get(path) or {}
    if why is None and summary.get("evidence", {}).get("gpu_service"):
        why = "a serving decorator there asks the platform for a GPU"
    if why is None and (summary.get("evidence", {}).get("nccl") or any(
            "NCCL" in f.get("distributed", "") for f in summary.get("functions", {}).values())):
        why = "it joins an NCCL process group"
    return why
