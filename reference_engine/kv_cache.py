"""Key/value cache for incremental decoding.

Shape, written down once and asserted where it matters:

    (num_layers, 2, batch_size, num_heads, seq_len, head_dim)

Index 1 is the fixed K/V pair (0 = keys, 1 = values; always size 2). `pos` is how many
positions along seq_len are filled.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_heads: int,
        seq_len: int,
        head_dim: int,
        device: torch.device,
        dtype: torch.dtype,
    ):
        # (num_layers, 2, batch_size, num_heads, seq_len, head_dim)
        self.kv = torch.zeros(
            (num_layers, 2, batch_size, num_heads, seq_len, head_dim), device=device, dtype=dtype
        )
        self.pos = 0

    @property
    def num_layers(self) -> int:
        return self.kv.size(0)

    @property
    def capacity(self) -> int:
        return self.kv.size(4)

    def reset(self) -> None:
        self.pos = 0

    def insert(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v of shape (batch_size, num_heads, T, head_dim) at `pos`; return all keys and
        values so far. The caller advances `pos` once every layer has inserted."""
        t = k.size(2)
        end = self.pos + t
        assert end <= self.capacity, f"KV cache full: {end} > {self.capacity}"
        self.kv[layer, 0, :, :, self.pos : end] = k
        self.kv[layer, 1, :, :, self.pos : end] = v
        return self.kv[layer, 0, :, :, :end], self.kv[layer, 1, :, :, :end]

    def advance(self, t: int) -> None:
        self.pos += t

    def prefill(self, other: "KVCache") -> None:
        """Copy another cache's filled positions, broadcasting its batch (e.g. 1 prompt -> N samples)."""
        # Dims 0 (num_layers), 3 (num_heads) and 5 (head_dim) must match; dim 1 is the fixed
        # K/V pair (size 2 in both); dim 2 (batch_size) broadcasts; dim 4 (seq_len) must fit.
        for ix in (0, 1, 3, 5):
            assert self.kv.size(ix) == other.kv.size(ix), f"dim {ix}: {self.kv.size(ix)} != {other.kv.size(ix)}"
        assert other.kv.size(2) in (1, self.kv.size(2)), "batch_size must match or be 1"
        assert other.pos <= self.capacity, "seq_len of the source exceeds this cache"
        self.kv[:, :, :, :, : other.pos] = other.kv[:, :, :, :, : other.pos]
        self.pos = other.pos
