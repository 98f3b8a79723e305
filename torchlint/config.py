"""`[tool.torchlint]` in the nearest pyproject.toml, merged with command-line overrides."""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from torchlint import vocabulary
from torchlint.catalog import Catalog, Rule
from torchlint.model import ROLES, Severity
from torchlint.params import ParamError
from torchlint.vocabulary import Vocabulary

KEYS = ("select", "ignore", "extend-ignore", "extend-select", "exclude", "extend-exclude", "extend-include",
        "per-file-ignores", "extend-per-file-ignores", "fail-on", "max-file-size", "cache-dir", "rule-dirs", "params",
        "vocabulary", "roles")
# Like semgrep's --max-target-bytes: bigger files are generated data, not code to review, and
# libcst needs ~400x their size in memory (a 5 MB literal: 2.3 GB).
DEFAULT_MAX_FILE_SIZE = 1_000_000


class ConfigError(Exception):
    """Invalid configuration or selection. The message names the file and the key."""


@dataclass
class Config:
    path: Path | None = None
    root: Path = field(default_factory=Path.cwd)
    select: list[str] | None = None
    ignore: list[str] = field(default_factory=list)  # `ignore` and `extend-ignore` together
    extend_select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    extend_exclude: list[str] = field(default_factory=list)  # added to `exclude`; kept when --exclude replaces it
    extend_include: list[str] = field(default_factory=list)  # more files to lint: ["*.ipynb"]
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    cache_dir: Path | None = None  # None: <root>/.torchlint_cache
    fail_on: Severity = Severity.LOW
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # bytes; 0: no limit
    rule_dirs: list[Path] = field(default_factory=list)  # user rule directories, absolute
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)  # glob -> code role, overriding the evidence
    vocabulary: dict[str, Any] = field(default_factory=dict)  # [tool.torchlint.vocabulary] as written

    @property
    def excluded(self) -> list[str]:
        """Every exclusion glob of the run: `exclude` and `extend-exclude`."""
        return [*self.exclude, *self.extend_exclude]

    @property
    def where(self) -> str:
        return f"{self.path}: [tool.torchlint]" if self.path else "[tool.torchlint]"


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.torchlint] table, from `start` upwards."""
    try:
        start = start.resolve()
    except (OSError, RuntimeError):  # a symbolic link loop: discovery reports it
        start = Path(os.path.abspath(start))
    if start.is_file():
        start = start.parent
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"{candidate}: cannot parse: {exc}") from None
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError as exc:
                if "torchlint" not in text:
                    continue  # the linted project's own broken file: it configures no torchlint
                raise ConfigError(f"{candidate}: cannot parse: {exc}") from None
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "torchlint" in tool:
                return candidate
            if not isinstance(tool, dict) and "torchlint" in str(tool):
                raise ConfigError(f"{candidate}: `tool` must be a table ([tool.torchlint]), got {tool!r}")
    return None


def _str_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return list(value)


def load_config(path: Path | None) -> Config:
    """Read and validate a config file (None: defaults)."""
    if path is None:
        return Config()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot parse: {exc}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{path}: `tool` must be a table ([tool.torchlint]), got {tool!r}")
    table = tool.get("torchlint")
    if table is None:
        raise ConfigError(f"{path}: no [tool.torchlint] table")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool].torchlint must be a table ([tool.torchlint]), got {table!r}")
    cfg = Config(path=path, root=path.parent.resolve())
    where = cfg.where
    unknown = [k for k in table if k not in KEYS]
    if unknown:
        hints = [m for u in unknown for m in difflib.get_close_matches(u, KEYS, n=1, cutoff=0.6)]
        hint = f" (did you mean {', '.join(map(repr, hints))}?)" if hints else ""
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}{hint}; "
                          f"expected one of: {', '.join(KEYS)}")
    if "select" in table:
        cfg.select = _str_list(table["select"], f"{where}.select")
    cfg.ignore = _str_list(table.get("ignore", []), f"{where}.ignore") + _str_list(
        table.get("extend-ignore", []), f"{where}.extend-ignore")
    cfg.extend_select = _str_list(table.get("extend-select", []), f"{where}.extend-select")
    cfg.exclude = _str_list(table.get("exclude", []), f"{where}.exclude")
    cfg.extend_exclude = _str_list(table.get("extend-exclude", []), f"{where}.extend-exclude")
    cfg.extend_include = _str_list(table.get("extend-include", []), f"{where}.extend-include")
    odd = [g for g in cfg.extend_include if not g.endswith(".ipynb")]
    if odd:
        raise ConfigError(f"{where}.extend-include: {odd[0]!r}: only notebooks (`*.ipynb`) can be added "
                          "(Python files are always included)")
    pfi = table.get("per-file-ignores", {})
    if not isinstance(pfi, dict):
        raise ConfigError(f"{where}.per-file-ignores: expected a table of glob = [rule IDs]")
    cfg.per_file_ignores = {g: _str_list(v, f"{where}.per-file-ignores.{g!r}") for g, v in pfi.items()}
    extra = table.get("extend-per-file-ignores", {})
    if not isinstance(extra, dict):
        raise ConfigError(f"{where}.extend-per-file-ignores: expected a table of glob = [rule IDs]")
    for glob, rules in extra.items():
        cfg.per_file_ignores.setdefault(glob, []).extend(_str_list(rules, f"{where}.extend-per-file-ignores.{glob!r}"))
    if "cache-dir" in table:
        if not isinstance(table["cache-dir"], str) or not table["cache-dir"]:
            raise ConfigError(f"{where}.cache-dir: expected a path string, got {table['cache-dir']!r}")
        cfg.cache_dir = (cfg.root / table["cache-dir"]).resolve()
    if "fail-on" in table:
        try:
            cfg.fail_on = Severity.parse(str(table["fail-on"]))
        except ValueError as exc:
            raise ConfigError(f"{where}.fail-on: {exc}") from None
    if "max-file-size" in table:
        size = table["max-file-size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ConfigError(f"{where}.max-file-size: expected a number of bytes (0: no limit), got {size!r}")
        cfg.max_file_size = size
    for name in _str_list(table.get("rule-dirs", []), f"{where}.rule-dirs"):
        directory = (cfg.root / name).resolve()
        if not directory.is_dir():
            raise ConfigError(f"{where}.rule-dirs: {name!r}: no such directory (relative to {cfg.root})")
        cfg.rule_dirs.append(directory)
    params = table.get("params", {})
    if not isinstance(params, dict) or not all(isinstance(v, dict) for v in params.values()):
        raise ConfigError(f"{where}.params: expected tables like [tool.torchlint.params.TL301]")
    cfg.params = params
    words = table.get("vocabulary", {})
    if not isinstance(words, dict):
        raise ConfigError(f"{where}.vocabulary: expected a table like [tool.torchlint.vocabulary]")
    cfg.vocabulary = words
    load_vocabulary(cfg)  # validates it now
    roles = table.get("roles", {})
    if not isinstance(roles, dict):
        raise ConfigError(f"{where}.roles: expected a table of glob = role")
    for glob, role in roles.items():
        if not isinstance(role, str):
            raise ConfigError(f"{where}.roles.{glob!r}: expected a role name (one of: {', '.join(ROLES)}), "
                              f"got {role!r}")
        if role not in ROLES:
            raise ConfigError(f"{where}.roles.{glob!r}: unknown role {role!r}; known: {', '.join(ROLES)}")
    cfg.roles = dict(roles)
    return cfg


def load_vocabulary(cfg: Config) -> Vocabulary:
    """The shipped vocabulary extended by `[tool.torchlint.vocabulary]`."""
    try:
        return vocabulary.load(cfg.vocabulary)
    except ParamError as exc:
        raise ConfigError(f"{cfg.where}.vocabulary.{exc.field}: {exc}") from None


def expand_selectors(catalog: Catalog, selectors: Iterable[str], where: str) -> set[str]:
    """Rule IDs named by selectors (ID, name, ID prefix, ALL); unknown ones are an error."""
    ids: set[str] = set()
    unknown = []
    for sel in selectors:
        rules = catalog.expand(sel.strip())
        if not rules:
            unknown.append(sel)
        ids.update(r.id for r in rules)
    if unknown:
        names = [r.id for r in catalog] + [r.name for r in catalog] + sorted({r.category for r in catalog})
        hints = [m for u in unknown for m in difflib.get_close_matches(u, names, n=1, cutoff=0.6)]
        hint = f"; did you mean {', '.join(map(repr, hints))}?" if hints else ""
        raise ConfigError(f"{where}: unknown rule(s) {', '.join(map(repr, unknown))}{hint} (see `torchlint rules`)")
    return ids


def resolve_selection(
    catalog: Catalog,
    cfg: Config,
    cli_select: list[str] | None = None,
    cli_ignore: Iterable[str] = (),
    cli_extend_select: Iterable[str] = (),
) -> list[Rule]:
    """CLI --select replaces the config's; extend-select and ignore accumulate."""
    if cli_select is not None and not cli_select:
        raise ConfigError("--select: no rule named (an empty selection would check nothing and pass); "
                          "name rule IDs, names, prefixes, categories or ALL")
    if cli_select is not None:
        base = expand_selectors(catalog, cli_select, "--select")
    elif cfg.select is not None:
        base = expand_selectors(catalog, cfg.select, f"{cfg.where}.select")
    else:
        base = {r.id for r in catalog}
    base |= expand_selectors(catalog, cfg.extend_select, f"{cfg.where}.extend-select")
    base |= expand_selectors(catalog, cli_extend_select, "--extend-select")
    base -= expand_selectors(catalog, cfg.ignore, f"{cfg.where}.ignore")
    base -= expand_selectors(catalog, cli_ignore, "--ignore")
    return [catalog.rules[i] for i in sorted(base)]


