"""`torchlint validate`: run the reference engine on real hardware and check, at runtime, the
invariants the rules protect. Needs torch (the `engine` extra); the linter itself does not."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Callable

from torchlint import validate_runner as runner_checks
from torchlint.proofs import CHECK_NAMES, FAIL, PASS, SKIP


@dataclass
class Result:
    number: str
    name: str
    status: str
    detail: str


class ValidationError(Exception):
    """The requested device cannot be used (or torch is missing)."""


def setup_device(device_name: str | None):
    """torch and the device to validate on (the best available when none is named)."""
    try:
        import torch
    except ImportError:
        raise ValidationError("torch is not installed: pip install 'torchlint[engine]'") from None
    from reference_engine.device import get_optimal_device

    device = torch.device(device_name) if device_name else get_optimal_device()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValidationError("--device cuda: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValidationError("--device mps: MPS is not available on this machine")
    return torch, device


def run_checks(device_name: str | None = None) -> tuple[str, list[Result]]:
    torch, device = setup_device(device_name)
    from reference_engine.attention import SDPA, select_backend
    from reference_engine.device import get_dtype, to_device
    from reference_engine.engine import Engine
    from reference_engine.model import TinyConfig, TinyDecoder
    from reference_engine.runtime import AsyncRunner
    from reference_engine.tokenizer import ByteTokenizer

    tokenizer = ByteTokenizer()
    backend = select_backend(device, force_sdpa=False)
    engine = Engine(TinyDecoder(TinyConfig(), backend=backend), tokenizer, device=device)
    prompt = tokenizer.encode("The quick brown fox")
    results: list[Result] = []

    def check(number: str, fn: Callable[[], tuple[str, str]]) -> None:
        name = CHECK_NAMES[number]
        try:
            status, detail = fn()
        except Exception as exc:  # a crash is a failure of that check, not of the run
            status, detail = FAIL, f"{type(exc).__name__}: {exc}"
        results.append(Result(number, name, status, detail))

    def gen(seed: int, temperature: float) -> list[int]:
        out, _ = engine.generate_batch(prompt, num_samples=2, max_tokens=12, temperature=temperature, seed=seed,
                                       top_k=50)
        return out

    def greedy_ignores_seed():
        outs = [gen(s, 0.0) for s in (1, 42, 123)]
        ok = outs[0] == outs[1] == outs[2]
        return (PASS if ok else FAIL), "seeds 1, 42, 123 at temperature 0: " + ("equal" if ok else "differ")

    def sampling_follows_seed():
        a, b, c = gen(7, 1.0), gen(7, 1.0), gen(8, 1.0)
        ok = a == b and a != c
        return (PASS if ok else FAIL), f"same seed equal: {a == b}; different seeds differ: {a != c}"

    def kv_cache_matches():
        full, cached = engine.full_logits(prompt), engine.cached_logits(prompt)
        err = ((full - cached).abs().max() / full.abs().max().clamp(min=1.0)).item()
        weights = next(engine.model.parameters()).dtype  # what the arithmetic runs in
        tol = 1e-4 if weights == torch.float32 else 2e-2
        return (PASS if err <= tol else FAIL), f"max relative difference {err:.2e} (tolerance {tol:.0e}, {weights})"

    def no_autograd_graph():
        seen = []
        handle = engine.model.register_forward_hook(
            lambda mod, args, out: seen.append(out.requires_grad or out.grad_fn is not None)
        )
        try:
            gen(3, 0.7)
        finally:
            handle.remove()
        graphs = sum(seen)
        return (PASS if seen and not graphs else FAIL), f"{graphs} of {len(seen)} forward outputs carried a graph"

    def integers_stay_integer():
        ids = torch.tensor([prompt], dtype=torch.long)
        moved = to_device(ids, device, dtype=engine.dtype)
        with torch.inference_mode():
            engine.model.tok(moved)
        ok = moved.dtype == torch.long
        return (PASS if ok else FAIL), f"to_device(int64, dtype={engine.dtype}) -> {moved.dtype}; embedding accepted it"

    def backend_matches_hardware():
        """TL702: the selected kernel is one this hardware supports, and it runs here: its output
        matches PyTorch SDPA's on the same causal prefill and cached-decode shapes."""
        if device.type != "cuda":
            ok, where = backend.name == "sdpa", device.type
        else:
            major, minor = torch.cuda.get_device_capability(device)
            allowed = {"sdpa"} | ({"fa2"} if major >= 8 else set()) | ({"fa3"} if major == 9 else set())
            ok, where = backend.name in allowed, f"capability {major}.{minor}"
        g = torch.Generator().manual_seed(0)
        worst = 0.0
        for t, s in ((16, 16), (1, 17)):  # prefill, then one decode step over a cache
            q, k, v = (torch.randn(2, 4, n, 16, generator=g).to(device, engine.dtype) for n in (t, s, s))
            out, ref = backend.attend(q, k, v, True).float(), SDPA.attend(q, k, v, True).float()
            worst = max(worst, (out - ref).abs().max().item())
        tol = 1e-5 if engine.dtype == torch.float32 else 2e-2
        ok = ok and worst <= tol
        return (PASS if ok else FAIL), (f"{backend.name} on {where} ({backend.reason}); ran it: max difference "
                                        f"from SDPA {worst:.1e} (tolerance {tol:.0e})")

    def lifecycle():
        async def cycle():
            runner = AsyncRunner(device=device)
            await runner.load()
            first = await runner.generate("Hi", max_tokens=4, temperature=0.0)
            await runner.unload()
            await runner.load()
            second = await runner.generate("Hi", max_tokens=4, temperature=0.0)
            embedding = await runner.embed("Hi")
            await runner.unload()
            return first == second and len(embedding) == runner.config.dim

        ok = asyncio.run(cycle())
        return (PASS if ok else FAIL), "load -> generate -> unload -> load -> generate -> embed " + (
            "works" if ok else "gave different results")

    def memory_after_unload():
        """TL303: what the caching allocator keeps *reserved* after unload (`empty_cache()` gives
        reserved blocks back; `memory_allocated` drops either way, so it cannot tell)."""
        if device.type != "cuda":
            return SKIP, "skipped: needs CUDA (torch.cuda.memory_reserved)"

        async def cycle():
            runner = AsyncRunner(device=device)
            await runner.load()
            await runner.generate("Hi", max_tokens=4, temperature=0.0)
            loaded = torch.cuda.memory_reserved(device)
            await runner.unload()
            return loaded

        torch.cuda.synchronize(device)
        baseline = torch.cuda.memory_reserved(device)
        loaded = asyncio.run(cycle())
        after = torch.cuda.memory_reserved(device)
        ok = after <= baseline
        return (PASS if ok else FAIL), f"reserved: baseline {baseline} B, loaded {loaded} B, after unload {after} B"

    def cpu_tokens_per_second(dtype) -> float:
        """Forward throughput of a mid-sized decoder in `dtype` on this CPU (dim 512, 4 layers,
        128 tokens): big enough that the arithmetic, not Python, decides."""
        model = TinyDecoder(TinyConfig(dim=512, n_layers=4, n_heads=8), backend=backend).to(dtype=dtype).eval()
        ids = torch.randint(0, 258, (1, 128), generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            model(ids)  # warm-up
            start = time.perf_counter()
            for _ in range(3):
                model(ids)
            return 3 * 128 / (time.perf_counter() - start)

    def dtype_for_device():
        """TL201: the weights' dtype suits the device. On a CPU this is measured, not assumed:
        float16 is slower than float32 on most CPUs (no native fp16 arithmetic) but not all
        (AVX512-FP16 / AMX-FP16); the check fails only when it is slower here."""
        want = get_dtype(device)
        weights = next(engine.model.parameters()).dtype
        if device.type != "cpu":
            ok = engine.dtype == weights == want == torch.float16
            return (PASS if ok else FAIL), f"engine {engine.dtype}, weights {weights} on {device.type} (expected float16)"
        fp32, fp16 = cpu_tokens_per_second(torch.float32), cpu_tokens_per_second(torch.float16)
        measured = f"this CPU: float32 {fp32:.0f}, float16 {fp16:.0f} tokens/s (dim-512 forward)"
        if weights == torch.float32:
            return PASS, f"weights float32 on cpu; {measured}"
        if fp16 >= fp32:
            return PASS, f"weights {weights} on cpu, and float16 is not slower here; {measured}"
        return FAIL, f"weights {weights} on cpu run {fp32 / fp16:.1f}x slower than float32; {measured}"

    def kv_layout_documented():
        """TL703: the cache's allocation has the order kv_cache.py's docstring writes down."""
        import re

        from reference_engine import kv_cache

        documented = re.search(r"\(((?:\w+, )+\w+)\)", kv_cache.__doc__ or "")
        if documented is None:
            return FAIL, "kv_cache.py documents no shape"
        sizes = {"num_layers": 7, "batch_size": 3, "num_heads": 4, "seq_len": 5, "head_dim": 6}
        names = documented.group(1).split(", ")
        want = tuple(sizes.get(n, int(n) if n.isdigit() else -1) for n in names)
        got = tuple(kv_cache.KVCache(**sizes, device=device, dtype=engine.dtype).kv.shape)
        ok = got == want
        return (PASS if ok else FAIL), f"documented ({documented.group(1)}) = {want}; allocated {got}"

    def determinism_tests_bite():
        """TL701: the engine's determinism test fails on an engine whose greedy decoding follows
        the seed (a test that cannot fail proves nothing)."""
        try:
            from reference_engine.tests import test_determinism as suite
        except ImportError as exc:  # pytest is a test dependency, not the engine extra's
            return SKIP, f"skipped: the engine's tests need {exc.name}"

        class SeedFollowing(Engine):
            def generate(self, tokens, num_samples=1, max_tokens=16, temperature=1.0, top_k=None, seed=42):
                if temperature == 0.0:
                    temperature, top_k = 1.0, 5
                return super().generate(tokens, num_samples, max_tokens, temperature, top_k, seed)

        broken = SeedFollowing(TinyDecoder(TinyConfig()), tokenizer, device=device)
        try:
            suite.test_greedy_ignores_seed(broken, tokenizer.encode("Hello"))
        except AssertionError:
            return PASS, "test_greedy_ignores_seed fails on an engine whose greedy decoding follows the seed"
        return FAIL, "test_greedy_ignores_seed passes on an engine whose greedy decoding follows the seed"

    check("1", greedy_ignores_seed)
    check("2", sampling_follows_seed)
    check("3", kv_cache_matches)
    check("4", no_autograd_graph)
    check("5", integers_stay_integer)
    check("6", backend_matches_hardware)
    check("7", lifecycle)
    check("7b", memory_after_unload)
    check("8", dtype_for_device)
    check("9", lambda: runner_checks.loop_stays_responsive(torch, device))
    check("10", lambda: runner_checks.default_device_runs_here(torch, device))
    check("11", kv_layout_documented)
    check("12", lambda: runner_checks.device_detected_once(torch, device))
    check("13", lambda: runner_checks.concurrent_requests_match_serial(torch, device))
    check("14", determinism_tests_bite)
    check("15", lambda: runner_checks.optimization_falls_back(torch, device))
    name = str(device)
    if device.type == "cuda":
        name += f" ({torch.cuda.get_device_name(device)}, capability {'.'.join(map(str, torch.cuda.get_device_capability(device)))})"
    return name, results


def render(device: str, results: list[Result], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"device": device, "checks": [asdict(r) for r in results]}, indent=2) + "\n"
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table("#", "Check", "Status", "Detail", title=f"torchlint validate on {device}")
    colors = {PASS: "green", FAIL: "red", SKIP: "yellow"}
    for r in results:
        table.add_row(r.number, r.name, f"[{colors[r.status]}]{r.status}[/]", r.detail)
    buf = StringIO()
    Console(file=buf, width=140).print(table)
    return buf.getvalue()
