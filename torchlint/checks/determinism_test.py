"""TL701: determinism tests whose compared generation calls differ in the wrong parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from torchlint.analysis.names import NOT_LITERAL, last_name, literal, qualname_matches, snake_words
from torchlint.analysis.tests import is_test_function
from torchlint.checks import Check, register
from torchlint.params import Params

_MISSING = ("missing",)
_INTENT = re.compile(r"seed|determinis|reproducib", re.IGNORECASE)
_UNWRAP_CALLS = ("list", "tuple", "str", "sorted", "join", "decode", "batch_decode", "tolist")
_EQUAL_ASSERTS = ("assertEqual", "assertListEqual", "assertSequenceEqual", "assert_equal", "assert_close",
                  "assert_allclose", "equal", "allclose")
_NOT_EQUAL_ASSERTS = ("assertNotEqual",)


@dataclass
class _Gen:
    call: cst.Call
    params: dict[str, tuple]


@dataclass
class _Test:
    func: cst.FunctionDef
    seeded: bool = False
    intent: bool = False
    calls: dict[int, _Gen] = field(default_factory=dict)
    assigned: dict[int, _Gen] = field(default_factory=dict)  # id(Assign) -> call


@dataclass(frozen=True)
class DeterminismParams(Params):
    generation_calls: frozenset[str]  # method names that generate
    generation_words: frozenset[str]  # snake_case words of generating helpers
    sampling_params: dict[str, tuple[str, ...]]  # a sampling parameter -> the keyword names it goes by
    rng_seeders: tuple[str, ...]  # qualified names (fnmatch) that seed a random generator


@register
class DeterminismTest(Check):
    kind = "determinism_test"
    Params = DeterminismParams

    def __init__(self, *args):
        super().__init__(*args)
        self.tests: list[_Test] = []

    @property
    def test(self) -> _Test | None:
        func = self.ctx.function
        for t in reversed(self.tests):
            if t.func is func:
                return t
        return None

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if is_test_function(node, self.ctx.class_of(node)):
            doc = node.get_docstring() or ""
            self.tests.append(_Test(node, intent=bool(_INTENT.search(node.name.value + " " + doc))))

    # ----- value resolution -----------------------------------------------------------
    def _literal(self, expr: cst.BaseExpression) -> Any:
        value = literal(expr)
        if value is not NOT_LITERAL:
            return value
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            inner = self._literal(expr.expression)
            return -inner if isinstance(inner, (int, float)) else _MISSING
        if isinstance(expr, (cst.List, cst.Tuple)):
            items = tuple(self._literal(e.value) for e in expr.elements)
            return _MISSING if _MISSING in items else items
        return _MISSING

    def _loop_values(self, iterable: cst.BaseExpression | None) -> tuple | None:
        if iterable is None:
            return None
        lit = self._literal(iterable)
        if isinstance(lit, tuple):
            return lit
        if isinstance(iterable, cst.Call) and last_name(iterable.func) == "range":
            bounds = [self._literal(a.value) for a in iterable.args]
            if all(isinstance(b, int) for b in bounds) and 1 <= len(bounds) <= 3:
                return tuple(range(*bounds))
        return None

    def _value(self, expr: cst.BaseExpression) -> tuple:
        lit = self._literal(expr)
        if lit is not _MISSING:
            return ("lit", lit)
        if isinstance(expr, cst.Name):
            binding = self.ctx.binding(expr.value)
            if binding is None:
                for value in self.ctx.index.globals.get(expr.value, [])[-1:]:
                    lit = self._literal(value)
                    if lit is not _MISSING:
                        return ("lit", lit)
                return ("sym", expr.value)
            if binding.kind == "assign" and binding.value is not None:
                lit = self._literal(binding.value)
                if lit is not _MISSING:
                    return ("lit", lit)
            if binding.kind == "loop":
                values = self._loop_values(binding.value)
                if values is not None and binding.index is not None:
                    values = None
                return ("loop", id(binding.node), expr.value, values)
            return ("sym", id(binding.node), expr.value)
        return ("sym", self.ctx.module.code_for_node(expr))

    # ----- collection -----------------------------------------------------------------
    def _is_generation(self, call: cst.Call) -> bool:
        name = last_name(call.func)
        if name is None:
            return False
        return name in self.params.generation_calls or bool(set(snake_words(name)) & self.params.generation_words)

    def visit_Call(self, node: cst.Call) -> None:
        test = self.test
        if test is None:
            return
        if qualname_matches(self.ctx.imports.qualname(node.func), self.params.rng_seeders) or last_name(node.func) in (
            "manual_seed", "set_seed", "seed_everything",
        ):
            test.seeded = True
            return
        name = last_name(node.func)
        if name in _EQUAL_ASSERTS or name in _NOT_EQUAL_ASSERTS:
            if isinstance(self.ctx.parent(), cst.Expr) and len(node.args) >= 2:
                self._check([a.value for a in node.args[:2]], name in _EQUAL_ASSERTS, node, None)
            return
        if self._is_generation(node):
            test.calls[id(node)] = _Gen(node, self._params(node))

    def _params(self, call: cst.Call) -> dict[str, tuple]:
        params: dict[str, tuple] = {}
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for param, aliases in self.params.sampling_params.items():
            for arg in call.args:
                if arg.keyword is not None and arg.keyword.value in aliases:
                    params[param] = self._value(arg.value)
            if param == "prompt" and param not in params and positional:
                params[param] = self._value(positional[0].value)
            params.setdefault(param, _MISSING)
        return params

    def leave_Assign(self, node: cst.Assign) -> None:
        test = self.test
        if test is None:
            return
        gen = self._gen_of(node.value)
        if gen is not None:
            test.assigned[id(node)] = gen

    def _gen_of(self, expr: cst.BaseExpression, depth: int = 0) -> _Gen | None:
        test = self.test
        if test is None or depth > 6:
            return None
        if isinstance(expr, cst.Await):
            return self._gen_of(expr.expression, depth + 1)
        if isinstance(expr, cst.Call):
            if id(expr) in test.calls:
                return test.calls[id(expr)]
            if last_name(expr.func) in _UNWRAP_CALLS:
                inner = expr.args[0].value if expr.args else expr.func
                if not expr.args and isinstance(expr.func, cst.Attribute):
                    inner = expr.func.value
                return self._gen_of(inner, depth + 1)
            return None
        if isinstance(expr, (cst.Subscript, cst.Attribute)):
            return self._gen_of(expr.value, depth + 1)
        if isinstance(expr, cst.Name):
            binding = self.ctx.binding(expr.value)
            if binding is not None and binding.kind in ("assign", "unpack"):
                return test.assigned.get(id(binding.node))
        return None

    def visit_Assert(self, node: cst.Assert) -> None:
        test = node.test
        msg = node.msg
        if isinstance(test, cst.Call) and last_name(test.func) in ("equal", "allclose", "array_equal"):
            self._check([a.value for a in test.args[:2]], True, node, msg)
            return
        if not isinstance(test, cst.Comparison):
            return
        ops = {type(c.operator) for c in test.comparisons}
        if ops == {cst.Equal}:
            equal = True
        elif ops == {cst.NotEqual}:
            equal = False
        else:
            return
        operands = [test.left, *(c.comparator for c in test.comparisons)]
        self._check(operands, equal, node, msg)

    # ----- decision -------------------------------------------------------------------
    def _check(self, operands: list[cst.BaseExpression], equal: bool, node: cst.CSTNode, msg) -> None:
        test = self.test
        if test is None:
            return
        gens = [self._gen_of(o) for o in operands]
        if any(g is None for g in gens) or len({id(g.call) for g in gens}) < 2:
            return
        intent = test.intent or (msg is not None and bool(_INTENT.search(self.ctx.module.code_for_node(msg))))
        detail = self._diagnose([g.params for g in gens], equal, intent, test.seeded)
        if detail:
            self.report(node, detail=detail)

    def _diagnose(self, params: list[dict[str, tuple]], equal: bool, intent: bool, seeded: bool) -> str | None:
        differing = [p for p in self.params.sampling_params if len({_key(ps[p]) for ps in params}) > 1]
        if len(differing) >= 2:
            return (f"the compared calls differ in {' and '.join(differing)}: a failure cannot be "
                    "attributed; vary one parameter at a time")
        if not equal:
            return None
        temps = [ps["temperature"] for ps in params]
        seeds = [ps["seed"] for ps in params]
        same_seed = len({_key(s) for s in seeds}) == 1 and seeds[0] != _MISSING
        if all(_is_zero(t) for t in temps) and same_seed:
            varies_in_loop = seeds[0][0] == "loop"
            if varies_in_loop or intent:
                return ("outputs at temperature 0 are compared with the same seed in every call, so the test "
                        "cannot show that greedy decoding ignores the seed: use a different seed per call")
            return None
        if all(_is_positive(t) for t in temps):
            if "seed" in differing:
                return ("equality is asserted across different seeds at temperature > 0: sampled outputs "
                        "should differ; compare same-seed runs, or use temperature 0")
            if all(s == _MISSING for s in seeds) and not seeded:
                return ("reproducibility is asserted at temperature > 0 with no seed and no seeded RNG: "
                        "the test is flaky; pass the same seed to every call")
        return None


def _key(value: tuple) -> tuple:
    return value if value[0] != "loop" else value[:2]


def _is_zero(value: tuple) -> bool:
    if value[0] == "lit":
        return isinstance(value[1], (int, float)) and not isinstance(value[1], bool) and value[1] == 0
    if value[0] == "loop" and value[3]:
        return all(isinstance(v, (int, float)) and v == 0 for v in value[3])
    return False


def _is_positive(value: tuple) -> bool:
    if value[0] == "lit":
        return isinstance(value[1], (int, float)) and not isinstance(value[1], bool) and value[1] > 0
    if value[0] == "loop" and value[3]:
        return all(isinstance(v, (int, float)) and v > 0 for v in value[3])
    return False
