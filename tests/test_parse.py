"""The cheaper parse (torchlint.parse) against libcst's validating one."""

from __future__ import annotations

import gc

import libcst as cst
import pytest

from tests.test_walk import SOURCES, TRICKY
from torchlint.lint.parse import cpython_parse, gc_paused, parse_module


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_unvalidated_tree_equals_the_validated_one(path):
    data = path.read_bytes()
    tree, _, _ = cpython_parse(data)
    fast = parse_module(data, compiled=tree is not None)
    assert fast.deep_equals(cst.parse_module(data))
    assert fast.bytes == data


def test_source_cpython_refuses_is_validated_as_usual():
    # TRICKY has syntax newer than some interpreters: libcst then decides, validating.
    fast = parse_module(TRICKY.encode(), compiled=False)
    assert fast.deep_equals(cst.parse_module(TRICKY))


def test_validation_is_back_after_a_parse_and_after_a_failed_one():
    parse_module(b"x = 1\n", compiled=True)
    with pytest.raises(cst.ParserSyntaxError):
        parse_module(b"def f(:\n", compiled=True)
    with pytest.raises(cst.CSTValidationError):  # a node libcst's constructor refuses
        cst.Name("not a name")


def test_gc_paused_restores_the_collector():
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
