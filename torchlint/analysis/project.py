"""Project facts: the per-file summaries (torchlint.analysis.summary) joined across the
project's own imports, answering what one file cannot see. Checks ask through `FileFacts`;
they never open other files. Each answer is recorded with a digest of what it was computed
from, so a cached result is reused only while those facts still hold (`FileFacts.still`)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterator, Mapping

from torchlint.analysis import deployment, hosts
from torchlint.analysis.modpaths import ModuleResolver, module_of, posix
from torchlint.analysis.project_roles import project_role
from torchlint.analysis.roles import Role, function_role, main_block_role
from torchlint.analysis.summary_shape import called_by_own_class_without_grad
from torchlint.model import Manifests
from torchlint.vocabulary import Vocabulary

_MAX_HOPS = 8  # re-exports followed before giving up (and cycles between modules)


def digest(value: Any) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ProjectFacts:
    """Every summarised file of the project, by path, with the import graph between them."""

    def __init__(self, summaries: Mapping[str, dict | None], vocab: Vocabulary,
                 role_globs: Mapping[str, str] | None = None, root: Any = None,
                 manifests: Manifests | None = None):
        self.summaries = dict(summaries)
        self.manifests = manifests or Manifests()  # deployments, installs, copies, CUDA extensions
        self.vocab = vocab
        self.role_globs = dict(role_globs or {})
        self.root = root
        self._digests: dict[str, str] = {}
        self.modules = ModuleResolver(self.summaries)
        self._callers: dict[str, list[tuple]] | None = None  # calls by the name they end in
        self._importers: dict[str, list[tuple[str, str, str | None]]] | None = None
        self._roles: dict[str, Role] = {}
        self._lookups: dict[tuple[str, str], tuple[str, str, str] | None] = {}
        self._facts: dict[str, str] = {}
        self.memo: dict[str, Any] = {}  # answers of project-wide questions (torchlint.analysis.deployment)

    def for_file(self, path: str) -> "FileFacts":
        return FileFacts(self, path)

    # ----- module resolution (torchlint.analysis.modpaths) ----------------------------------
    def resolve(self, from_path: str, target: str) -> tuple[str, list[str]] | None:
        """The project file a dotted name as `from_path` spells it lives in, and the chain inside."""
        return self.modules.resolve(from_path, target)

    def lookup(self, from_path: str, target: str) -> tuple[str, str, str] | None:
        """(path, kind, qualified name inside it) of what a name refers to: a "function", a
        "class" or a "module"; re-exports followed."""
        key = (from_path, target)
        if key not in self._lookups:
            self._lookups[key] = self._lookup(from_path, target)
        return self._lookups[key]

    def _lookup(self, from_path: str, target: str) -> tuple[str, str, str] | None:
        seen = set()
        for _ in range(_MAX_HOPS):
            if (from_path, target) in seen:
                return None
            seen.add((from_path, target))
            found = self.modules.resolve(from_path, target) or self.modules.star_imported(from_path, target)
            if found is None:
                return None
            path, chain = found
            summary = self.summaries.get(path) or {}
            if not chain:
                return path, "module", ""
            qual = ".".join(chain)
            if qual in summary.get("functions", {}):
                return path, "function", qual
            if qual in summary.get("classes", {}):
                return path, "class", qual
            head = chain[0]
            alias = next((target for local, target, _ in summary.get("imports", []) if local == head), None)
            if alias is None:  # `from .tools import *` in a package's __init__: where tools defines it
                return self.modules.star_definition(path, chain)
            from_path, target = path, ".".join([alias, *chain[1:]])
        return None

    # ----- indexes built on first use -----------------------------------------------------
    def callers(self, path: str, qual: str) -> list[dict]:
        """Call sites of a module-level function in other project files: {path, function,
        no_grad} each (`no_grad`: the call runs with autograd off). Calls are indexed by the
        name they end in; only those ending in `qual`'s name are resolved, when asked."""
        if self._callers is None:
            self._callers = {}
            for caller, summary in self.summaries.items():
                for fqual, facts in (summary or {}).get("functions", {}).items():
                    for call in facts.get("calls", []):
                        callee = call["callee"]
                        if "." in callee.lstrip("."):  # a local name is the caller's own module's
                            self._callers.setdefault(callee.rsplit(".", 1)[-1], []).append((caller, fqual, call, facts))
        sites = []
        for caller, fqual, call, facts in self._callers.get(qual.rsplit(".", 1)[-1], ()):
            hit = self.lookup(caller, call["callee"])
            if hit is not None and hit[1] == "function" and hit[0] != caller and (hit[0], hit[2]) == (path, qual):
                sites.append({"path": caller, "function": fqual, "no_grad": call["no_grad"] or facts.get("no_grad", False)
                              or called_by_own_class_without_grad(self.summaries.get(caller), fqual)})
        return sites

    def iter_importers(self, path: str) -> Iterator[dict]:
        """Project files that import `path`'s module ({path, guard} each), resolved one at a time
        (a caller may stop at the first that answers)."""
        if self._importers is None:
            # Imports by each name they mention (no resolution yet): only the imports that
            # name this module are resolved, when someone asks.
            self._importers = {}
            for importer, summary in self.summaries.items():
                for _, target, guard in (summary or {}).get("imports", []):
                    for part in set(target.lstrip(".").split(".")):
                        self._importers.setdefault(part, []).append((importer, target, guard))
        stem = module_of(posix(path))
        return ({"path": importer, "guard": guard} for importer, target, guard in self._importers.get(stem, [])
                if importer != path and (self.resolve(importer, target) or ("",))[0] == path)

    def default_dtype_modules(self) -> list[str]:
        """Project modules that set torch's default dtype (`set_default_torch_dtype(dtype)`)."""
        if "default-dtype" not in self.memo:
            self.memo["default-dtype"] = sorted(
                p for p, s in self.summaries.items() if (s or {}).get("evidence", {}).get("default_dtype"))
        return self.memo["default-dtype"]

    def summary_digest(self, path: str) -> str:
        if path not in self._digests:
            self._digests[path] = digest(self.summaries.get(path)) if path in self.summaries else "absent"
        return self._digests[path]

    def role(self, path: str) -> Role:
        if path not in self._roles:
            self._roles[path] = project_role(self, path)
        return self._roles[path]

    # ----- what a recorded answer depended on -------------------------------------------------
    def fact(self, key: str) -> str:
        """The current digest of a fact a lint consulted (see FileFacts)."""
        if key not in self._facts:
            self._facts[key] = self._fact(key)
        return self._facts[key]

    def _fact(self, key: str) -> str:
        kind, _, rest = key.partition(":")
        if kind == "file":
            return self.summary_digest(rest)
        if kind == "lookup":
            from_path, _, target = rest.partition("|")
            return digest(self.lookup(from_path, target))
        if kind == "callers":
            path, _, qual = rest.partition("|")
            return digest(sorted((c["path"], c["function"], c["no_grad"]) for c in self.callers(path, qual)))
        if kind == "importers":
            return digest(sorted((i["path"], i["guard"] or "") for i in self.iter_importers(rest)))
        if kind == "deployment":
            return digest(deployment.deployed(self, rest))
        if kind == "refusing":
            return digest(sorted(deployment.refusing(self)))
        if kind == "deployed-importers":
            return digest(deployment.deployed_importers(self, rest))
        if kind == "grad-free-host":
            return digest(hosts.grad_free_host(self, rest))
        if kind == "copy":
            return digest(self.manifests.copies.get(rest))
        if kind == "default-dtype":
            return digest(self.default_dtype_modules())
        if kind == "declared":
            return digest(sorted(self.manifests.declared.get(rest, {}).items()))
        return "unknown"


