"""Content-hash cache of per-file findings in `.torchlint_cache/`.

An entry is keyed by the file's path and bytes under a run key that covers everything else
that decides the findings: torchlint's own code and rules, the selected rules, their
parameters and the per-file ignores. Entries are written through a temporary file and an
atomic rename, so concurrent runs (pre-commit and an editor) never see half an entry; an entry
that cannot be read, or is not shaped as written, is ignored and rewritten. Folders of other
run keys and torchlint versions that no run has used for a week are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import torchlint
from torchlint.analysis.project import FileFacts
from torchlint.analysis.summary import VERSION as SUMMARY_VERSION
from torchlint.analysis.summary_shape import well_formed
from torchlint.atomic import atomic_write
from torchlint.model import Finding

CACHE_DIR = ".torchlint_cache"
STALE_DAYS = 7  # a run key or summary folder no run has used this long is removed
_OURS = re.compile(r"[0-9a-f]{20}|summaries-[0-9a-f]{16}")
_PACKAGE = Path(torchlint.__file__).parent


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    """torchlint's sources and rule files: a change to either invalidates every entry."""
    digest = hashlib.sha256(torchlint.__version__.encode())
    for path in sorted([*_PACKAGE.rglob("*.py"), *_PACKAGE.rglob("*.yaml"), *_PACKAGE.parent.glob("rules/*.yaml")]):
        digest.update(str(path.relative_to(path.parents[1])).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run_key(rule_ids: Iterable[str], params: dict[str, Any], per_file_ignores: dict[str, Any],
            user_rule_files: Iterable[Path] = (), settings: dict[str, Any] | None = None) -> str:
    """Everything but the file and the project's facts that decides its findings;
    `user_rule_files` are the selected rules from rule-dirs (their YAML is not part of
    torchlint's own fingerprint); `settings`: anything else configured (vocabulary, role globs)."""
    user = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in user_rule_files}
    payload = json.dumps(
        {"code": _code_fingerprint(), "rules": sorted(rule_ids), "params": params, "ignores": per_file_ignores,
         "user_rules": user, "settings": settings or {}},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


class Cache:
    """Per-file findings under `<root>/.torchlint_cache/<run key>/` (or `<base>/<run key>/`)."""

    def __init__(self, root: Path, key: str, base: Path | None = None):
        self.base = base if base is not None else root / CACHE_DIR
        self.dir = self.base / key
        self.dir.mkdir(parents=True, exist_ok=True)  # parents: a --cache-dir that does not exist yet
        # Summaries depend on a file's bytes and torchlint's code only, not on the rules run.
        self.summaries = self.base / f"summaries-{_code_fingerprint()[:16]}"
        self.summaries.mkdir(exist_ok=True)
        ignore = self.base / ".gitignore"
        if not ignore.exists():
            atomic_write(ignore, "# created by torchlint\n*\n")
        self._prune()

    def _prune(self) -> None:
        """Mark this run's folders as used, and remove the folders of other settings and other
        torchlint versions that no run has used for `STALE_DAYS` days."""
        now = time.time()
        for used in (self.dir, self.summaries):
            os.utime(used, (now, now))
        for folder in self.base.iterdir():
            if folder in (self.dir, self.summaries) or not _OURS.fullmatch(folder.name):
                continue
            try:
                if now - folder.stat().st_mtime > STALE_DAYS * 86400:
                    shutil.rmtree(folder, ignore_errors=True)
            except OSError:
                pass

    @staticmethod
    def key(path: str, data: bytes) -> str:
        """The findings entry of a file: its path and bytes (the run key names the folder)."""
        return hashlib.sha256(path.encode() + b"\0" + data).hexdigest()

    def _entry(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key[2:]}.json"

    @staticmethod
    def content_key(data: bytes) -> str:
        """A summary's entry: the file's bytes alone."""
        return hashlib.sha256(data).hexdigest()

    def _summary_entry(self, key: str) -> Path:
        return self.summaries / key[:2] / f"{key[2:]}.json"

    def get_summary(self, key: str) -> tuple[dict | None, list | None, bool, list] | None:
        """What the project phase learnt from a file's bytes (`content_key`): (summary, TL000
        position and message, whether CPython compiled them, their data tables), or None."""
        try:
            raw = json.loads(self._summary_entry(key).read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or raw.get("version") != SUMMARY_VERSION:
                return None
            summary, problem, compiled, tables = raw["summary"], raw["problem"], raw["compiled"], raw["tables"]
            # A damaged entry (any shape but the one written) is a miss, and is written again.
            if summary is not None and not well_formed(summary):
                return None
            if problem is not None and not (isinstance(problem, list) and len(problem) == 3
                                            and type(problem[0]) is int and type(problem[1]) is int
                                            and isinstance(problem[2], str)):
                return None
            if type(compiled) is not bool or not isinstance(tables, list) or not all(
                    isinstance(t, list) and len(t) == 4 and type(t[0]) is int and type(t[1]) is int
                    and isinstance(t[2], str) and type(t[3]) is int for t in tables):
                return None
            return summary, problem, compiled, tables
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put_summary(self, key: str, summary: dict | None, problem, compiled: bool, tables: list) -> None:
        entry = self._summary_entry(key)
        try:
            entry.parent.mkdir(exist_ok=True)
            atomic_write(entry, json.dumps({"version": SUMMARY_VERSION, "summary": summary, "problem": problem,
                                            "compiled": compiled, "tables": tables}))
        except OSError:
            pass

    def load(self, key: str) -> Entry | None:
        """A findings entry as stored (findings and the facts they were computed from)."""
        try:
            raw = json.loads(self._entry(key).read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or set(raw) != {"findings", "facts"} or not isinstance(raw["findings"], list):
                return None
            facts = raw["facts"]
            if not isinstance(facts, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in facts.items()):
                return None
            return Entry([Finding.from_json(item) for item in raw["findings"]], facts)
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None  # missing or corrupted: lint again

    def get(self, path: str, data: bytes, facts: FileFacts | None = None) -> list[Finding] | None:
        """The findings remembered for these bytes, if the project facts they were computed
        from still hold."""
        entry = self.load(self.key(path, data))
        return entry.findings if entry is not None and entry.holds(facts) else None

    def put(self, path: str, data: bytes, findings: list[Finding], facts: FileFacts | None = None) -> None:
        self.store(self.key(path, data), findings, facts.consulted if facts is not None else {})

    def store(self, key: str, findings: list[Finding], consulted: dict[str, str]) -> None:
        entry = self._entry(key)
        try:
            entry.parent.mkdir(exist_ok=True)
            atomic_write(entry, json.dumps({"findings": [f.to_json() for f in findings], "facts": consulted}))
        except OSError:
            pass  # a read-only tree still lints, only without a cache


@dataclass
class Entry:
    findings: list[Finding]
    facts: dict[str, str]  # what the lint consulted of other files, with digests

    def holds(self, facts: FileFacts | None) -> bool:
        """Do the facts these findings were computed from still hold?"""
        return not self.facts or (facts is not None and facts.still(self.facts))
