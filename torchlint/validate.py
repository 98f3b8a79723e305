"""`torchlint validate`: run the reference engine on real hardware and check, at runtime, the
invariants the rules protect. Needs torch (the `engine` extra); the linter itself does not."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass
from typing import Callable

PASS, FAIL, SKIP = "pass", "fail", "skipped"


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
    from reference_engine.attention import select_backend
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

    def check(number: str, name: str, fn: Callable[[], tuple[str, str]]) -> None:
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
        if device.type != "cuda":
            ok = backend.name == "sdpa"
            return (PASS if ok else FAIL), f"{backend.name} on {device.type} ({backend.reason})"
        major, minor = torch.cuda.get_device_capability(device)
        allowed = {"sdpa"} | ({"fa2"} if major >= 8 else set()) | ({"fa3"} if major == 9 else set())
        ok = backend.name in allowed
        return (PASS if ok else FAIL), f"{backend.name} on capability {major}.{minor} ({backend.reason})"

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

    def loop_stays_responsive():
        """TL601: generation runs off the event loop, so a ticker on the loop keeps ticking."""
        async def probe():
            loop = asyncio.get_running_loop()
            runner = AsyncRunner(device=device)
            await runner.load()
            lags: list[float] = []
            done = asyncio.Event()

            async def ticker():
                while not done.is_set():
                    start = loop.time()
                    await asyncio.sleep(0.002)
                    lags.append(loop.time() - start - 0.002)

            task = asyncio.create_task(ticker())
            await asyncio.sleep(0.01)
            start = loop.time()
            await runner.generate("The quick brown fox", max_tokens=96, temperature=0.0)
            took = loop.time() - start
            done.set()
            await task
            await runner.unload()
            return max(lags), took

        worst, took = asyncio.run(probe())
        if took < 0.02:
            return PASS, f"generation took {took * 1000:.0f} ms: too short here to tell a stalled loop apart"
        ok = worst < took / 2
        return (PASS if ok else FAIL), (f"longest event-loop stall {worst * 1000:.0f} ms while a "
                                        f"{took * 1000:.0f} ms generation ran")

    def default_device_runs_here():
        """TL101: a runner given no device picks one this machine has."""
        async def cycle():
            runner = AsyncRunner()
            await runner.load()
            text = await runner.generate("Hi", max_tokens=2, temperature=0.0)
            chosen = runner.device
            await runner.unload()
            return chosen, text

        chosen, _ = asyncio.run(cycle())
        return PASS, f"AsyncRunner() with no device chose {chosen} and generated"

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

    check("1", "temperature 0 ignores the seed", greedy_ignores_seed)
    check("2", "temperature > 0 follows the seed", sampling_follows_seed)
    check("3", "KV cache matches full recomputation", kv_cache_matches)
    check("4", "no autograd graph during generation", no_autograd_graph)
    check("5", "to_device keeps integer dtypes", integers_stay_integer)
    check("6", "attention backend matches the hardware", backend_matches_hardware)
    check("7", "load -> unload -> load -> generate", lifecycle)
    check("7b", "unload returns reserved CUDA memory to baseline", memory_after_unload)
    check("8", "dtype fits the device", dtype_for_device)
    check("9", "the event loop keeps running during generation", loop_stays_responsive)
    check("10", "a runner given no device runs on this machine", default_device_runs_here)
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