class FileFacts:
    """The project's facts as one file may ask for them. Every answer is noted in `consulted`."""

    def __init__(self, project: ProjectFacts, path: str):
        self.project = project
        self.path = path
        self.summary: dict = project.summaries.get(path) or {}
        self.consulted: dict[str, str] = {}
        self._role: Role | None = None  # worked out once (`role`)

    @classmethod
    def standalone(cls, path: str, summary: dict | None, vocab: Vocabulary,
                   role_globs: Mapping[str, str] | None = None, root: Any = None) -> "FileFacts":
        """Facts for a file linted on its own (no project around it)."""
        return cls(ProjectFacts({path: summary}, vocab, role_globs, root), path)

    def rebased(self, summary: dict | None) -> "FileFacts":
        """The same facts for this file's new content (after a fix moved its lines)."""
        other = FileFacts(self.project, self.path)
        other.summary = summary or {}
        other.consulted = self.consulted
        return other

    def note(self, key: str) -> None:
        """Record a fact this file's findings depend on (its digest now, rechecked on reuse)."""
        self.consulted[key] = self.project.fact(key)

    def still(self, consulted: Mapping[str, str]) -> bool:
        """Do the facts a cached result was computed from still hold?"""
        return all(self.project.fact(key) == value for key, value in consulted.items())

    # ----- roles (from this file's summary and path; a script's, from what it calls) -------
    @property
    def role(self) -> Role:
        if self._role is None:
            self.note(f"copy:{self.path}")  # the session reads LICENSE and setup files for it
            self._role = self._launcher() or self.project.role(self.path)
        return self._role

    def _launcher(self) -> Role | None:
        """A script (an inference-role file with a `__main__` block) that calls a project function
        joining a process group (a utils module's `distributed_init(args)`): a multi-process run."""
        if self.project.role(self.path).role != "inference" or not self.summary.get("main"):
            return None
        for qual, facts in self.summary.get("functions", {}).items():
            for call in facts.get("calls", []):
                hit = self.lookup(call["callee"])
                if hit is not None and hit[0] == "function" and hit[2].get("distributed"):
                    return Role("distributed", f"`{qual}` calls {call['callee']}, which {hit[2]['distributed']}")
        return None

    def function_role(self, qual: str) -> Role:
        return function_role(self.role, self.summary, qual, self.project.vocab)

    def roles_present(self) -> set[str]:
        """Every role some line of this file has (the file's, its functions', the `__main__`
        block's): a rule that applies to none of them cannot report here."""
        roles = {self.role.role} | {self.function_role(q).role for q in self.summary.get("functions", {})}
        if self.summary.get("main"):
            roles.add(self.main_block_role().role)
        return roles

    def main_block_role(self) -> Role:
        imported = bool(self.summary.get("classes")) and self.role.role in ("library", "inference") and self.imported()
        return main_block_role(self.role, self.summary, imported)

    def imported(self) -> bool:
        """Does a project file import this one?"""
        self.note(f"importers:{self.path}")
        return next(self.project.iter_importers(self.path), None) is not None

    def role_at_line(self, line: int) -> Role:
        """The role of the innermost function holding `line` (the `__main__` block's, or the
        file's, outside functions)."""
        best = None
        for qual, facts in self.summary.get("functions", {}).items():
            if facts["line"] <= line <= facts["end"] and (best is None or facts["line"] >= best[1]["line"]):
                best = (qual, facts)
        if best is not None:
            return self.function_role(best[0])
        main = self.summary.get("main")
        if main and main[0] <= line <= main[1]:
            return self.main_block_role()
        return self.role

    # ----- questions about other files ------------------------------------------------------
    def lookup(self, name: str) -> tuple[str, str, dict] | None:
        """What an imported name refers to in the project: (kind, qualified name, its summary
        facts) for a "function" or "class"; None for anything else (third-party, unknown)."""
        key = f"lookup:{self.path}|{name}"
        self.note(key)
        hit = self.project.lookup(self.path, name)
        if hit is None or hit[0] == self.path or hit[1] == "module":
            return None
        path, kind, qual = hit
        self.note(f"file:{path}")
        summary = self.project.summaries.get(path) or {}
        table = summary.get("functions" if kind == "function" else "classes", {})
        return kind, qual, dict(table.get(qual, {}), path=path)

    def grad_free_host(self) -> str | None:  # deployment.grad_free_host for this file, noted
        self.note(f"grad-free-host:{self.path}")
        return hosts.grad_free_host(self.project, self.path)

    def function(self, name: str) -> dict | None:
        """The summary facts of the project function an imported name refers to."""
        hit = self.lookup(name)
        return hit[2] if hit is not None and hit[0] == "function" else None

    def method(self, class_name: str, method: str, depth: int = 0) -> dict | None:
        """A method of a project class (named as this file imports it), searched through its
        project base classes."""
        hit = self.lookup(class_name)
        if hit is None or hit[0] != "class" or depth > _MAX_HOPS:
            return None
        path, qual = hit[2]["path"], hit[1]
        summary = self.project.summaries.get(path) or {}
        found = summary.get("functions", {}).get(f"{qual}.{method}")
        if found is not None:
            return dict(found, path=path)
        other = FileFacts(self.project, path)
        for base in hit[2].get("bases", []):
            result = other.method(base, method, depth + 1)
            self.consulted.update(other.consulted)
            if result is not None:
                return result
        return None

    def clears_cache(self, function: dict) -> bool:
        """Does a project function (facts as `function`/`method` give them) clear the CUDA
        cache, itself or through a project function it calls?"""
        if function.get("clears_cache"):
            return True
        where = FileFacts(self.project, function["path"])
        for call in function.get("calls", []):
            callee = where.function(call["callee"])
            if callee is not None and callee.get("clears_cache"):
                self.consulted.update(where.consulted)
                return True
        self.consulted.update(where.consulted)
        return False

    def callers_disable_grad(self, qual: str) -> bool:
        """Is `qual` (a module-level function of this file) called from other project files,
        every time with autograd off?"""
        self.note(f"callers:{self.path}|{qual}")
        sites = self.project.callers(self.path, qual)
        return bool(sites) and all(s["no_grad"] for s in sites)

    def declares(self, package: str) -> bool:
        """Do the project's manifests (requirements, pyproject, Dockerfile) install `package`?"""
        self.note(f"declared:{self.path}")
        return package in self.project.manifests.declared.get(self.path, {})

    def default_dtype_set(self) -> str | None:
        """A project module that sets torch's default dtype: models its loader builds take it."""
        self.note("default-dtype")
        return next(iter(self.project.default_dtype_modules()), None)

    def declared_version(self, package: str) -> str | None:
        """The lowest version of `package` the project's manifests admit (None: not pinned)."""
        self.note(f"declared:{self.path}")
        return self.project.manifests.declared.get(self.path, {}).get(package) or None

    def imported_only_guarded(self) -> bool | None:
        """Do all project files that import this one guard the import (try/except, an availability
        check) or train (a fine-tuning script's monkey-patch)? None when none imports it."""
        self.note(f"importers:{self.path}")
        importers = list(self.project.iter_importers(self.path))
        for i in (i for i in importers if not i["guard"]):
            self.note(f"file:{i['path']}")  # its role, from its summary
        return all(i["guard"] or self.project.role(i["path"]).role == "training" for i in importers) if importers else None
