"""Runner behaviour: prefilter, crash isolation (TL001), one parse per file."""

from __future__ import annotations

import os

import libcst as cst

from torchlint.catalog import Catalog, Rule
from torchlint.checks import Check, register, registry
from torchlint.config import Config
from torchlint.lint import Linter
from torchlint.model import Severity
from torchlint.session.files import prefilter


@register
class _Explodes(Check):
    kind = "test_explodes"

    def visit_Call(self, node: cst.Call) -> None:
        raise ValueError("boom on purpose")


def _with_crashing_rule(catalog) -> tuple[Catalog, list[Rule]]:
    crashing = Rule(
        id="ZZ999", name="explodes", title="t", severity=Severity.LOW, category="test", check="test_explodes",
        message="m", explain="e", examples={"bad": "", "good": ""}, path=catalog.rules["TL301"].path,
        prefilter=r"\(",
    )
    cat = Catalog([*catalog, crashing])
    return cat, list(cat)


def test_crashing_rule_becomes_tl001_and_others_still_run(catalog):
    cat, rules = _with_crashing_rule(catalog)
    linter = Linter(cat, rules, Config())
    src = b"import torch\n\ndef predict(model, x):\n    return model(x)\n"
    result = linter.lint_source("f.py", src)
    got = {(f.rule, f.line) for f in result.findings}
    assert ("TL301", 4) in got
    tl001 = [f for f in result.findings if f.rule == "TL001"]
    assert len(tl001) == 1 and "ZZ999" in tl001[0].message and "boom on purpose" in tl001[0].message
    # The next file is linted normally by the same linter.
    again = linter.lint_source("g.py", src)
    assert {f.rule for f in again.findings} == {"TL301", "TL001"}


def test_debug_shows_traceback(catalog):
    cat, rules = _with_crashing_rule(catalog)
    result = Linter(cat, rules, Config(), debug=True).lint_source("f.py", b"f(1)\n")
    assert "Traceback" in result.findings[0].message


def test_prefilter_skips_files_no_rule_can_match(tmp_path, catalog):
    (tmp_path / "plain.py").write_text("x = 1\n")
    (tmp_path / "torchy.py").write_text("y = out.tolist()\n")
    linter = Linter(catalog, list(catalog), Config())
    files = [str(tmp_path / "plain.py"), str(tmp_path / "torchy.py")]
    assert prefilter(files, linter.prefilter_rules) == {str(tmp_path / "torchy.py"): ["TL302"]}


def test_a_rule_runs_only_where_each_of_its_prefilters_matches(catalog):
    # TL303 needs an unload-path word and a dropped `self.` attribute; a file with only the word
    # is never parsed for it, so a broken file shows the difference (TL000 needs a parse).
    rules = [catalog.rules["TL303"], catalog.rules["TL000"]]
    linter = Linter(catalog, rules, Config())
    assert linter.lint_source("a.py", b"def close(:\n").findings == []
    assert [f.rule for f in linter.lint_source("b.py", b"def close(:\n    self.model = None\n").findings] == ["TL000"]


def test_a_check_that_rules_itself_out_leaves_the_file_unparsed(catalog, monkeypatch):
    # TL703's prefilters match (cache words, a three-element tuple) but no shape of three
    # named dimensions is anywhere: `admits` rules the file out, so it is never parsed.
    import torchlint.lint as lint

    linter = Linter(catalog, [catalog.rules["TL703"], catalog.rules["TL000"]], Config())
    unshaped = b"cache = {}\nkv = torch.zeros(a, b, c)\n"
    shaped = b"# shape: (batch, heads, seq_len, head_dim)\ncache = {}\nkv = torch.zeros(a, b, c)\n"
    assert linter.prefilter_rules["TL703"] and all(
        __import__("re").search(p, unshaped.decode()) for p in linter.prefilter_rules["TL703"]
    )
    parsed = []
    real = lint.parse_module
    monkeypatch.setattr(lint, "parse_module", lambda data, compiled: parsed.append(data) or real(data, compiled))
    linter.lint_source("kv.py", unshaped)
    assert parsed == []
    linter.lint_source("kv.py", shaped)
    assert parsed == [shaped]
    # `def f(:` would be TL000 if parsed: a file ruled out reports nothing, as for prefilters
    assert linter.lint_source("kv.py", b"cache = (a, b, c)\ndef f(:\n").findings == []


@register
class _DoubtfulAdmission(Check):
    kind = "test_doubtful_admission"

    @classmethod
    def admits(cls, data, params):
        raise RuntimeError("cannot tell")

    def visit_Call(self, node: cst.Call) -> None:
        self.report(node)


def test_a_failing_admission_test_lets_the_check_run(catalog):
    rule = Rule(
        id="ZZ998", name="doubtful", title="t", severity=Severity.LOW, category="test",
        check="test_doubtful_admission", message="m", explain="e", examples={"bad": "", "good": ""},
        path=catalog.rules["TL301"].path, prefilter=r"\(",
    )
    cat = Catalog([*catalog, rule])
    findings = Linter(cat, [rule], Config()).lint_source("f.py", b"f(1)\n").findings
    assert [(f.rule, f.line) for f in findings] == [("ZZ998", 1)]


