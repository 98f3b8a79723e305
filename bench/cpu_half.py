"""float16 against float32 decoding on this machine's CPU (a measurement, not a test).

TL201's claim is that forcing float16 where code can run on a CPU is a hazard. How it bites
depends on the CPU and the PyTorch build: some ops have no float16 kernel, others upcast, and
on CPUs with native half-precision arithmetic (AVX512-FP16, AMX) float16 can be faster. This
prints greedy-decoding tokens/s of the reference engine's decoder in both dtypes, so the
explain page can say what holds where.

    python bench/cpu_half.py [--dim 1024] [--layers 4] [--tokens 64]
"""

from __future__ import annotations

import argparse
import platform
import time

import torch

from reference_engine.model import TinyConfig, TinyDecoder


@torch.inference_mode()
def tokens_per_second(model: TinyDecoder, dtype: torch.dtype, tokens: int) -> float:
    model = model.to(dtype)
    ids = torch.tensor([[1, 2, 3, 4]])
    model(ids)  # warm-up
    start = time.perf_counter()
    for _ in range(tokens):
        logits = model(ids)[:, -1, :]
        ids = torch.cat([ids, logits.argmax(-1, keepdim=True)], dim=1)
    return tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = TinyDecoder(TinyConfig(dim=args.dim, n_layers=args.layers, n_heads=max(1, args.dim // 64)))
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, dim {args.dim}, {args.layers} layers")
    for dtype in (torch.float32, torch.float16, torch.bfloat16, torch.float32, torch.float16):
        try:
            rate = f"{tokens_per_second(model, dtype, args.tokens):.1f} tokens/s"
        except RuntimeError as exc:
            rate = f"fails: {str(exc).splitlines()[0]}"
        print(f"{str(dtype):15} {rate}")


if __name__ == "__main__":
    main()
