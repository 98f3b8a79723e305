"""Shared semantic helpers, tested on their own through a tiny traversal harness."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from torchlint.analysis.context import Context
from torchlint.analysis.grad import GradOracle
from torchlint.analysis.guards import CAPABILITIES, CapabilityEvaluator, mentions_cuda_probe
from torchlint.analysis.models import ModelOracle
from torchlint.analysis.names import ImportMap, snake_words
from torchlint.analysis.tensors import CPU, DEVICE, TensorOracle
from torchlint.analysis.tests import is_test_function
from torchlint.lint.dispatch import Dispatcher


def at_marker(source: str, probe):
    """Traverse `source` and call probe(ctx, node) on the Call whose callee is `MARK`."""
    module = cst.parse_module(textwrap.dedent(source))
    ctx = Context(module, "t.py")
    results = []

    class _Probe:
        rule = None

        def visit_Call(self, node):
            if isinstance(node.func, cst.Name) and node.func.value == "MARK":
                results.append(probe(ctx, node))

        def end(self):
            pass

    Dispatcher(ctx, [_Probe()], lambda c, e: (_ for _ in ()).throw(e)).run(module)
    return results


def test_snake_words():
    assert snake_words("_get_next_logits") == ["get", "next", "logits"]
    assert snake_words("generateBatch") == ["generate", "batch"]


def test_import_map_resolves_aliases_not_spelling():
    module = cst.parse_module(
        "import torch as t\nfrom torch import no_grad as ng\nfrom torch.cuda import empty_cache\n"
        "import torch.nn.functional as F\nfrom . import helpers\n"
    )
    imports = ImportMap(module)
    q = lambda s: imports.qualname(cst.parse_expression(s))
    assert q("t.cuda.is_available") == "torch.cuda.is_available"
    assert q("ng") == "torch.no_grad"
    assert q("empty_cache") == "torch.cuda.empty_cache"
    assert q("F.normalize") == "torch.nn.functional.normalize"
    assert q("torch.no_grad") is None  # `torch` itself was never imported under that name
    assert q("helpers.clear") == ".helpers.clear"


def test_import_map_agrees_with_libcst_qualified_names():
    from libcst.metadata import MetadataWrapper, QualifiedNameProvider

    src = "import torch as t\nfrom torch import cuda\nfrom torch.cuda import is_available as ok\n" \
          "a = t.no_grad\nb = cuda.empty_cache\nc = ok\n"
    module = cst.parse_module(src)
    wrapper = MetadataWrapper(module)
    names = {k: v() if callable(v) else v for k, v in wrapper.resolve(QualifiedNameProvider).items()}
    imports = ImportMap(wrapper.module)
    for stmt in wrapper.module.body[3:]:
        value = stmt.body[0].value
        expected = {q.name for q in names.get(value, set())}
        assert imports.qualname(value) in expected


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import torch\nwith torch.no_grad():\n    MARK()\n", True),
        ("import torch\n@torch.inference_mode()\ndef f():\n    MARK()\n", True),
        ("from torch import inference_mode\nwith inference_mode(False):\n    MARK()\n", False),
        ("import torch\nwith torch.set_grad_enabled(False):\n    MARK()\n", True),
        ("import torch\nwith torch.set_grad_enabled(True):\n    MARK()\n", False),
        ("import torch\nwith torch.autocast('cuda'):\n    MARK()\n", False),
        ("import torch, contextlib\n@contextlib.contextmanager\ndef quiet():\n    with torch.no_grad():\n"
         "        yield\nwith quiet():\n    MARK()\n", True),
        ("def no_grad():\n    pass\nwith no_grad():\n    MARK()\n", False),
    ],
)
def test_under_no_grad(source, expected):
    assert at_marker(source, lambda ctx, n: GradOracle(ctx.index).under_no_grad(ctx)) == [expected]


@pytest.mark.parametrize(
    "gate, admitted",
    [
        ("torch.cuda.get_device_capability()[0] == 9", {(9, 0)}),
        ("torch.cuda.get_device_capability()[0] >= 9", {(9, 0), (10, 0), (10, 3), (11, 0), (12, 0), (12, 1)}),
        ("torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0)",
         {(8, 0), (8, 6), (8, 7), (8, 9), (9, 0), (10, 0), (10, 3), (11, 0), (12, 0), (12, 1)}),
        ("torch.cuda.get_device_capability() in ((8, 0), (9, 0))", {(8, 0), (9, 0)}),
    ],
)
def test_capability_gate_evaluation(gate, admitted):
    src = f"import torch\nif {gate}:\n    MARK()\n"
    got = at_marker(src, lambda ctx, n: CapabilityEvaluator(ctx).admitted(ctx.conditions()))
    assert got == [(admitted, True)]


@pytest.mark.parametrize(
    "gate, admitted, gated",
    [
        # tests that never read the capability: one value for all of them
        ("flag", set(CAPABILITIES), False),
        ("0", set(), True),
        ("1", set(CAPABILITIES), True),
        ("(8, 0) >= (9, 0)", set(), True),
        # one that does, after a part that does not
        ("n == 3 and torch.cuda.get_device_capability()[0] == 8", {(8, 0), (8, 6), (8, 7), (8, 9)}, True),
    ],
)
def test_capability_independent_tests_are_evaluated_once_with_the_same_verdict(gate, admitted, gated):
    src = f"import torch\nn = 3\nif {gate}:\n    MARK()\n"
    got = at_marker(src, lambda ctx, n: CapabilityEvaluator(ctx).admitted(ctx.conditions()))
    assert got == [(admitted, gated)]


def test_capability_via_unpacked_variables_and_early_return():
    src = """
    import torch
    def f():
        major, minor = torch.cuda.get_device_capability()
        sm = major * 10 + minor
        if sm != 90:
            return None
        MARK()
    """
    ((admitted, gated),) = at_marker(src, lambda ctx, n: CapabilityEvaluator(ctx).admitted(ctx.conditions()))
    assert gated and admitted == {(9, 0)}


def test_cuda_guard_through_variable():
    src = """
    import torch
    use_cuda = torch.cuda.is_available()
    def f(device):
        if use_cuda:
            MARK()
        if device == "cuda":
            MARK()
        if device == "mps":
            MARK()
    """
    got = at_marker(src, lambda ctx, n: any(mentions_cuda_probe(c.test, ctx) for c in ctx.conditions()))
    assert got == [True, True, False]


def test_is_test_function():
    mod = cst.parse_module("def test_a(): pass\nclass TestX:\n    def test_b(self): pass\nclass Helper:\n"
                           "    def test_c(self): pass\ndef helper(): pass\n")
    a, tx, helper_cls, helper = mod.body
    assert is_test_function(a)
    assert is_test_function(tx.body.body[0], tx)
    assert not is_test_function(helper_cls.body.body[0], helper_cls)
    assert not is_test_function(helper)


@pytest.mark.parametrize(
    "setup, expected",
    [
        ("out = model(x)\ny = out.logits", DEVICE),
        ("y = x.to(device).argmax(-1)", DEVICE),
        ("y = x.to('cpu')", CPU),
        ("y = model(x).cpu().float()", CPU),
        ("y = torch.zeros(3)", CPU),
        ("y = torch.zeros(3, device=device)", DEVICE),
        ("y = np.zeros(3)", None),
        ("y = tokenizer(x)['input_ids']", None),
        ("y = F.normalize(model(x).pooler_output)", DEVICE),
    ],
)
def test_tensor_location(setup, expected):
    body = textwrap.indent(setup, "    ")
    src = f"import torch\nimport numpy as np\nimport torch.nn.functional as F\ndef f(model, x, device, tokenizer):\n{body}\n    MARK(y)\n"

    def probe(ctx, node):
        return TensorOracle(ctx, ModelOracle(ctx)).location(node.args[0].value)

    assert at_marker(src, probe) == [expected]


def test_model_oracle_classification():
    src = """
    from transformers import AutoModel, AutoTokenizer, pipeline
    class C:
        def __init__(self):
            self.model = AutoModel.from_pretrained("m")
            self.pipe_like = pipeline("text-classification")
            self.tokenizer = AutoTokenizer.from_pretrained("m")
        def f(self, x):
            MARK(self.model, self.pipe_like, self.tokenizer, get_model, x)
    """
    def probe(ctx, node):
        oracle = ModelOracle(ctx)
        return [oracle.classify(a.value) for a in node.args]

    assert at_marker(src, probe) == [["model", "grad_free", None, None, None]]


# ----- device selection (TL102/TL103/TL502) ---------------------------------------------
from torchlint.analysis.devices import device_value_kinds, env_var_read  # noqa: E402
from torchlint.analysis.selections import DeviceSelections  # noqa: E402
from torchlint.analysis.shapes import DimNames  # noqa: E402


def _function_selection(source: str):
    module = cst.parse_module(textwrap.dedent(source))
    ctx = Context(module, "t.py")
    func = next(s for s in module.body if isinstance(s, cst.FunctionDef))
    return DeviceSelections(ctx).analyse(func)


@pytest.mark.parametrize(
    "expr, kinds",
    [
        ('"cuda:0"', {"cuda"}),
        ('torch.device("mps")', {"mps"}),
        ('"cuda" if c else "cpu"', {"cuda", "cpu"}),
        ('device or "cpu"', {"?", "cpu"}),
        ('"hello"', None),
        ("torch.float16", None),
    ],
)
def test_device_value_kinds(expr, kinds):
    imports = ImportMap(cst.parse_module("import torch\n"))
    assert device_value_kinds(cst.parse_expression(expr), imports) == kinds


def test_env_var_read_forms():
    imports = ImportMap(cst.parse_module("import os\n"))
    for expr in ('os.environ.get("FORCE_CPU")', 'os.getenv("FORCE_CPU", "0")', 'os.environ["FORCE_CPU"]',
                 '"FORCE_CPU" in os.environ'):
        assert env_var_read(cst.parse_expression(expr), imports) == "FORCE_CPU", expr
    assert env_var_read(cst.parse_expression('environ.get("X")'), imports) is None


def test_selection_facts():
    sel = _function_selection("""
        import os, torch
        def get_device():
            if os.environ.get("SKIP_MPS") != "1" and torch.backends.mps.is_available():
                return "mps"
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    """)
    assert sel.is_selector and sel.probes_mps and sel.has_cpu
    assert sel.override == "environment variable `SKIP_MPS`"
    assert sel.missing() == []


def test_unrelated_env_is_not_an_override():
    sel = _function_selection("""
        import os, torch
        def get_device(token=None):
            rank = os.environ.get("LOCAL_RANK", "0")
            return f"cuda:{rank}" if torch.cuda.is_available() else "cpu"
    """)
    assert sel.override is None
    assert sel.missing() == ["never considers MPS", "offers no override to force CPU / skip MPS"]


def test_a_copied_option_tested_for_none_is_an_override():
    sel = _function_selection("""
        import torch
        def pick(cmd):
            device = cmd.device
            if device is None:
                device = "cuda" if torch.cuda.is_available() else "cpu"
            return device
    """)
    assert sel.override == "setting `cmd.device`"
    assert sel.missing() == ["never considers MPS"]


def test_probe_without_selection_is_not_a_selector():
    sel = _function_selection("""
        import torch
        def warm():
            if torch.cuda.is_available():
                torch.cuda.synchronize()
    """)
    assert not sel.is_selector


# ----- documented shapes (TL703) ---------------------------------------------------------
def test_dim_names_parse_shapes_fuzzily():
    names = DimNames({"batch": ["b", "batch_size"], "heads": ["h", "num_heads"], "seq": ["t"], "head_dim": ["d"]})
    shapes = list(names.shapes_in("k: (B, H, T, D); mask (b, t) and [batch_size, num_heads, T, 64]", None))
    assert [s.dims for s in shapes] == [("batch", "heads", "seq", "head_dim"), ("batch", "heads", "seq", "64")]
    assert names.indexed_names("dim 3 (num_heads); ix 0: batch_size") == [(3, "heads"), (0, "batch")]
    assert names.names_in("b and t are lower case; B and T are dims") == ["batch", "seq"]
