"""A tiny but real LLM inference engine written the way torchlint's rules ask.

It is the model answer reviewers can point at, and the ground truth for `torchlint validate`
and the mutation tests: torchlint finds nothing here, and exactly the injected defect in a
mutated copy.
"""

from reference_engine.device import get_device, get_dtype, get_optimal_device, to_device
from reference_engine.engine import Engine
from reference_engine.kv_cache import KVCache
from reference_engine.model import TinyConfig, TinyDecoder
from reference_engine.tokenizer import ByteTokenizer

__all__ = [
    "ByteTokenizer", "Engine", "KVCache", "TinyConfig", "TinyDecoder",
    "get_device", "get_dtype", "get_optimal_device", "to_device",
]
