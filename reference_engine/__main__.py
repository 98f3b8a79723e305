"""`python -m reference_engine [PROMPT]`: generate on the best local device and say how."""

from __future__ import annotations

import argparse

from reference_engine.attention import select_backend
from reference_engine.device import get_device
from reference_engine.engine import Engine
from reference_engine.model import TinyConfig, TinyDecoder
from reference_engine.tokenizer import ByteTokenizer


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_engine")
    parser.add_argument("prompt", nargs="?", default="Hello")
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--weights", help="local state_dict file (nothing is downloaded)")
    args = parser.parse_args()

    device = get_device()
    backend = select_backend(device)
    cfg = TinyConfig()
    model = TinyDecoder.from_file(args.weights, cfg) if args.weights else TinyDecoder(cfg)
    model.backend = backend
    tokenizer = ByteTokenizer()
    engine = Engine(model, tokenizer, device=device)
    tokens = tokenizer.encode(args.prompt)
    results, _ = engine.generate_batch(
        tokens, max_tokens=args.max_tokens, temperature=args.temperature, seed=args.seed
    )
    generated = results[0][len(tokens):]
    print(f"device: {engine.device}  dtype: {engine.dtype}  attention: {backend.name} ({backend.reason})")
    print(f"prompt: {args.prompt!r}")
    print(f"tokens: {generated}")
    print(f"text:   {tokenizer.decode(generated)!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
