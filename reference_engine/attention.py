"""Attention backends, each gated on the hardware that supports it, with SDPA as the fallback.

- FlashAttention-3 (`kernels.get_kernel("varunneal/flash-attention-3")`): compute capability 9.x
  (Hopper) only. Blackwell (10.x, 12.x) is not in its build: "no kernel image is available".
- FlashAttention-2 (`flash_attn`): capability 8.0 or newer, and only if the package imports.
- PyTorch SDPA: everywhere else, and always on CPU/MPS.

`REFERENCE_ENGINE_ATTENTION=sdpa` (or `force_sdpa=True`) forces the fallback, e.g. for tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], torch.Tensor]


@dataclass(frozen=True)
class Backend:
    name: str  # "fa3", "fa2", "sdpa", or "xformers" when asked for
    attend: Attend
    reason: str


def _sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """q: (B, H, T, D); k, v: (B, H, S, D)."""
    t, s = q.size(2), k.size(2)
    if not causal or t == 1:
        return F.scaled_dot_product_attention(q, k, v)
    if t == s:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    # T new queries after S - T cached positions: query i sees keys 0 .. S - T + i.
    mask = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(diagonal=s - t)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _flash(fn) -> Attend:
    """Adapt a flash-attn style function ((B, T, H, D) layout) to (B, H, T, D)."""

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        out = fn(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), causal=causal)
        out = out[0] if isinstance(out, tuple) else out
        return out.transpose(1, 2)

    return attend


def _load_fa3() -> Attend | None:
    try:
        from kernels import get_kernel
    except ImportError:
        return None
    try:
        module = get_kernel("varunneal/flash-attention-3")
    except Exception:  # not cached locally / no network / no build for this torch
        return None
    return _flash(module.flash_attn_interface.flash_attn_func)


def _load_fa2() -> Attend | None:
    try:
        from flash_attn import flash_attn_func
    except ImportError:
        return None
    return _flash(flash_attn_func)


SDPA = Backend("sdpa", _sdpa, "PyTorch scaled_dot_product_attention")


def xformers_backend() -> Backend:
    """xformers' memory-efficient attention, asked for explicitly (ImportError without xformers)."""
    from xformers.ops import fmha, memory_efficient_attention

    def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        # bottom-right aligned causal mask: T new queries after S - T cached keys, as `_sdpa`
        bias = fmha.attn_bias.LowerTriangularFromBottomRightMask() if causal and q.size(2) > 1 else None
        out = memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_bias=bias)
        return out.transpose(1, 2)

    return Backend("xformers", attend, "xformers memory_efficient_attention (asked for)")


def select_backend(device: torch.device, force_sdpa: bool | None = None) -> Backend:
    """The fastest backend this device supports; SDPA when unsure."""
    if force_sdpa is None:
        force_sdpa = os.environ.get("REFERENCE_ENGINE_ATTENTION", "").lower() == "sdpa"
    if force_sdpa:
        return Backend("sdpa", _sdpa, "forced by REFERENCE_ENGINE_ATTENTION=sdpa / force_sdpa")
    if device.type != "cuda" or not torch.cuda.is_available():
        return Backend("sdpa", _sdpa, f"{device.type} device: SDPA")
    major, minor = torch.cuda.get_device_capability(device)
    if major == 9:
        fa3 = _load_fa3()
        if fa3 is not None:
            return Backend("fa3", fa3, f"capability {major}.{minor}: FlashAttention-3")
    if major >= 8:
        fa2 = _load_fa2()
        if fa2 is not None:
            return Backend("fa2", fa2, f"capability {major}.{minor}: FlashAttention-2")
    return Backend("sdpa", _sdpa, f"capability {major}.{minor}: no flash kernel available, SDPA")
