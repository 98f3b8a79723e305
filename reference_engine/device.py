"""Device and dtype selection: CUDA, then MPS, then CPU; detected once; integers never cast."""

from __future__ import annotations

import functools
import logging
import os

import torch

log = logging.getLogger(__name__)

_INTEGER_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.bool)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def get_optimal_device(force_cpu: bool | None = None, skip_mps: bool | None = None) -> torch.device:
    """Best available device. `TRANSFORMERS_FORCE_CPU` / `TRANSFORMERS_SKIP_MPS` (or the
    arguments) let a caller opt out of accelerators."""
    if force_cpu if force_cpu is not None else _env_flag("TRANSFORMERS_FORCE_CPU"):
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    skip = skip_mps if skip_mps is not None else _env_flag("TRANSFORMERS_SKIP_MPS")
    if not skip and torch.backends.mps.is_available():
        log.warning(
            "using MPS: temporary buffers are limited to 4 GB and float64 is unsupported; "
            "set TRANSFORMERS_SKIP_MPS=1 to use the CPU instead"
        )
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def get_device() -> torch.device:
    """The process-wide device, detected once."""
    return get_optimal_device()


def get_dtype(device: torch.device, force_float32: bool = False) -> torch.dtype:
    """float16 on CUDA/MPS (half the memory), float32 on CPU (fast and fully supported)."""
    if force_float32 or device.type == "cpu":
        return torch.float32
    return torch.float16


def to_device(tensor: torch.Tensor, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Move a tensor; apply `dtype` only to floating tensors (token IDs and masks stay integer)."""
    if tensor.dtype in _INTEGER_DTYPES or not tensor.is_floating_point():
        return tensor.to(device=device)
    return tensor.to(device=device, dtype=dtype or tensor.dtype)
