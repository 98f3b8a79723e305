"""What the reference engine proves at runtime, per rule: the names of `torchlint validate`'s
checks, and from reference_engine/mutations.py each rule's mutation, the check it fails, or the
reason no check can show it on a CPU. Read without importing the engine (that needs torch)."""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from types import ModuleType

PASS, FAIL, SKIP = "pass", "fail", "skipped"  # a check's status

CHECK_NAMES = {
    "1": "temperature 0 ignores the seed",
    "2": "temperature > 0 follows the seed",
    "3": "KV cache matches full recomputation",
    "4": "no autograd graph during generation",
    "5": "to_device keeps integer dtypes",
    "6": "attention backend matches the hardware and runs",
    "7": "load -> unload -> load -> generate",
    "7b": "unload returns reserved CUDA memory to baseline",
    "8": "dtype fits the device",
    "9": "the event loop keeps running during generation",
    "10": "a runner given no device runs on this machine",
    "11": "the KV cache has the layout kv_cache.py documents",
    "12": "requests keep the device found at load",
    "13": "concurrent requests answer as serial ones",
    "14": "the determinism tests fail on a seed-following engine",
    "15": "an optimization asked for falls back where it cannot run",
}


@lru_cache(maxsize=1)
def _mutations() -> ModuleType | None:
    spec = importlib.util.find_spec("reference_engine")  # finds the package without running it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "mutations.py"
    if not path.is_file():
        return None
    loader_spec = importlib.util.spec_from_file_location("_torchlint_engine_mutations", path)
    if loader_spec is None or loader_spec.loader is None:
        return None
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[loader_spec.name] = module  # dataclasses look their module up there
    loader_spec.loader.exec_module(module)
    return module


def proof_note(rule_id: str) -> str | None:
    """One paragraph for the rule's explain page: where its claim was proven, or why not here."""
    module = _mutations()
    found = [m for m in getattr(module, "MUTATIONS", ()) if m.rule == rule_id]
    if not found:
        return None
    m = found[0]
    head = (f"`torchlint validate --mutations` puts this rule's defect into a copy of the reference engine "
            f"(`reference_engine/{m.path}`: {m.why}).")
    if m.failing_check:
        where = "on a machine without CUDA (this project's CI CPU)" if m.only_without_cuda else "on a CPU"
        text = (f"{head} Proven {where}: validate check {m.failing_check} "
                f"({CHECK_NAMES.get(m.failing_check, '?')}) fails, and no other check does.")
    else:
        text = f"{head} Not shown on a CPU: {m.not_shown}."
    if m.cuda_check:
        text += f" On CUDA, check {m.cuda_check} ({CHECK_NAMES.get(m.cuda_check, '?')}) shows it."
    return text
