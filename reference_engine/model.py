"""A tiny decoder-only transformer: deterministic init from a seed, optional local weights."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from reference_engine.attention import SDPA, Backend, xformers_backend
from reference_engine.kv_cache import KVCache


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int = 258
    n_layers: int = 2
    n_heads: int = 4
    dim: int = 64
    max_seq_len: int = 1024
    init_seed: int = 1234
    init_std: float = 0.5

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads


class Block(nn.Module):
    def __init__(self, cfg: TinyConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads = cfg.n_heads
        self.norm1 = nn.LayerNorm(cfg.dim)
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)
        self.norm2 = nn.LayerNorm(cfg.dim)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, 4 * cfg.dim), nn.GELU(), nn.Linear(4 * cfg.dim, cfg.dim))

    def forward(self, x: torch.Tensor, backend: Backend, kv_cache: KVCache | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(d, dim=-1)
        # (B, T, D) -> (B, H, T, D/H)
        q, k, v = (z.view(b, t, self.n_heads, d // self.n_heads).transpose(1, 2) for z in (q, k, v))
        if kv_cache is not None:
            k, v = kv_cache.insert(self.layer, k, v)
        y = backend.attend(q, k, v, True)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.norm2(x))


class TinyDecoder(nn.Module):
    def __init__(self, cfg: TinyConfig = TinyConfig(), backend: Backend = SDPA):
        super().__init__()
        self.cfg = cfg
        self.backend = backend
        self.tok = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.pos = nn.Embedding(cfg.max_seq_len, cfg.dim)
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self._init(cfg.init_seed, cfg.init_std)

    @torch.no_grad()
    def _init(self, seed: int, std: float) -> None:
        g = torch.Generator().manual_seed(seed)
        for p in self.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * (std if p.dim() > 1 else 0.02))

    @classmethod
    def from_file(cls, path: str | Path, cfg: TinyConfig = TinyConfig()) -> "TinyDecoder":
        """Load weights from a local file (never downloads)."""
        model = cls(cfg)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return model

    def hidden(self, idx: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        """Final hidden states (B, T, D) for token IDs (B, T)."""
        start = kv_cache.pos if kv_cache is not None else 0
        positions = torch.arange(start, start + idx.size(1), device=idx.device)
        x = self.tok(idx) + self.pos(positions)
        for block in self.blocks:
            x = block(x, self.backend, kv_cache)
        if kv_cache is not None:
            kv_cache.advance(idx.size(1))
        return self.norm(x)

    def forward(self, idx: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        """Logits (B, T, vocab_size)."""
        return self.head(self.hidden(idx, kv_cache))

    def new_cache(self, batch_size: int, seq_len: int) -> KVCache:
        p = next(self.parameters())
        cfg = self.cfg
        return KVCache(cfg.n_layers, batch_size, cfg.n_heads, seq_len, cfg.head_dim, p.device, p.dtype)

    def enable_xformers_memory_efficient_attention(self) -> None:
        """Attend with xformers, on the contract diffusers gives this switch: ImportError without
        xformers, ValueError unless the model is on a CUDA GPU. Callers guard it (TL501)."""
        if next(self.parameters()).device.type != "cuda":
            raise ValueError("xformers' memory-efficient attention needs the model on a CUDA GPU")
        self.backend = xformers_backend()
