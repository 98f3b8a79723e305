"""`match`: a declarative check kind for rules written in YAML alone.

The rule's `match:` mapping says which calls to report:

    match:
      calls: [torch.load]              # qualified names through imports; `*` wildcards
      receiver: tensor                 # optional: `x.m(...)` where x is a known tensor / module
      receiver_not_from: ["*.pin_memory"]  # optional: ...and was not produced by these calls
      require_keywords: {weights_only: true}   # report when missing or another literal
      forbid_keywords: {non_blocking: true}    # report when given with this literal (null: at all)
      inside: [request_handler]        # every place must hold (torchlint.analysis.places)
      not_inside: [try_except]         # no place may hold
      unless_file_calls: ["*.eval"]    # silent in files that call any of these anywhere
      fix: {add_keywords: {weights_only: "True"}}  # or {rename: new.qualified.name}

Names resolve through the file's imports: `calls: [torch.load]` matches `th.load` after
`import torch as th` and never a local function called `load`. A pattern starting with `*.`
also matches method calls on any receiver (`*.to` matches `x.to(...)`).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import libcst as cst

from torchlint.analysis.edits import Fix, append_arg, attribute_chain, keyword_arg, replace
from torchlint.analysis.models import ModelOracle
from torchlint.analysis.names import NOT_LITERAL, dotted, literal
from torchlint.analysis.places import PLACES, is_in
from torchlint.analysis.tensors import TensorOracle
from torchlint.checks import Check, register

_KEYS = {
    "calls", "receiver", "receiver_not_from", "require_keywords", "forbid_keywords", "inside", "not_inside",
    "unless_file_calls", "fix",
}
_RECEIVERS = ("tensor", "module")
_SCALARS = (bool, int, float, str, type(None))


def _problem(spec: Any) -> tuple[str, str] | None:
    """(field, problem) for a malformed `match:` mapping, else None."""
    if not isinstance(spec, dict):
        return "match", "expected a mapping (calls, receiver, require_keywords, inside, fix, ...)"
    for key in spec:
        if key not in _KEYS:
            return f"match.{key}", f"unknown key; expected one of: {', '.join(sorted(_KEYS))}"
    calls = spec.get("calls")
    if isinstance(calls, str):
        calls = [calls]
    if not calls or not isinstance(calls, list) or not all(isinstance(c, str) and c for c in calls):
        return "match.calls", "expected a qualified name or a list of them (e.g. torch.load, *.from_pretrained)"
    for key in ("receiver_not_from", "unless_file_calls"):
        value = spec.get(key, [])
        if not isinstance(value, list) or not all(isinstance(c, str) and c for c in value):
            return f"match.{key}", "expected a list of qualified names"
    if spec.get("receiver") not in (None, *_RECEIVERS):
        return "match.receiver", f"{spec['receiver']!r}; expected one of: {', '.join(_RECEIVERS)}"
    for key in ("require_keywords", "forbid_keywords"):
        value = spec.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, _SCALARS) for k, v in value.items()):
            return f"match.{key}", "expected a mapping of keyword -> literal value (true, 1, \"auto\", null)"
    for key in ("inside", "not_inside"):
        value = spec.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or any(p not in PLACES for p in value):
            return f"match.{key}", f"expected places among: {', '.join(sorted(PLACES))}"
    fix = spec.get("fix")
    if fix is not None:
        if not isinstance(fix, dict) or set(fix) - {"add_keywords", "rename"} or len(fix) != 1:
            return "match.fix", "expected one of {add_keywords: {name: code}} or {rename: qualified.name}"
        if "rename" in fix and not (isinstance(fix["rename"], str) and _parses(fix["rename"])):
            return "match.fix.rename", "expected a dotted name"
        adds = fix.get("add_keywords", {})
        if not isinstance(adds, dict) or not all(isinstance(v, str) and _parses(v) for v in adds.values()):
            return "match.fix.add_keywords", "expected a mapping of keyword -> Python expression (as text)"
    return None


def _parses(code: str) -> bool:
    try:
        cst.parse_expression(code)
    except Exception:
        return False
    return True




def _spell(value: Any) -> str:
    """A YAML literal as Python source: true -> True, null -> None, "auto" -> 'auto'."""
    return repr(value)


def _local_spelling(imports, qualified: str) -> str | None:
    """How this file can refer to `qualified` through its imports (`import acme` ->
    `acme.devices.place`; `from acme import devices` -> `devices.place`), else None."""
    best = None
    for local, full in imports.aliases.items():
        if qualified == full or qualified.startswith(full + "."):
            spelled = local + qualified[len(full):]
            if best is None or len(spelled) < len(best):
                best = spelled
    return best


@register
class Match(Check):
    kind = "match"
    fields = frozenset({"call", "keyword", "problem"})

    @classmethod
    def validate_rule(cls, data: dict) -> tuple[str, str] | None:
        if "match" not in data:
            return "match", "missing: a `check: match` rule needs a `match:` mapping"
        return _problem(data["match"])

    def __init__(self, *args):
        super().__init__(*args)
        spec = self.rule.match or {}
        calls = spec["calls"]
        self.calls = [calls] if isinstance(calls, str) else list(calls)
        self.receiver = spec.get("receiver")
        self.receiver_not_from = list(spec.get("receiver_not_from", []))
        self.require = dict(spec.get("require_keywords", {}))
        self.forbid = dict(spec.get("forbid_keywords", {}))
        inside, not_inside = spec.get("inside", []), spec.get("not_inside", [])
        self.inside = [inside] if isinstance(inside, str) else list(inside)
        self.not_inside = [not_inside] if isinstance(not_inside, str) else list(not_inside)
        self.unless_file_calls = list(spec.get("unless_file_calls", []))
        self.fix_spec = spec.get("fix")
        self._models: ModelOracle | None = None
        self.pending: list[tuple[cst.Call, dict, Fix | None]] = []
        self.file_calls_seen = False

    # ----- matching ---------------------------------------------------------------------
    def _names(self, func: cst.BaseExpression) -> tuple[str | None, str | None]:
        """(qualified name through imports, spelling for `*.` patterns) of a callee."""
        qual = self.ctx.imports.qualname(func)
        spelled = dotted(func)
        if spelled is None and isinstance(func, cst.Attribute):
            spelled = f"<expr>.{func.attr.value}"
        return qual, spelled

    def _matches(self, func: cst.BaseExpression, patterns: list[str]) -> bool:
        qual, spelled = self._names(func)
        for p in patterns:
            if qual is not None and fnmatchcase(qual, p):
                return True
            # Unresolved names match only wildcard patterns: `*.to`, never `torch.load`.
            if qual is None and spelled is not None and p.startswith("*") and fnmatchcase(spelled, p):
                return True
        return False

    def _receiver_ok(self, func: cst.BaseExpression) -> bool:
        if self.receiver is None and not self.receiver_not_from:
            return True
        if not isinstance(func, cst.Attribute):
            return False
        value = func.value
        if self._models is None:
            self._models = ModelOracle(self.ctx)
        if self.receiver == "tensor" and TensorOracle(self.ctx, self._models).location(value) is None:
            return False
        if self.receiver == "module" and self._models.classify(value) not in ("model", "grad_free"):
            return False
        if self.receiver_not_from:
            source = value
            if isinstance(value, cst.Name):
                binding = self.ctx.binding(value.value)
                source = binding.value if binding is not None and binding.kind == "assign" else None
            if isinstance(source, cst.Call) and self._matches(source.func, self.receiver_not_from):
                return False
        return True

    def _keyword_problem(self, node: cst.Call) -> tuple[str, str] | None:
        """(keyword, what is wrong), or None when the call's keywords are as required."""
        given = {a.keyword.value: a.value for a in node.args if a.keyword is not None}
        if any(a.star == "**" for a in node.args):
            return None  # `**kwargs` may carry anything: stay silent
        for name, wanted in self.require.items():
            if name not in given:
                return name, f"without `{name}={_spell(wanted)}`" if wanted is not None else f"without `{name}=`"
            value = literal(given[name])
            if wanted is not None and value is not NOT_LITERAL and value != wanted:
                return name, f"with `{name}={_spell(value)}` (expected `{_spell(wanted)}`)"
        for name, banned in self.forbid.items():
            if name in given:
                value = literal(given[name])
                if banned is None or (value is not NOT_LITERAL and value == banned):
                    return name, f"with `{name}={cst.Module([]).code_for_node(given[name])}`"
        return None

    def visit_Call(self, node: cst.Call) -> None:
        if self.unless_file_calls and not self.file_calls_seen and self._matches(node.func, self.unless_file_calls):
            self.file_calls_seen = True
        if not self._matches(node.func, self.calls) or not self._receiver_ok(node.func):
            return
        if not all(is_in(p, self.ctx) for p in self.inside) or any(is_in(p, self.ctx) for p in self.not_inside):
            return
        keyword, problem = None, ""
        if self.require or self.forbid:
            found = self._keyword_problem(node)
            if found is None:
                return
            keyword, problem = found
        fields = {"call": cst.Module([]).code_for_node(node.func), "keyword": keyword or "", "problem": problem}
        fix = self._fix(node, keyword)
        if self.unless_file_calls:
            self.pending.append((node, fields, fix))
        else:
            self.report(node, fix=fix, **fields)

    def end(self) -> None:
        if self.file_calls_seen:
            return
        for node, fields, fix in self.pending:
            self.report(node, fix=fix, **fields)

    # ----- fixes ------------------------------------------------------------------------
    def _fix(self, node: cst.Call, keyword: str | None) -> Fix | None:
        spec = self.fix_spec
        if not spec:
            return None
        if "rename" in spec:
            target = spec["rename"]
            local = _local_spelling(self.ctx.imports, target)
            if local is None:
                return None  # the file does not import it: a rename would not run
            return replace(f"Call `{target}` instead", node.func, lambda _: attribute_chain(local))
        adds = spec["add_keywords"]
        if keyword is None or keyword not in adds:
            return None
        value = cst.parse_expression(adds[keyword])

        def rebuild(updated: cst.CSTNode) -> cst.CSTNode:
            assert isinstance(updated, cst.Call)
            args = list(updated.args)
            for i, a in enumerate(args):
                if a.keyword is not None and a.keyword.value == keyword:
                    args[i] = a.with_changes(value=value)
                    return updated.with_changes(args=args)
            return append_arg(updated, keyword_arg(keyword, value))

        return replace(f"Pass `{keyword}={adds[keyword]}`", node, rebuild)
