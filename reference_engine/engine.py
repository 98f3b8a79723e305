"""Generation: streaming `generate` and `generate_batch`, under inference mode, with a per-call
seeded `torch.Generator` (never the global RNG); temperature 0 is argmax."""

from __future__ import annotations

from typing import Iterator

import torch

from reference_engine.device import get_device, get_dtype, to_device
from reference_engine.kv_cache import KVCache
from reference_engine.model import TinyDecoder
from reference_engine.tokenizer import ByteTokenizer


def sample_next(
    logits: torch.Tensor, generator: torch.Generator, temperature: float, top_k: int | None
) -> torch.Tensor:
    """(B, V) logits -> (B, 1) token IDs."""
    if temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator)


class Engine:
    def __init__(
        self,
        model: TinyDecoder,
        tokenizer: ByteTokenizer,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ):
        self.device = device or get_device()
        self.dtype = dtype or get_dtype(self.device)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.tokenizer = tokenizer
        # The decode cache is kept between calls of the same shape (no reallocation per
        # request): per-call state, so one engine serves one call at a time (runtime.py's
        # single worker).
        self._decode_cache: tuple[tuple[int, int], KVCache] | None = None

    def _reusable_cache(self, batch_size: int, seq_len: int) -> KVCache:
        key = (batch_size, seq_len)
        if self._decode_cache is None or self._decode_cache[0] != key:
            self._decode_cache = (key, self.model.new_cache(batch_size, seq_len))
        cache = self._decode_cache[1]
        cache.reset()
        return cache

    @torch.inference_mode()
    def generate(
        self,
        tokens: list[int],
        num_samples: int = 1,
        max_tokens: int = 16,
        temperature: float = 1.0,
        top_k: int | None = None,
        seed: int = 42,
    ) -> Iterator[list[int]]:
        """Yield one token per sample per step: a list of `num_samples` IDs."""
        generator = torch.Generator(device=self.device).manual_seed(seed)
        input_ids = to_device(torch.tensor([tokens], dtype=torch.long), self.device)
        prompt_cache = self.model.new_cache(1, len(tokens) + max_tokens)
        logits = self.model(input_ids, kv_cache=prompt_cache)[:, -1, :]
        cache = self._reusable_cache(num_samples, len(tokens) + max_tokens)
        cache.prefill(prompt_cache)
        logits = logits.expand(num_samples, -1)
        for step in range(max_tokens):
            next_ids = sample_next(logits, generator, temperature, top_k)
            yield next_ids[:, 0].cpu().tolist()
            if step + 1 < max_tokens:
                logits = self.model(next_ids, kv_cache=cache)[:, -1, :]

    def generate_batch(
        self, tokens: list[int], num_samples: int = 1, max_tokens: int = 16, **kwargs
    ) -> tuple[list[list[int]], list[list[int]]]:
        """All samples at once: (token lists, masks), each sample stopping at EOS."""
        results = [list(tokens) for _ in range(num_samples)]
        masks = [[0] * len(tokens) for _ in range(num_samples)]
        done = [False] * num_samples
        for column in self.generate(tokens, num_samples, max_tokens, **kwargs):
            for i, token in enumerate(column):
                if done[i]:
                    continue
                if token == self.tokenizer.EOS:
                    done[i] = True
                    continue
                results[i].append(token)
                masks[i].append(1)
            if all(done):
                break
        return results, masks

    @torch.inference_mode()
    def score(self, tokens: list[int]) -> list[float]:
        """Log-probability of each token after the first, given the ones before it."""
        input_ids = to_device(torch.tensor([tokens], dtype=torch.long), self.device)
        logprobs = self.model(input_ids)[0, :-1].float().log_softmax(dim=-1)
        picked = logprobs.gather(1, input_ids[0, 1:].unsqueeze(-1)).squeeze(-1)
        return picked.cpu().tolist()

    @torch.inference_mode()
    def full_logits(self, tokens: list[int]) -> torch.Tensor:
        """Logits for every position by full recomputation (no cache), on the CPU."""
        ids = to_device(torch.tensor([tokens], dtype=torch.long), self.device)
        return self.model(ids)[0].float().cpu()

    @torch.inference_mode()
    def cached_logits(self, tokens: list[int]) -> torch.Tensor:
        """The same logits, computed one token at a time through the KV cache."""
        cache = self.model.new_cache(1, len(tokens))
        rows = []
        for token in tokens:
            ids = to_device(torch.tensor([[token]], dtype=torch.long), self.device)
            rows.append(self.model(ids, kv_cache=cache)[0, -1].float().cpu())
        return torch.stack(rows)
