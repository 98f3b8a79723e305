"""`torchlint validate`'s checks of the async runner, the serving side of the reference engine:
each takes torch and the device, and answers (status, detail)."""

from __future__ import annotations

import asyncio

from torchlint.proofs import FAIL, PASS


def loop_stays_responsive(torch, device) -> tuple[str, str]:
    """TL601: generation runs off the event loop, so a ticker on the loop keeps ticking."""
    from reference_engine.runtime import AsyncRunner

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


def default_device_runs_here(torch, device) -> tuple[str, str]:
    """TL101: a runner given no device picks one this machine has."""
    from reference_engine.runtime import AsyncRunner

    async def cycle():
        runner = AsyncRunner()
        await runner.load()
        text = await runner.generate("Hi", max_tokens=2, temperature=0.0)
        chosen = runner.device
        await runner.unload()
        return chosen, text

    chosen, _ = asyncio.run(cycle())
    return PASS, f"AsyncRunner() with no device chose {chosen} and generated"


def device_detected_once(torch, device) -> tuple[str, str]:
    """TL103: requests use the device found at load, so a probe whose answer changes
    mid-run (a GPU hidden or lost, simulated by flipping `torch.cuda.is_available`) cannot
    send a request's tensors somewhere the model is not."""
    from reference_engine.runtime import AsyncRunner

    async def cycle():
        runner = AsyncRunner(device=device)
        await runner.load()
        real = torch.cuda.is_available
        flipped = not real()
        torch.cuda.is_available = lambda: flipped
        try:
            return len(await runner.embed("Hi")), flipped
        finally:
            torch.cuda.is_available = real
            await runner.unload()

    size, flipped = asyncio.run(cycle())
    return PASS, f"torch.cuda.is_available() flipped to {flipped} after load: embed still ran on {device} ({size} values)"


def concurrent_requests_match_serial(torch, device) -> tuple[str, str]:
    """TL602: a burst of requests through the runner answers as the same requests one by one
    (the engine's decode cache is per-call state: one worker must serve it)."""
    from reference_engine.runtime import AsyncRunner

    async def burst():
        runner = AsyncRunner(device=device)
        await runner.load()
        prompts = [f"request {i:02d}: the quick brown fox" for i in range(6)]
        serial = [await runner.generate(p, max_tokens=40, temperature=0.0) for p in prompts]
        together = await asyncio.gather(*(runner.generate(p, max_tokens=40, temperature=0.0) for p in prompts),
                                        return_exceptions=True)
        await runner.unload()
        errors = [f"{type(r).__name__}: {r}" for r in together if isinstance(r, Exception)]
        return sum(a != b for a, b in zip(serial, together)), errors, len(prompts)

    wrong, errors, n = asyncio.run(burst())
    detail = f"{n} concurrent requests: {wrong} answered differently than one by one"
    if errors:  # e.g. two calls advancing one cache past its end
        detail += f" ({len(errors)} raised, first: {errors[0]})"
    return (PASS if not wrong else FAIL), detail


def optimization_falls_back(torch, device) -> tuple[str, str]:
    """TL501: a runner asked for xformers attention loads and answers as the default one
    where xformers or a CUDA GPU is missing (and with it, where both are there)."""
    from reference_engine.runtime import AsyncRunner

    async def answers(attention: str) -> tuple[str, str]:
        runner = AsyncRunner(device=device, attention=attention)
        await runner.load()
        text, used = await runner.generate("Hi", max_tokens=8, temperature=0.0), runner.model.backend.name
        await runner.unload()
        return text, used

    (asked, used), (default, _) = asyncio.run(answers("xformers")), asyncio.run(answers("auto"))
    return (PASS if asked == default else FAIL), f"attention='xformers' loaded, used {used}, answered as the default"
