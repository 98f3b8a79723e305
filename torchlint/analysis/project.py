"""Project facts: per-file summaries joined across the project's own imports (stub)."""

from __future__ import annotations


class FileFacts:
    """What the rest of the project says about one file."""

    def __init__(self, path: str):
        self.path = path
        self.consulted: dict[str, str] = {}

    def still(self, consulted: dict[str, str]) -> bool:
        return not consulted


class ProjectFacts:
    def for_file(self, path: str) -> FileFacts:
        return FileFacts(path)
