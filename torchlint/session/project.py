"""The project phase (stub)."""

from __future__ import annotations


def build_facts(linter, files, cache, jobs):
    return None, {}
