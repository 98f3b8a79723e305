"""`torchlint validate --mutations`: every mutation of the reference engine (one rule's defect
each, reference_engine/mutations.py) against every runtime check. A rule passes when its
mutation fails its own check and no other, or when it says why no check can show it on this
hardware and its mutation fails nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Row:
    rule: str
    expected: str | None  # the check that must fail, None: none can here
    failed: list[str]  # checks that failed under the mutation
    verdict: str  # "shown", "not shown here", or what went wrong
    detail: str
    ok: bool


def _validate(pythonpath: Path | None, device: str) -> tuple[dict[str, str] | None, str]:
    """Statuses by check number from a `validate` run in a fresh interpreter, or None and the
    error's last line when it could not run."""
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pythonpath), env.get("PYTHONPATH")]))
    run = subprocess.run([sys.executable, "-m", "torchlint", "validate", "--device", device, "--format", "json"],
                         capture_output=True, text=True, env=env, cwd=pythonpath or None, timeout=600)
    try:
        return {c["number"]: c["status"] for c in json.loads(run.stdout)["checks"]}, ""
    except (json.JSONDecodeError, KeyError):
        lines = (run.stderr or run.stdout).strip().splitlines()
        return None, lines[-1] if lines else f"exit {run.returncode}"


def run_matrix(device: str, jobs: int = 2) -> tuple[list[Row], dict[str, str]]:
    import torch

    from reference_engine import mutations

    engine = Path(mutations.__file__).resolve().parent
    has_cuda = torch.cuda.is_available()
    baseline, error = _validate(None, device)
    if baseline is None:
        raise RuntimeError(f"the unmutated engine does not validate: {error}")

    def one(mutation) -> Row:
        with tempfile.TemporaryDirectory(prefix="torchlint-mutation-") as tmp:
            mutations.apply(mutation, mutations.copy_engine(engine, Path(tmp)))
            statuses, error = _validate(Path(tmp), device)
        expected = mutation.cuda_check if device == "cuda" and mutation.cuda_check else mutation.failing_check
        if expected and mutation.only_without_cuda and has_cuda:
            expected = None
        reason = mutation.not_shown or ("shown only on a machine without CUDA" if mutation.only_without_cuda else "")
        if statuses is None:
            ok = expected is None and bool(reason)
            return Row(mutation.rule, expected, [], "not shown here" if ok else "could not run",
                       f"{reason} (the mutated engine does not start: {error})" if ok else error, ok)
        failed = sorted(n for n, s in statuses.items() if s == "fail" and baseline.get(n) != "fail")
        if expected is not None:
            ok = failed == [expected]
            verdict = "shown" if ok else "wrong checks"
            return Row(mutation.rule, expected, failed, verdict, mutation.why, ok)
        ok = not failed and bool(reason)
        return Row(mutation.rule, None, failed, "not shown here" if ok else "unexpected failure", reason, ok)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        rows = list(pool.map(one, mutations.MUTATIONS))
    return rows, baseline


def render(device: str, rows: list[Row], baseline: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"device": device, "baseline": baseline, "rules": [r.__dict__ for r in rows]}, indent=2) + "\n"
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    checks = sorted(baseline, key=lambda n: (int("".join(c for c in n if c.isdigit())), n))
    table = Table("Rule", *checks, "Verdict", "Why", title=f"torchlint validate --mutations on {device}")
    for r in rows:
        cells = []
        for n in checks:
            mark = "FAIL" if n in r.failed else ("-" if baseline[n] != "skipped" else "skip")
            style = "green" if n in r.failed and n == r.expected else ("red" if n in r.failed else "dim")
            cells.append(f"[{style}]{mark}[/]")
        table.add_row(r.rule, *cells, f"[{'green' if r.ok else 'red'}]{r.verdict}[/]", r.detail)
    buf = StringIO()
    Console(file=buf, width=200).print(table)
    return buf.getvalue()
