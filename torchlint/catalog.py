"""Load and validate the YAML rule catalog (one rule per file, discovered, never listed)."""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from torchlint import vocabulary, yamlfile
from torchlint.model import ROLES, Severity
from torchlint.params import ParamError, Params

RULE_ID = re.compile(r"^[A-Z]{2,8}[0-9]{3,4}$")
RULE_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
FIX_SAFETY = ("none", "safe", "unsafe")
# Codes the runner itself emits; their YAML documents them but no visitor runs.
INFRASTRUCTURE_KINDS = ("syntax-error", "internal-error")

_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "name": str,
    "title": str,
    "severity": str,
    "category": str,
    "check": str,
    "message": str,
    "explain": str,
    "examples": dict,
}
_OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "source": str,
    "prefilter": (str, list),
    "params": dict,
    "fix": str,
    "fix_note": str,
    "match": dict,  # for `check: match` (torchlint/checks/match.py)
    "roles": list,  # code roles the rule applies to (torchlint.model.ROLES); absent: all
}


class CatalogError(Exception):
    """A rule file is malformed. Names the file, the field and (when known) the line."""

    def __init__(self, path: Path | str, field: str | None, message: str, line: int | None = None):
        self.path, self.field, self.line = str(path), field, line
        where = self.path + (f":{line}" if line else "")
        what = f"field `{field}`: " if field else ""
        super().__init__(f"{where}: invalid rule: {what}{message}")


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    title: str
    severity: Severity
    category: str
    check: str
    message: str
    explain: str
    examples: dict[str, str]
    path: Path
    source: str = ""
    prefilter: str | list[str] | None = None  # as written: one regex, or a list that must all match
    params: dict[str, Any] = field(default_factory=dict)
    fix: str = "none"
    fix_note: str = ""
    match: dict[str, Any] | None = None  # the declarative spec of a `check: match` rule
    builtin: bool = True  # shipped with torchlint (False: from a user's rule-dirs)
    params_type: type[Params] = Params  # the check kind's typed parameters
    roles: tuple[str, ...] = ()  # the code roles the rule applies to (empty: every role)

    def prefilters(self, params: dict[str, Any] | None = None, catalog: "Catalog | None" = None,
                   words: dict[str, Any] | None = None) -> list[str]:
        """The prefilter regexes (a file needs a match of each), placeholders filled in from
        `params` (the rule's own defaults when not given), the vocabulary's lists (`words`, the
        shipped ones when not given) and the catalog's rule IDs and names."""
        if self.prefilter is None:
            return []
        patterns = [self.prefilter] if isinstance(self.prefilter, str) else self.prefilter
        values = {**(words if words is not None else vocabulary.load().raw()), **catalog_placeholders(catalog, self),
                  **(self.params if params is None else params)}
        return [expand_placeholders(p, values) for p in patterns]

    def typed_params(self, params: dict[str, Any] | None = None) -> Params:
        """`params` (the rule's own when not given) as the check's typed structure."""
        return self.params_type.build(self.params if params is None else params)

    @property
    def infrastructure(self) -> bool:
        return self.check in INFRASTRUCTURE_KINDS

    @property
    def fixable(self) -> bool:
        return self.fix != "none"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title,
            "severity": self.severity.label,
            "category": self.category,
            "fix": self.fix,
            "fixable": self.fixable,
            "check": self.check,
            "prefilter": self.prefilter,
            "params": self.params,
            "source": self.source,
            "roles": list(self.roles),
        }


_PLACEHOLDER = re.compile(r"\{\{([a-z][a-z0-9_]*)\}\}")


def expand_placeholders(pattern: str, params: dict[str, Any]) -> str:
    """Replace `{{param}}` in a prefilter with an alternation of that list parameter's values,
    each matched literally (an empty list matches nothing). KeyError for an unknown parameter, TypeError for one not a list."""
    def alternation(match: re.Match) -> str:
        values = params[match.group(1)]
        if not isinstance(values, list):
            raise TypeError(match.group(1))
        return "(?:" + "|".join(re.escape(str(v)) for v in values) + ")" if values else "(?!)"

    return _PLACEHOLDER.sub(alternation, pattern)


def catalog_placeholders(catalog: "Catalog | None", rule: "Rule | None" = None) -> dict[str, list[str]]:
    """`{{rule_ids}}` and `{{rule_names}}`: every rule of the run (for TL002, which judges
    suppressions naming any of them)."""
    rules = list(catalog) if catalog is not None else [rule] if rule is not None else []
    return {"rule_ids": [r.id for r in rules], "rule_names": [r.name for r in rules]}