def resolve_params(catalog: Catalog, cfg: Config) -> dict[str, dict[str, Any]]:
    """Per-rule parameters as plain data: the YAML defaults overridden by config (`extend_<name>`
    appends to a list), each value checked against the rule's typed parameters."""
    merged = {r.id: dict(r.params) for r in catalog}
    for key, overrides in cfg.params.items():
        where = f"{cfg.where}.params.{key}"
        rule = catalog.get(key)
        if rule is None:
            raise ConfigError(f"{where}: unknown rule {key!r}")
        if not isinstance(overrides, dict):
            raise ConfigError(f"{where}: expected a table of parameters")
        target = merged[rule.id]
        known = rule.params_type.names()
        for name, value in overrides.items():
            base_name = name[len("extend_"):] if name.startswith("extend_") else None
            if base_name and isinstance(target.get(base_name), list):
                target[base_name] = [*target[base_name], *_str_list(value, f"{where}.{name}")]
            elif name in known:
                target[name] = value
            elif (base_name or name) in vocabulary.Vocabulary.names():
                raise ConfigError(f"{where}.{name}: `{base_name or name}` is a vocabulary list shared by every rule: "
                                  f"set `{name}` in [tool.torchlint.vocabulary]")
            else:
                raise ConfigError(f"{where}: unknown parameter {name!r} for {rule.id}; "
                                  f"known: {', '.join(sorted(known)) or 'none'}")
        try:
            rule.typed_params(target)
        except ParamError as exc:
            raise ConfigError(f"{where}.{exc.field}: {exc}") from None
    return merged


def per_file_ignored(cfg: Config, catalog: Catalog, path: str) -> set[str]:
    """Rule IDs switched off for `path` by per-file-ignores."""
    from torchlint.globs import is_excluded

    ignored: set[str] = set()
    for glob, selectors in cfg.per_file_ignores.items():
        if is_excluded(path, [glob], cfg.root):
            ignored |= expand_selectors(catalog, selectors, f"{cfg.where}.per-file-ignores.{glob!r}")
    return ignored