def test_prefilter_placeholders_follow_the_configured_parameters(catalog):
    # TL103's second pattern lists the entry points; extending them in config widens it.
    src = (b"import torch\n\ndef answer(x):\n    device = 'cuda' if torch.cuda.is_available() else 'cpu'\n"
           b"    return x.to(device)\n")
    rules = [catalog.rules["TL103"]]
    assert Linter(catalog, rules, Config()).lint_source("a.py", src).findings == []
    widened = Config(vocabulary={"extend_entry_points": ["answer"]})
    assert [f.rule for f in Linter(catalog, rules, widened).lint_source("a.py", src).findings] == ["TL103"]


def test_prefilter_python_fallback_matches_rg(tmp_path, catalog, monkeypatch):
    import torchlint.session.files as discover

    texts = ["x = 1\n", "a.numpy()\n", "def test_x(): pass\n", "model(x)\n",
             # patterns that span lines (TL703's shape tuple), and TL303's two patterns
             "kv_cache = torch.zeros(\n    batch,\n    heads,\n    seq)\n",
             "def close(self):\n    self.model = None\n", "def close(self):\n    pass\n"]
    for i, text in enumerate(texts):
        (tmp_path / f"f{i}.py").write_text(text)
    files = sorted(str(p) for p in tmp_path.glob("*.py"))
    rules = Linter(catalog, list(catalog), Config()).prefilter_rules
    with_rg = prefilter(files, rules)
    monkeypatch.setattr(discover, "rg_binary", lambda: None)
    assert prefilter(files, rules) == with_rg
    assert {os.path.basename(f): ids for f, ids in with_rg.items()} == {
        "f1.py": ["TL302"], "f2.py": ["TL701"], "f3.py": ["TL301"], "f4.py": ["TL703"], "f5.py": ["TL303"],
    }


def test_prefilter_falls_back_to_python_for_a_pattern_rg_refuses(tmp_path):
    (tmp_path / "a.py").write_text("x = ab\n")
    (tmp_path / "b.py").write_text("x = cb\n")
    files = sorted(str(p) for p in tmp_path.glob("*.py"))
    # rg has no look-behind; Python's re has
    assert prefilter(files, {"R1": ["(?<=a)b"], "R2": ["b"]}) == {files[0]: ["R1", "R2"], files[1]: ["R2"]}


def test_unreadable_encoding_is_tl000(catalog):
    linter = Linter(catalog, list(catalog), Config())
    result = linter.lint_source("x.py", b"# -*- coding: no-such-codec -*-\nmodel(x)\n")
    assert [f.rule for f in result.findings] == ["TL000"]


def test_registry_discovers_every_kind():
    assert {"missing_no_grad", "tensor_to_python", "integer_cast", "kernel_gate", "determinism_test"} <= set(
        registry()
    )


def test_cheap_positions_equal_libcst_positions(catalog):
    """Positions from per-statement codegen + ast equal libcst's whole-module PositionProvider."""
    from libcst.metadata import MetadataWrapper, PositionProvider

    from torchlint.lint.positions import resolve

    src = (
        b"import torch\n\n\n@torch.inference_mode()\n@other\nasync def f(model, x):\n"
        b"    a = 1; b = model(x)\n    return (\n        b\n        .tolist()\n    )\n\n"
        b"class C:\n    def g(self):\n        return self.model(1)\n"
    )
    module = __import__("libcst").parse_module(src)
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    full = wrapper.resolve(PositionProvider)
    import libcst as cst

    wanted = []

    class V(cst.CSTVisitor):
        top = None

        def visit_Call(self, node):
            wanted.append((node, self.top))

    for stmt in module.body:
        V.top = stmt
        stmt.visit(V())
    cheap = resolve(module, src, wanted)
    assert wanted and all(cheap[n] == full[n] for n, _ in wanted)


def test_cuda_specific_modules_by_path_are_not_tl101(linter):
    src = b"import torch\n\ndef seed(device):\n    return torch.device('cuda', device)\n"
    rules = lambda path: {f.rule for f in linter.lint_source(path, src).findings}
    assert "TL101" in rules("pkg/utils/random.py")
    assert "TL101" not in rules("pkg/cuda/random.py")
    assert "TL101" not in rules("pkg/sparse/_triton_ops_meta.py")


def test_exclude_globs_match_components_or_paths_from_the_root(tmp_path):
    from torchlint.globs import is_excluded
    from torchlint.session.files import DEFAULT_EXCLUDE

    root = tmp_path
    (root / "pkg" / "gen").mkdir(parents=True)
    assert is_excluded("a/.venv/lib/x.py", DEFAULT_EXCLUDE)
    assert is_excluded("src/__pycache__/m.py", DEFAULT_EXCLUDE)
    assert not is_excluded("src/venvy/m.py", DEFAULT_EXCLUDE)  # a whole component, not a prefix
    assert is_excluded("src/build_1/m.py", ["build_*"]) and not is_excluded("src/xbuild_1/m.py", ["build_*"])
    assert is_excluded("src/Gen.py", ["[Gg]en.py"]) and not is_excluded("src/gen.pyi", ["gen.py"])
    inside = str(root / "pkg" / "gen" / "m.py")
    assert is_excluded(inside, ["pkg/gen"], root) and is_excluded(inside, ["./pkg/gen/"], root)
    assert is_excluded(inside, ["pkg/*/m.py"], root)
    assert not is_excluded(inside, ["gen/m.py"], root)  # with a `/`: anchored at the root
    assert not is_excluded(inside, [], root)