def _placeholder_problem(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"placeholder {{{{{exc.args[0]}}}}} names no parameter of this rule"
    if isinstance(exc, TypeError):
        return f"placeholder {{{{{exc.args[0]}}}}} needs a list parameter"
    return f"invalid regular expression: {exc}"


def builtin_rules_dir() -> Path:
    """The shipped rules: inside the wheel, or at the repository root in a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "rules", here.parent / "rules"):
        if candidate.is_dir():
            return candidate
    raise CatalogError(here / "rules", None, "built-in rule directory not found")


def load_rule(path: Path, known_kinds: Iterable[str] | Mapping[str, type], builtin: bool = True) -> Rule:
    """Parse and validate one rule file. With `known_kinds` a mapping of kind -> check class,
    the kind validates the fields it reads (`validate_rule`). User rules (`builtin=False`)
    may not take torchlint's own `TL` IDs."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(path, None, f"cannot read: {exc}") from None
    try:
        data = yamlfile.load(text)
    except yamlfile.TooBig as exc:
        raise CatalogError(path, None, f"rejected: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CatalogError(path, None, f"YAML syntax error: {problem}", line) from None
    if not isinstance(data, dict):
        raise CatalogError(path, None, "expected a mapping of fields at the top level")
    def fail(fld: str, msg: str) -> CatalogError:
        return CatalogError(path, fld, msg, yamlfile.key_lines(text).get(fld))  # positions only for errors

    for key in data:
        if key not in _REQUIRED and key not in _OPTIONAL:
            allowed = ", ".join(sorted({*_REQUIRED, *_OPTIONAL}))
            raise fail(str(key), f"unknown field; expected one of: {allowed}")
    for key, typ in _REQUIRED.items():
        if key not in data:
            raise CatalogError(path, key, "missing required field")
    for key, typ in {**_REQUIRED, **_OPTIONAL}.items():
        if key in data and not isinstance(data[key], typ):
            tname = typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
            raise fail(key, f"expected {tname}, got {type(data[key]).__name__}")

    if not RULE_ID.match(data["id"]):
        raise fail("id", f"{data['id']!r} is not an ID like TL301 or ACME001")
    if not builtin and data["id"].upper().startswith("TL"):
        raise fail("id", f"{data['id']!r}: IDs starting with TL are torchlint's own; use your prefix (e.g. ACME001)")
    if not RULE_NAME.match(data["name"]):
        raise fail("name", f"{data['name']!r} is not kebab-case (e.g. missing-no-grad)")
    try:
        severity = Severity.parse(data["severity"])
    except ValueError as exc:
        raise fail("severity", str(exc)) from None
    kinds = set(known_kinds) | set(INFRASTRUCTURE_KINDS)
    if data["check"] not in kinds:
        raise fail("check", f"unknown check kind {data['check']!r}; known: {', '.join(sorted(kinds))}")
    infrastructure = data["check"] in INFRASTRUCTURE_KINDS
    kind_class = known_kinds.get(data["check"]) if isinstance(known_kinds, Mapping) else None
    problem = kind_class.validate_rule(data) if hasattr(kind_class, "validate_rule") else None
    if problem is not None:
        fld, msg = problem
        raise CatalogError(path, fld, msg, yamlfile.key_lines(text).get(fld.split(".")[0]))
    if "match" in data and data["check"] != "match":
        raise fail("match", "only `check: match` rules read a `match:` mapping")
    # Kinds known by name only (no class): parameter types cannot be checked here.
    params_type = getattr(kind_class, "Params", Params) if kind_class is not None else None
    try:
        params = resolve_rule_params(params_type, data.get("params") or {})
    except ParamError as exc:
        raise CatalogError(path, f"params.{exc.field}", str(exc), yamlfile.key_lines(text).get("params")) from None
    if kind_class is not None:
        allowed = kind_class.message_fields(data)
        for _, name, _, _ in string.Formatter().parse(data["message"]):
            if name is not None and name not in allowed:
                raise fail("message", f"placeholder {{{name}}} is not a field of check `{data['check']}`; "
                           f"known: {', '.join('{' + f + '}' for f in sorted(allowed)) or 'none'}")
    roles = data.get("roles", [])
    unknown_roles = [r for r in roles if r not in ROLES]
    if unknown_roles:
        raise fail("roles", f"unknown role(s) {unknown_roles}; known: {', '.join(ROLES)}")
    prefilter = data.get("prefilter")
    if prefilter is None and not infrastructure:
        raise CatalogError(path, "prefilter", "missing required field (a regex every match must contain)")
    if prefilter is not None:
        patterns = [prefilter] if isinstance(prefilter, str) else prefilter
        if not patterns or not all(isinstance(p, str) and p for p in patterns):
            raise fail("prefilter", "expected a regex or a non-empty list of regexes")
        for pattern in patterns:
            try:
                values = {**vocabulary.load().raw(), "rule_ids": [data["id"]], "rule_names": [data["name"]], **params}
                expanded = expand_placeholders(pattern, values)
                re.compile(expanded)
            except (re.error, KeyError, TypeError) as exc:
                raise fail("prefilter", f"{pattern!r}: {_placeholder_problem(exc)}") from None
            hazard = yamlfile.backtracking_hazard(expanded)
            if hazard is not None:
                raise fail("prefilter", f"{pattern!r}: {hazard} can take exponential time on some files "
                                        "(Python's `re` backtracks): rewrite it without the nested repeat")
    fix = data.get("fix", "none")
    if fix not in FIX_SAFETY:
        raise fail("fix", f"{fix!r}; expected one of: {', '.join(FIX_SAFETY)}")
    examples = data["examples"]
    for part in ("bad", "good"):
        if not isinstance(examples.get(part), str):
            raise fail("examples", f"needs a `{part}` code block (string)")
    extra = set(examples) - {"bad", "good"}
    if extra:
        raise fail("examples", f"unknown keys {sorted(extra)}; expected bad, good")
    if not infrastructure and "# expect:" not in examples["bad"]:
        raise fail("examples", "`bad` must annotate its findings with `# expect: ID`")
    return Rule(
        id=data["id"],
        name=data["name"],
        title=data["title"],
        severity=severity,
        category=data["category"],
        check=data["check"],
        message=data["message"],
        explain=data["explain"],
        examples=dict(examples),
        path=path,
        source=data.get("source", ""),
        prefilter=prefilter,
        params=dict(params),
        fix=fix,
        fix_note=data.get("fix_note", ""),
        match=data.get("match"),
        builtin=builtin,
        params_type=params_type or Params,
        roles=tuple(roles),
    )


def resolve_rule_params(params_type: type[Params] | None, values: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's parameters as plain data, checked against its check's typed `Params`
    (ParamError names the field). Parameter names are snake_case."""
    for key in values:
        if not isinstance(key, str) or not re.match(r"^[a-z][a-z0-9_]*$", key):
            raise ParamError(str(key), "parameter names must be snake_case")
    if params_type is not None:
        params_type.build(values)
    return dict(values)


class Catalog:
    """All loaded rules, addressable by ID or name."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules: dict[str, Rule] = {}
        self._by_name: dict[str, Rule] = {}
        for rule in sorted(rules, key=lambda r: r.id):
            for table, key in ((self.rules, rule.id), (self._by_name, rule.name)):
                other = table.get(key)
                if other is not None:
                    fld = "id" if table is self.rules else "name"
                    raise CatalogError(rule.path, fld, f"duplicate {fld} {key!r}, also defined in {other.path}")
                table[key] = rule

    def __iter__(self):
        return iter(self.rules.values())

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, key: str) -> Rule | None:
        """Look a rule up by ID (case-insensitive) or kebab-case name."""
        return self.rules.get(key.upper()) or self._by_name.get(key.lower())

    def expand(self, selector: str) -> list[Rule]:
        """Rules matched by an ID, a name, an ID prefix (`TL3`), a category or `ALL`; [] when none."""
        if selector.upper() == "ALL":
            return list(self)
        rule = self.get(selector)
        if rule is not None:
            return [rule]
        prefix = selector.upper()
        if re.match(r"^[A-Z]+[0-9]*$", prefix):
            return [r for r in self if r.id.startswith(prefix)]
        return [r for r in self if r.category == selector.lower()]


def load_catalog(extra_dirs: Iterable[Path], kinds: Mapping[str, type]) -> Catalog:
    """Load the built-in rules plus any user rule directories; `kinds` maps each check kind to
    its class (torchlint.checks.registry), which validates the fields it reads."""
    rules = [load_rule(path, kinds) for path in sorted(builtin_rules_dir().glob("*.yaml"))]
    for directory in extra_dirs:
        if not Path(directory).is_dir():
            raise CatalogError(Path(directory), None, "rule directory not found")
        rules += [load_rule(path, kinds, builtin=False) for path in sorted(Path(directory).glob("*.yaml"))]
    return Catalog(rules)


def compile_prefilter(pattern: str) -> re.Pattern[bytes]:
    """A prefilter as Python runs it: on bytes, `^`/`$` at line ends, like ripgrep's."""
    return re.compile(pattern.encode(), re.MULTILINE)
