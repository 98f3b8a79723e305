"""An async model runner: blocking work on one worker thread, a clean unload/reload lifecycle."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
from concurrent.futures import ThreadPoolExecutor

import torch

from reference_engine.attention import select_backend
from reference_engine.device import get_device, to_device
from reference_engine.engine import Engine
from reference_engine.model import TinyConfig, TinyDecoder
from reference_engine.tokenizer import ByteTokenizer

log = logging.getLogger(__name__)


def _new_executor() -> ThreadPoolExecutor:
    # One worker: the engine reuses its decode cache between calls, so two at once would
    # write into the same cache.
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference-engine")


class AsyncRunner:
    """`await load()`, `await generate(...)`, `await embed(...)`, `await unload()`, repeatably."""

    def __init__(self, config: TinyConfig = TinyConfig(), device: torch.device | None = None, attention: str = "auto"):
        self.config = config
        self.device = device or get_device()
        self.attention = attention  # "xformers" asks for xformers' attention where it works
        self.model: TinyDecoder | None = None
        self.engine: Engine | None = None
        self._executor = _new_executor()  # serial: generate() shares one engine

    def _load(self) -> None:
        self.model = TinyDecoder(self.config, backend=select_backend(self.device)).to(self.device)
        if self.attention == "xformers":
            try:
                self.model.enable_xformers_memory_efficient_attention()
            except (ImportError, ValueError) as exc:  # optional: no xformers here, or no CUDA GPU
                log.warning("xformers attention unavailable (%s): keeping %s", exc, self.model.backend.name)
        self.engine = Engine(self.model, ByteTokenizer(), device=self.device)

    async def load(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._load)

    def _generate(self, prompt: str, **kwargs) -> str:
        engine = self.engine
        assert engine is not None, "call load() first"
        tokens = engine.tokenizer.encode(prompt)
        results, _ = engine.generate_batch(tokens, num_samples=1, **kwargs)
        return engine.tokenizer.decode(results[0][len(tokens):])

    async def generate(self, prompt: str, **kwargs) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._generate, prompt, **kwargs))

    def _embed(self, text: str) -> list[float]:
        engine = self.engine
        assert engine is not None, "call load() first"
        ids = to_device(torch.tensor([engine.tokenizer.encode(text)]), engine.device)
        with torch.inference_mode():
            hidden = engine.model.hidden(ids).mean(dim=1)[0]
        return hidden.float().cpu().tolist()

    async def embed(self, text: str) -> list[float]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._embed, text)

    async def unload(self) -> None:
        """Drop the model, free accelerator caches, and leave the runner ready for load()."""
        self.engine = None
        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if hasattr(torch, "mps") and torch.backends.mps.is_available():
            torch.mps.empty_cache()
        # Queued work must not run against the freed model; a new executor serves the next load().
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = _new_executor()

    def __del__(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
