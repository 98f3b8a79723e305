"""Rule files as data: libyaml's safe loader, with anchors and aliases expanded under a
budget, and regexes checked for the nesting that makes a backtracking engine explode.

A YAML alias is a reference, so a few lines can describe a structure of billions of nodes
("billion laughs"): loading it is cheap, but anything that walks it (hashing the parameters
for the cache key, printing a rule) is not. Python's `re` backtracks: `(a+)+$` on a long line
of `a`s never ends, and torchlint runs prefilters with `re` where ripgrep is missing and when
it re-lints a file during `--fix`."""

from __future__ import annotations

import re
from typing import Any

import yaml

try:  # Python 3.11+
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import sre_parse as _sre_parse  # type: ignore[no-redef]

# libyaml's loader when PyYAML was built with it (about 10x faster than the pure-Python one).
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_NODES = 100_000  # values in a rule file once every alias is expanded


class TooBig(ValueError):
    """A document whose aliases expand past MAX_NODES, or refer to themselves."""


def load(text: str) -> Any:
    """The document in `text` (yaml.YAMLError for bad syntax, TooBig past the budget)."""
    data = yaml.load(text, Loader=LOADER)
    _check_expansion(data)
    return data


def key_lines(text: str) -> dict[str, int]:
    """Line of each top-level key (for error messages)."""
    try:
        node = yaml.compose(text, Loader=LOADER)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _check_expansion(data: Any) -> None:
    """Count the values `data` holds with every shared reference expanded: linear in the
    distinct containers (each counted once, its size remembered), never walking the expansion."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        value, done = stack.pop()
        if not isinstance(value, (list, dict)):
            continue
        key = id(value)
        children = list(value.values()) + list(value.keys()) if isinstance(value, dict) else value
        if done:
            on_path.discard(key)
            total = 1 + sum(sizes.get(id(c), 1) for c in children)
            if total > MAX_NODES:
                raise TooBig(f"its anchors and aliases expand to more than {MAX_NODES:,} values")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise TooBig("an alias refers to the value that contains it")
        on_path.add(key)
        stack.append((value, True))
        stack.extend((c, False) for c in children if isinstance(c, (list, dict)))


_REPEATS = {_sre_parse.MAX_REPEAT, _sre_parse.MIN_REPEAT, getattr(_sre_parse, "POSSESSIVE_REPEAT", None)} - {None}


def backtracking_hazard(pattern: str) -> str | None:
    """Why `pattern` may take exponential time in a backtracking engine: an unbounded repeat
    inside an unbounded repeat (`(a+)+`, `(\\w+\\s*)*`), the shape of every classic case; None
    otherwise. (Overlapping alternations under a repeat, `(a|aa)+`, are not detected.)"""
    try:
        parsed = _sre_parse.parse(pattern)
    except re.error:
        return None
    return _hazard(parsed, inside_repeat=False)


def _hazard(items: Any, inside_repeat: bool) -> str | None:
    for op, arg in items:
        if op in _REPEATS:
            low, high, sub = arg
            unbounded = high == _sre_parse.MAXREPEAT or high > 16
            if inside_repeat and unbounded:
                return "a repeat inside a repeated group, such as `(a+)+` or `(\\w+\\s*)*`"
            found = _hazard(sub, inside_repeat or unbounded)
            if found:
                return found
        elif op is _sre_parse.SUBPATTERN:
            found = _hazard(arg[-1], inside_repeat)
            if found:
                return found
        elif op is _sre_parse.BRANCH:
            for branch in arg[1]:
                found = _hazard(branch, inside_repeat)
                if found:
                    return found
        elif op in (_sre_parse.ASSERT, _sre_parse.ASSERT_NOT):
            found = _hazard(arg[1], inside_repeat)
            if found:
                return found
    return None
