"""Mutation proofs: a small edit to a copy of the reference engine introduces exactly one
rule's defect; torchlint must report exactly that rule at the mutated lines and nothing else
new, and where the defect has a runtime cost, the mutated engine fails the matching
`torchlint validate` check."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

import pytest

from tests.conftest import ROOT, run_cli
from torchlint.checks import load_catalog
from torchlint.config import Config
from torchlint.lint import Linter
from torchlint.session import run


@dataclass(frozen=True)
class Mutation:
    rule: str
    path: str  # inside reference_engine/
    edits: tuple[tuple[str, str], ...]  # (old, new); line counts stay the same
    report_at: tuple[str, ...]  # text of each line (after the edit) that must be reported
    failing_check: str | None = None  # validate check that must fail at runtime
    why: str = ""


MUTATIONS = [
    Mutation(
        "TL002", "engine.py",
        (("        return picked.cpu().tolist()\n", "        return picked.cpu().tolist()  # noqa: TL302\n"),),
        ("return picked.cpu().tolist()  # noqa: TL302",),
        why="a directive for a finding that is no longer there hides the next one on that line",
    ),
    Mutation(
        "TL101", "runtime.py",
        (("        self.device = device or get_device()", '        self.device = device or torch.device("cuda")'),),
        ('self.device = device or torch.device("cuda")',),
        why="a CUDA-less machine fails as soon as no device is passed",
    ),
    Mutation(
        "TL301", "engine.py",
        (("    @torch.inference_mode()\n    def generate(", "    # (inference mode dropped)\n    def generate("),),
        ("logits = self.model(input_ids, kv_cache=prompt_cache)", "logits = self.model(next_ids, kv_cache=cache)"),
        failing_check="4", why="generation without inference mode builds an autograd graph",
    ),
    Mutation(
        "TL303", "runtime.py",
        (("            torch.cuda.empty_cache()\n", "            pass  # (CUDA cache no longer cleared)\n"),),
        ("        self.model = None",),
        why="without empty_cache the freed weights stay reserved by the caching allocator",
    ),
    Mutation(
        "TL603", "runtime.py",
        (("        self._executor = _new_executor()\n\n    def __del__", "        pass  # (executor not recreated)\n\n    def __del__"),),
        ("self._executor.shutdown(wait=True, cancel_futures=True)",),
        failing_check="7", why="a reload after unload cannot schedule work on a shut-down executor",
    ),
    Mutation(
        "TL602", "runtime.py",
        (("    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=", "    return ThreadPoolExecutor(max_workers=4, thread_name_prefix="),),
        ("self._executor = _new_executor()  # serial",),
        why="several workers would run generate() on one shared engine at once",
    ),
    Mutation(
        "TL201", "engine.py",
        (("        self.model = model.to(device=self.device, dtype=self.dtype).eval()",
          "        self.model = model.half().to(device=self.device).eval()"),),
        ("self.model = model.half().to(device=self.device).eval()",),
        failing_check="8", why="float16 weights on CPU: slow, and some ops are missing",
    ),
    Mutation(
        "TL601", "runtime.py",
        (("        return await loop.run_in_executor(self._executor, functools.partial(self._generate, prompt, **kwargs))",
          "        return self._generate(prompt, **kwargs)"),),
        ("        return self._generate(prompt, **kwargs)",),
        why="generation on the event loop stalls every other request",
    ),
    Mutation(
        "TL302", "engine.py",
        (("        return picked.cpu().tolist()", "        return picked.tolist()"),),
        ("return picked.tolist()",),
        why="`.tolist()` on a device tensor syncs (and `.numpy()` would raise)",
    ),
    Mutation(
        "TL202", "device.py",
        (
            ("    if tensor.dtype in _INTEGER_DTYPES or not tensor.is_floating_point():\n"
             "        return tensor.to(device=device)\n"
             "    return tensor.to(device=device, dtype=dtype or tensor.dtype)",
             "    # (integer guard dropped)\n"
             "    # (every tensor gets the device dtype)\n"
             "    return tensor.to(device=device, dtype=dtype or get_dtype(device))"),
        ),
        ("return tensor.to(device=device, dtype=dtype or get_dtype(device))",),
        failing_check="5", why="token IDs cast to float break the embedding lookup",
    ),
    Mutation(
        "TL702", "attention.py",
        (("    if major == 9:\n        fa3 = _load_fa3()", "    if major >= 9:\n        fa3 = _load_fa3()"),),
        ('        module = get_kernel("varunneal/flash-attention-3")',),
        why="`major >= 9` admits Blackwell, where the FA3 build has no kernel image",
    ),
    Mutation(
        "TL701", "tests/test_determinism.py",
        (("seed=42)", "seed=1)"), ("seed=123)", "seed=1)")),
        ("assert r1 == r2 == r3",),
        why="three calls with the same seed cannot show greedy decoding ignores it",
    ),
    Mutation(
        "TL102", "device.py",
        (("    if not skip and torch.backends.mps.is_available():", "    if not skip and torch.cuda.device_count() > 1:"),
         ('        return torch.device("mps")', '        return torch.device("cuda:1")')),
        ("def get_optimal_device(",),
        why="without an MPS branch an Apple-silicon Mac runs on the CPU",
    ),
    Mutation(
        "TL103", "runtime.py",
        (("        ids = to_device(torch.tensor([engine.tokenizer.encode(text)]), engine.device)",
          '        ids = to_device(torch.tensor([engine.tokenizer.encode(text)]), "cuda" if torch.cuda.is_available() else "cpu")'),),
        ('"cuda" if torch.cuda.is_available() else "cpu")',),
        why="each embed request picks its own device, which can disagree with the model's",
    ),
    Mutation(
        "TL401", "runtime.py",
        (("import gc\n", "import gc; from transformers import AutoModel\n"),
         ("        self.model = TinyDecoder(self.config, backend=select_backend(self.device)).to(self.device)",
          '        self.model = AutoModel.from_pretrained(self.config.name, dtype="auto", device_map="auto")')),
        ('device_map="auto")',),
        why='`device_map="auto"` ignores a device that may be CPU or MPS',
    ),
    Mutation(
        "TL402", "runtime.py",
        (("import gc\n", "import gc; from transformers import AutoModel\n"),
         ("        self.model = TinyDecoder(self.config, backend=select_backend(self.device)).to(self.device)",
          "        self.model = AutoModel.from_pretrained(self.config.name).to(self.device)")),
        ("AutoModel.from_pretrained(self.config.name).to(self.device)",),
        why="float32 weights on an accelerator take twice the memory",
    ),
    Mutation(
        "TL501", "runtime.py",
        (("        self.engine = Engine(self.model, ByteTokenizer(), device=self.device)",
          "        self.engine = Engine(self.model, ByteTokenizer(), device=self.device); "
          "self.model.enable_xformers_memory_efficient_attention()"),),
        ("self.model.enable_xformers_memory_efficient_attention()",),
        why="raises on every machine without xformers and CUDA",
    ),
    Mutation(
        "TL502", "engine.py",
        (("from reference_engine.tokenizer import ByteTokenizer",
          'from reference_engine.tokenizer import ByteTokenizer; DEFAULT_DEVICE = "mps" if torch.backends.mps.is_available() else "cpu"'),),
        ("DEFAULT_DEVICE = ",),
        why="MPS chosen with no way to skip it and no warning about its limits",
    ),
    Mutation(
        "TL703", "kv_cache.py",
        (("        self.kv = torch.zeros(\n            (num_layers, 2, batch_size,",
          "        self.kv = torch.zeros(\n            (num_layers, batch_size, 2,"),),
        ("        self.kv = torch.zeros(",),
        failing_check="3", why="the allocation no longer has the documented (num_layers, 2, batch_size, ...) order",
    ),
]


def _findings(root) -> set[tuple[str, str, int]]:
    catalog = load_catalog()
    linter = Linter(catalog, list(catalog), Config(root=root))
    return {(f.path.split("reference_engine/", 1)[1], f.rule, f.line) for f in run(linter, [str(root / "reference_engine")]).findings}


def test_every_catalog_rule_has_a_mutation():
    covered = {m.rule for m in MUTATIONS}
    missing = sorted(r.id for r in load_catalog() if not r.infrastructure and r.id not in covered)
    assert not missing, f"rules without a mutation of the reference engine: {missing}"


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.rule)
def test_mutation_is_reported_exactly(mutation, tmp_path):
    shutil.copytree(ROOT / "reference_engine", tmp_path / "reference_engine",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "reference_engine" / mutation.path
    baseline = _findings(tmp_path)
    text = target.read_text()
    for old, new in mutation.edits:
        assert text.count(old) == 1, f"mutation anchor not found exactly once: {old!r}"
        assert old.count("\n") == new.count("\n"), "edits keep line numbers stable"
        text = text.replace(old, new)
    target.write_text(text)
    lines = text.splitlines()
    expected = set()
    for snippet in mutation.report_at:
        hits = [i + 1 for i, line in enumerate(lines) if snippet in line]
        assert len(hits) == 1, f"{snippet!r} must identify one line, found {hits}"
        expected.add((mutation.path, mutation.rule, hits[0]))
    new = _findings(tmp_path) - baseline
    assert new == expected, f"{mutation.why}\nexpected {sorted(expected)}\ngot {sorted(new)}"

    if mutation.failing_check:
        pytest.importorskip("torch", reason="runtime half of the proof needs torch")
        proc = run_cli("validate", "--device", "cpu", "--format", "json", cwd=tmp_path,
                       env={"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))})
        assert proc.returncode == 1, proc.stdout + proc.stderr
        status = {c["number"]: c["status"] for c in json.loads(proc.stdout)["checks"]}
        assert status[mutation.failing_check] == "fail", f"{mutation.why}: {status}"
