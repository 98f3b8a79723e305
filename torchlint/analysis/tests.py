"""Is this test code?"""

from __future__ import annotations

from pathlib import PurePath

import libcst as cst

from torchlint.analysis.names import snake_words


def is_test_function(func: cst.FunctionDef, cls: cst.ClassDef | None = None) -> bool:
    """pytest/unittest collection rules: `test*` functions, or `test*` methods of `Test*` classes."""
    name = func.name.value
    if not name.startswith("test"):
        return False
    if cls is None:
        return True
    return "Test" in cls.name.value or any(
        isinstance(b.value, (cst.Name, cst.Attribute)) and "TestCase" in cst.Module([]).code_for_node(b.value)
        for b in cls.bases
    )


def is_test_file(path: str) -> bool:
    p = PurePath(path)
    return (
        p.name.startswith("test_")
        or p.name.endswith("_test.py")
        or p.name == "conftest.py"
        or p.stem == "testing_utils" or p.stem.endswith("_testing_utils")  # helpers for the tests
        or "test" in p.parts
        or "testing" in p.parts
        or any("tests" in snake_words(part) for part in p.parts[:-1])  # `unit_tests/`, `tests_and_fun/`
    )
