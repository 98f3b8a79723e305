"""KV-cache decoding versus full recomputation on the reference engine (a benchmark, not a test).

Prints tokens/s for both strategies at 32, 128 and 512 generated tokens, their ratio, and the
per-token cost of the last quarter of the run over the first quarter (about 1 means flat).

    python bench/engine_decode.py [--device cpu] [--lengths 32 128 512]
"""

from __future__ import annotations

import argparse
import time

import torch

from reference_engine import ByteTokenizer, Engine, TinyDecoder
from reference_engine.device import get_optimal_device, to_device


@torch.inference_mode()
def decode_cached(engine: Engine, prompt: list[int], n: int) -> list[float]:
    """Greedy decoding through the KV cache; returns the wall time of each step."""
    cache = engine.model.new_cache(1, len(prompt) + n)
    ids = to_device(torch.tensor([prompt]), engine.device)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        logits = engine.model(ids, kv_cache=cache)[:, -1, :]
        ids = logits.argmax(-1, keepdim=True)
        _sync(engine.device)
        times.append(time.perf_counter() - start)
    return times


@torch.inference_mode()
def decode_full(engine: Engine, prompt: list[int], n: int) -> list[float]:
    """Greedy decoding that recomputes the whole sequence every step (no cache)."""
    seq = to_device(torch.tensor([prompt]), engine.device)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        logits = engine.model(seq)[:, -1, :]
        seq = torch.cat([seq, logits.argmax(-1, keepdim=True)], dim=1)
        _sync(engine.device)
        times.append(time.perf_counter() - start)
    return times


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _flatness(times: list[float]) -> float:
    q = max(1, len(times) // 4)
    return (sum(times[-q:]) / q) / (sum(times[:q]) / q)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default=None)
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 128, 512])
    parser.add_argument("--prompt-len", type=int, default=16)
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else get_optimal_device()
    engine = Engine(TinyDecoder(), ByteTokenizer(), device=device)
    prompt = ByteTokenizer().encode("x" * (args.prompt_len - 1))
    decode_cached(engine, prompt, 8)  # warm-up
    decode_full(engine, prompt, 8)
    print(f"device={device} dtype={engine.dtype} threads={torch.get_num_threads()} prompt={len(prompt)} tokens")
    print(f"{'tokens':>6} {'cached tok/s':>13} {'full tok/s':>11} {'ratio':>6} {'cached last/first':>18} "
          f"{'full last/first':>16}")
    for n in args.lengths:
        cached, full = decode_cached(engine, prompt, n), decode_full(engine, prompt, n)
        c_tps, f_tps = n / sum(cached), n / sum(full)
        print(f"{n:>6} {c_tps:>13.1f} {f_tps:>11.1f} {c_tps / f_tps:>6.2f} {_flatness(cached):>18.2f} "
              f"{_flatness(full):>16.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
