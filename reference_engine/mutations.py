"""Mutations of the reference engine: each small edit introduces exactly one rule's defect.
Used by tests/engine/test_mutations.py (the linter must report exactly that rule at the mutated
lines) and by `torchlint validate --mutations` (the mutated engine must fail that rule's runtime
check, and no other, or the rule says why its defect cannot be shown on this hardware). Pure
data and a copy helper: no torch here."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

@dataclass(frozen=True)
class Mutation:
    rule: str
    path: str  # inside reference_engine/
    edits: tuple[tuple[str, str], ...]  # (old, new); line counts stay the same
    report_at: tuple[str, ...]  # text of each line (after the edit) that must be reported
    failing_check: str | None = None  # validate check that must fail at runtime
    why: str = ""
    not_shown: str = ""  # where failing_check is None: why no runtime check can show it on a CPU
    cuda_check: str | None = None  # validate check that fails under this mutation on a CUDA machine
    only_without_cuda: bool = False  # failing_check shows the defect only where CUDA is missing
    # failing_check's own words when this machine's hardware shows no cost (the check measures):
    # then the runtime half proves nothing here and is skipped, saying what was measured
    absent_here: str = ""


MUTATIONS = [
    Mutation(
        "TL002", "engine.py",
        (("        return picked.cpu().tolist()\n", "        return picked.cpu().tolist()  # noqa: TL302\n"),),
        ("return picked.cpu().tolist()  # noqa: TL302",),
        why="a directive for a finding that is no longer there hides the next one on that line",
        not_shown="a stale suppression comment changes nothing at runtime: lint-only",
    ),
    Mutation(
        "TL101", "runtime.py",
        (("        self.device = device or get_device()", '        self.device = device or torch.device("cuda")'),),
        ('self.device = device or torch.device("cuda")',),
        why="a CUDA-less machine fails as soon as no device is passed",
        failing_check="10", only_without_cuda=True,
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
        cuda_check="7b", not_shown="needs CUDA: check 7b compares torch.cuda.memory_reserved() after unload with the baseline",
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
        why="several workers run generate() on one engine at once, writing into its one reusable decode cache",
        failing_check="13",
    ),
    Mutation(
        "TL201", "engine.py",
        (("        self.model = model.to(device=self.device, dtype=self.dtype).eval()",
          "        self.model = model.half().to(device=self.device).eval()"),),
        ("self.model = model.half().to(device=self.device).eval()",),
        failing_check="8", why="float16 weights on CPU: slow, and some ops are missing",
        absent_here="float16 is not slower here",
    ),
    Mutation(
        "TL601", "runtime.py",
        (("        return await loop.run_in_executor(self._executor, functools.partial(self._generate, prompt, **kwargs))",
          "        return self._generate(prompt, **kwargs)"),),
        ("        return self._generate(prompt, **kwargs)",),
        why="generation on the event loop stalls every other request",
        failing_check="9",
    ),
    Mutation(
        "TL302", "engine.py",
        (("        return picked.cpu().tolist()", "        return picked.numpy().tolist()"),),
        ("return picked.numpy().tolist()",),
        why="`.numpy()` on a CUDA or MPS tensor raises TypeError",
        not_shown="`.numpy()` raises only on a CUDA/MPS tensor: on this CPU machine the scores come back unchanged",
    ),
    Mutation(
        "TL202", "device.py",
        (
            ("    if tensor.dtype in _INTEGER_DTYPES or not tensor.is_floating_point():\n"
             "        return tensor.to(device=device)\n"
             "    return tensor.to(device=device, dtype=dtype or tensor.dtype)",
             "    # (integer guard dropped: asking for a dtype casts every tensor to the device's)\n"
             "    # (callers that ask for none keep theirs: only those that ask break)\n"
             "    return tensor.to(device=device, dtype=get_dtype(device) if dtype else tensor.dtype)"),
        ),
        ("return tensor.to(device=device, dtype=get_dtype(device) if dtype else tensor.dtype)",),
        failing_check="5", why="token IDs cast to float break the embedding lookup",
    ),
    Mutation(
        "TL702", "attention.py",
        (("    if major == 9:\n        fa3 = _load_fa3()", "    if major >= 9:\n        fa3 = _load_fa3()"),),
        ('        module = get_kernel("varunneal/flash-attention-3")',),
        why="`major >= 9` admits Blackwell, where the FA3 build has no kernel image",
        not_shown="needs a GPU of compute capability 10.x (Blackwell), or check 6 with the capability override on CUDA",
    ),
    Mutation(
        "TL701", "tests/test_determinism.py",
        (("seed=42)", "seed=1)"), ("seed=123)", "seed=1)")),
        ("assert r1 == r2 == r3",),
        why="three calls with the same seed cannot show greedy decoding ignores it: the test passes on an engine whose greedy decoding follows the seed",
        failing_check="14",
    ),
    Mutation(
        "TL102", "device.py",
        (("    if not skip and torch.backends.mps.is_available():", "    if not skip and torch.cuda.device_count() > 1:"),
         ('        return torch.device("mps")', '        return torch.device("cuda:1")')),
        ("def get_optimal_device(",),
        why="without an MPS branch an Apple-silicon Mac runs on the CPU",
        not_shown="needs an Apple-silicon Mac: without the MPS branch the engine runs on its CPU; on this machine both versions pick the CPU",
    ),
    Mutation(
        "TL103", "runtime.py",
        (("        ids = to_device(torch.tensor([engine.tokenizer.encode(text)]), engine.device)",
          '        ids = to_device(torch.tensor([engine.tokenizer.encode(text)]), "cuda" if torch.cuda.is_available() else "cpu")'),),
        ('"cuda" if torch.cuda.is_available() else "cpu")',),
        why="each embed request detects the device again, which disagrees with the model's once the probe's answer changes",
        failing_check="12",
    ),
    Mutation(
        "TL401", "runtime.py",
        (("import gc\n", "import gc; from transformers import AutoModel\n"),
         ("        self.model = TinyDecoder(self.config, backend=select_backend(self.device)).to(self.device)",
          '        self.model = AutoModel.from_pretrained(self.config.name, dtype="auto", device_map="auto")')),
        ('device_map="auto")',),
        why='`device_map="auto"` ignores a device that may be CPU or MPS',
        not_shown="the mutation loads a transformers model: needs transformers and a checkpoint, not part of the engine extra",
    ),
    Mutation(
        "TL402", "runtime.py",
        (("import gc\n", "import gc; from transformers import AutoModel\n"),
         ("        self.model = TinyDecoder(self.config, backend=select_backend(self.device)).to(self.device)",
          "        self.model = AutoModel.from_pretrained(self.config.name).to(self.device)")),
        ("AutoModel.from_pretrained(self.config.name).to(self.device)",),
        why="float32 weights on an accelerator take twice the memory",
        not_shown="the mutation loads a transformers model: needs transformers and a checkpoint, not part of the engine extra",
    ),
    Mutation(
        "TL501", "runtime.py",
        (("            try:\n                self.model.enable_xformers_memory_efficient_attention()\n"
          "            except (ImportError, ValueError) as exc:  # optional: no xformers here, or no CUDA GPU\n"
          "                log.warning(\"xformers attention unavailable (%s): keeping %s\", exc, self.model.backend.name)",
          "            # (no try: a missing xformers or GPU now stops the load)\n"
          "            self.model.enable_xformers_memory_efficient_attention()\n"
          "            # (no except)\n"
          "            # (no fallback to the backend already selected)"),),
        ("            self.model.enable_xformers_memory_efficient_attention()",),
        why="asking for xformers attention stops the load on every machine without xformers and a CUDA GPU",
        failing_check="15",
    ),
    Mutation(
        "TL502", "engine.py",
        (("from reference_engine.tokenizer import ByteTokenizer",
          'from reference_engine.tokenizer import ByteTokenizer; DEFAULT_DEVICE = "mps" if torch.backends.mps.is_available() else "cpu"'),),
        ("DEFAULT_DEVICE = ",),
        why="MPS chosen with no way to skip it and no warning about its limits",
        not_shown="needs MPS (an Apple-silicon Mac)",
    ),
    Mutation(
        "TL703", "kv_cache.py",
        # The layout changes and every index follows it, so the engine still computes the same
        # thing: only the documented shape (docstring, comments) is now untrue.
        (("        self.kv = torch.zeros(\n            (num_layers, 2, batch_size,",
          "        self.kv = torch.zeros(\n            (num_layers, batch_size, 2,"),
         ("        self.kv[layer, 0, :, :, self.pos : end] = k\n        self.kv[layer, 1, :, :, self.pos : end] = v\n"
          "        return self.kv[layer, 0, :, :, :end], self.kv[layer, 1, :, :, :end]",
          "        self.kv[layer, :, 0, :, self.pos : end] = k\n        self.kv[layer, :, 1, :, self.pos : end] = v\n"
          "        return self.kv[layer, :, 0, :, :end], self.kv[layer, :, 1, :, :end]"),
         ("        for ix in (0, 1, 3, 5):", "        for ix in (0, 2, 3, 5):"),
         ("        assert other.kv.size(2) in (1, self.kv.size(2)),", "        assert other.kv.size(1) in (1, self.kv.size(1)),")),
        ("        self.kv = torch.zeros(",),
        failing_check="11", why="the allocation no longer has the documented (num_layers, 2, batch_size, ...) order",
    ),
]


def apply(mutation: Mutation, engine_dir: Path) -> str:
    """Apply `mutation` to a copy of the engine at `engine_dir` (its `reference_engine/`
    folder); returns the mutated file's text. Each anchor must occur exactly once and keep the
    line count, so findings before and after line up."""
    target = engine_dir / mutation.path
    text = target.read_text()
    for old, new in mutation.edits:
        if text.count(old) != 1:
            raise ValueError(f"{mutation.rule}: mutation anchor not found exactly once: {old!r}")
        if old.count("\n") != new.count("\n"):
            raise ValueError(f"{mutation.rule}: an edit must keep line numbers stable")
        text = text.replace(old, new)
    target.write_text(text)
    return text


def copy_engine(source: Path, destination: Path) -> Path:
    """A copy of the engine package (`source` is the `reference_engine/` folder) under
    `destination`; returns the copy's `reference_engine/` folder."""
    target = destination / "reference_engine"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target
