"""The reference engine's behaviour on the local device (CPU in CI), and GPU checks that skip
with a reason where there is no GPU."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.conftest import ROOT, run_cli

torch = pytest.importorskip("torch", reason="the reference engine needs torch (the engine extra)")

from reference_engine import ByteTokenizer, Engine, KVCache, TinyDecoder, get_dtype, to_device  # noqa: E402
from reference_engine.attention import select_backend  # noqa: E402
from reference_engine.device import get_optimal_device  # noqa: E402
from reference_engine.runtime import AsyncRunner  # noqa: E402

CPU = torch.device("cpu")
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: no GPU on this machine")


def test_torchlint_finds_nothing_in_the_reference_engine():
    proc = run_cli("check", str(ROOT / "reference_engine"), "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == [], proc.stdout


def test_validate_cpu_passes():
    proc = run_cli("validate", "--device", "cpu", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    checks = {c["number"]: c for c in json.loads(proc.stdout)["checks"]}
    assert len(checks) == 16
    assert all(c["status"] == "pass" for n, c in checks.items() if n != "7b")
    assert checks["7b"]["status"] == "skipped" and "needs CUDA" in checks["7b"]["detail"]


@needs_cuda
def test_validate_cuda_passes():
    proc = run_cli("validate", "--device", "cuda", "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert all(c["status"] == "pass" for c in json.loads(proc.stdout)["checks"])


def test_validate_cuda_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = run_cli("validate", "--device", "cuda")
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr


def test_device_overrides(monkeypatch):
    monkeypatch.setenv("TRANSFORMERS_FORCE_CPU", "1")
    assert get_optimal_device() == CPU
    assert get_dtype(CPU) == torch.float32
    assert get_dtype(torch.device("cuda")) == torch.float16


def test_to_device_keeps_integers_and_casts_floats():
    ids = torch.tensor([[1, 2, 3]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    x = torch.ones(2, dtype=torch.float32)
    assert to_device(ids, CPU, torch.float16).dtype == torch.int64
    assert to_device(mask, CPU, torch.float16).dtype == torch.bool
    assert to_device(x, CPU, torch.float16).dtype == torch.float16


def test_kv_cache_shape_and_prefill():
    src = KVCache(2, 1, 4, 16, 8, CPU, torch.float32)
    assert tuple(src.kv.shape) == (2, 2, 1, 4, 16, 8)
    k = torch.randn(1, 4, 3, 8)
    src.insert(0, k, k + 1)
    src.insert(1, k, k + 1)
    src.advance(3)
    dst = KVCache(2, 5, 4, 16, 8, CPU, torch.float32)
    dst.prefill(src)
    assert dst.pos == 3 and torch.equal(dst.kv[0, 1, 4, :, :3], k[0] + 1)
    with pytest.raises(AssertionError):
        KVCache(2, 5, 2, 16, 8, CPU, torch.float32).prefill(src)  # num_heads differs


def test_kv_decoding_matches_full_recomputation():
    engine = Engine(TinyDecoder(), ByteTokenizer(), device=CPU)
    tokens = ByteTokenizer().encode("cache me")
    assert torch.allclose(engine.full_logits(tokens), engine.cached_logits(tokens), atol=1e-4)


def test_score_returns_python_floats():
    engine = Engine(TinyDecoder(), ByteTokenizer(), device=CPU)
    scores = engine.score(ByteTokenizer().encode("abc"))
    assert len(scores) == 3 and all(isinstance(s, float) and s <= 0 for s in scores)


def test_weights_load_from_a_local_file(tmp_path):
    model = TinyDecoder()
    path = tmp_path / "w.pt"
    torch.save(model.state_dict(), path)
    loaded = TinyDecoder.from_file(path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_backend_is_sdpa_on_cpu_and_when_forced():
    assert select_backend(CPU).name == "sdpa"
    assert select_backend(CPU, force_sdpa=True).reason.startswith("forced")


def test_runner_lifecycle_reloads_after_unload():
    async def cycle():
        runner = AsyncRunner(device=CPU)
        await runner.load()
        a = await runner.generate("x", max_tokens=3, temperature=0.0)
        await runner.unload()
        assert runner.engine is None
        await runner.load()
        b = await runner.generate("x", max_tokens=3, temperature=0.0)
        await runner.unload()
        return a, b

    a, b = asyncio.run(cycle())
    assert a == b


def test_python_m_reference_engine_reports_device_dtype_backend():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "reference_engine", "Hi", "--max-tokens", "4"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "device: " in proc.stdout and "dtype: " in proc.stdout and "attention: sdpa" in proc.stdout
