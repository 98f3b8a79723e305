"""Property-based fuzzing: random valid programs never crash a rule, and `--fix` output always
parses. Two sources: hypothesmith's grammar-generated Python, and programs composed from the
constructs the rules look at (model calls, conversions, device selection, executors, loads)."""

from __future__ import annotations

import dataclasses

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis comes with the dev extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torchlint.catalog import Catalog  # noqa: E402
from torchlint.checks import load_catalog  # noqa: E402
from torchlint.config import Config  # noqa: E402
from torchlint.fixing import fix_source  # noqa: E402
from torchlint.lint import Linter  # noqa: E402
from torchlint.lint.describe import parses  # noqa: E402
from torchlint.model import INTERNAL_ERROR  # noqa: E402

CATALOG = load_catalog()
LINTER = Linter(CATALOG, list(CATALOG), Config())
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def _check(code: str, path: str = "serve.py") -> None:
    data = code.encode("utf-8", errors="surrogatepass")
    result = LINTER.lint_source(path, data)
    crashes = [f.message for f in result.findings if f.rule == INTERNAL_ERROR]
    assert not crashes, crashes
    outcome = fix_source(LINTER, path, data, unsafe=True)
    if outcome.data != data:
        assert parses(outcome.data), outcome.data.decode(errors="replace")
        again = fix_source(LINTER, path, outcome.data, unsafe=True)
        assert parses(again.data)


try:
    import hypothesmith
except ImportError:  # pragma: no cover - hypothesmith is optional
    hypothesmith = None


@pytest.mark.skipif(hypothesmith is None, reason="hypothesmith is not installed")
@settings(max_examples=40, **SETTINGS)
@given(st.builds(lambda: None) if hypothesmith is None else hypothesmith.from_grammar())
def test_grammar_generated_programs(code):
    if not parses(code.encode("utf-8", errors="surrogatepass")):
        return  # the grammar also produces a few programs CPython rejects
    _check(code)


# ----- programs built from what the rules look at ---------------------------------------------

NAMES = st.sampled_from(["model", "self.model", "encoder", "net", "x", "out", "emb", "pipe", "self.pipe"])
EXPRS = st.one_of(
    NAMES,
    st.builds(lambda n: f"{n}(x)", NAMES),
    st.builds(lambda n: f"{n}(**inputs).logits", NAMES),
    st.builds(lambda n, m: f"{n}.{m}()", NAMES, st.sampled_from(["tolist", "numpy", "cpu", "cuda", "half",
                                                                   "float", "eval", "argmax"])),
    st.builds(lambda n, d: f"{n}.to({d})", NAMES, st.sampled_from(['"cuda"', "device", "self.device",
                                                                     "torch.float16", 'device, dtype=dtype'])),
    st.sampled_from([
        'torch.device("cuda" if torch.cuda.is_available() else "cpu")',
        "torch.tensor(ids, dtype=torch.float16)",
        "AutoModel.from_pretrained(path)",
        'AutoModel.from_pretrained(path, device_map="auto")',
        "ThreadPoolExecutor(max_workers=4)",
        "Llama(model_path=path)",
        "get_kernel('kernels-community/flash-attn')",
        "torch.compile(model)",
        "os.environ.get('DEVICE', 'cuda')",
        "input_ids.to(device, dtype=torch.float16)",
    ]),
)
STATEMENTS = st.one_of(
    st.builds(lambda e: f"out = {e}", EXPRS),
    st.builds(lambda e: f"return {e}", EXPRS),
    st.builds(lambda e: f"self.model = {e}", EXPRS),
    st.sampled_from([
        "self.model = None", "del self.model", "torch.cuda.empty_cache()", "gc.collect()",
        "self._executor.shutdown(wait=False)", "self._executor.shutdown()", "await asyncio.sleep(0)",
        "model.eval()", "loss.backward()", "pass", "x = x + 1  # noqa: TL301",
        "assert out == out2", "torch.manual_seed(0)", "pipe.enable_model_cpu_offload()",
        "# KV cache: (batch, heads, seq, dim)", "k = self.k.size(4)",
    ]),
)
WRAPPERS = st.sampled_from(["", "with torch.inference_mode():", "with torch.no_grad():",
                            "if torch.cuda.is_available():", "try:", "for i in range(3):"])


@st.composite
def functions(draw):
    name = draw(st.sampled_from(["predict", "generate", "unload", "load", "embed", "test_seed", "forward",
                                 "close", "__init__", "helper"]))
    asynchronous = draw(st.booleans())
    decorator = draw(st.sampled_from(["", "@torch.inference_mode()", "@app.post('/x')", "@staticmethod"]))
    body = draw(st.lists(STATEMENTS, min_size=1, max_size=6))
    wrap = draw(WRAPPERS)
    lines = [decorator] if decorator else []
    lines.append(f"{'async ' if asynchronous else ''}def {name}(self, x, inputs, device, path, ids):")
    if wrap:
        lines.append(f"    {wrap}")
        lines += [f"        {s}" for s in body]
        if wrap == "try:":
            lines.append("    except Exception:\n        pass")
    else:
        lines += [f"    {s}" for s in body]
    return "\n".join(line for line in lines)


@st.composite
def modules(draw):
    header = ("import asyncio\nimport gc\nimport os\nimport torch\nfrom concurrent.futures import "
              "ThreadPoolExecutor\nfrom transformers import AutoModel\n")
    funcs = draw(st.lists(functions(), min_size=1, max_size=4))
    if draw(st.booleans()):
        body = "\n\n".join("\n".join("    " + line for line in f.splitlines()) for f in funcs)
        return header + "\n\nclass Engine:\n" + body + "\n"
    return header + "\n\n" + "\n\n\n".join(funcs) + "\n"


@settings(max_examples=150, **SETTINGS)
@given(modules(), st.sampled_from(["serve.py", "tests/test_engine.py", "train.py"]))
def test_composed_inference_programs(code, path):
    if not parses(code.encode()):
        return  # e.g. `await` outside async def, `return` at class level
    _check(code, path)


# A prefilter, and a check's `admits` test, must hold for every finding its rule can make: they
# decide which files are never parsed. The same programs linted with every prefilter and
# admission test switched off give the same findings.
_UNFILTERED_CATALOG = Catalog([dataclasses.replace(r, prefilter="" if r.prefilter else None) for r in CATALOG])


class _AdmitsAll(Linter):
    def _admits(self, rule, data):
        return True


UNFILTERED = _AdmitsAll(_UNFILTERED_CATALOG, list(_UNFILTERED_CATALOG), Config())


@settings(max_examples=150, **SETTINGS)
@given(modules(), st.sampled_from(["serve.py", "tests/test_engine.py", "kv_cache.py"]))
def test_prefilters_never_hide_a_finding(code, path):
    data = code.encode()
    if not parses(data):
        return
    assert LINTER.lint_source(path, data).findings == UNFILTERED.lint_source(path, data).findings
