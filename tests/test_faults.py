"""Faults injected into real runs (issue 18): a worker process that dies, and what the run
keeps. Each test drives the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

BAD = "import torch\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n"


def _big_module(path: Path, size: int) -> None:
    """Valid Python that libcst needs well over a gigabyte to parse."""
    with open(path, "w") as fh:
        fh.write(BAD + "\n")
        i = 0
        while fh.tell() < size:
            fh.write(f"def f{i}(a, b):\n    c = torch.zeros(a, b).cuda()\n    return [c[k] + k for k in range(a)]\n\n")
            i += 1


def _limited(limit_mb: int, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The CLI with its address space (each process's) capped at `limit_mb`."""
    limit = limit_mb * 1024 * 1024

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "torchlint", *args], cwd=cwd, env=env, preexec_fn=cap,
                          capture_output=True, text=True)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS caps the address space only on Linux")
def test_a_worker_killed_for_memory_costs_only_its_file(tmp_path):
    """libcst's native parser aborts when an allocation fails: the pool breaks. The files the
    pool had not finished run one process each; the file that kills its process is TL001 with
    the cause, and every other file's findings are kept (before: exit 134, empty stdout)."""
    for i in range(30):
        (tmp_path / f"f{i:02}.py").write_text(BAD)
    _big_module(tmp_path / "big.py", 3_000_000)
    proc = _limited(1500, "check", "--no-cache", "-j", "2", "--max-file-size", "0", "--format", "json", ".",
                    cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    found = json.loads(proc.stdout)
    by_file: dict[str, set[str]] = {}
    for f in found:
        by_file.setdefault(f["path"], set()).add(f["rule"])
    assert by_file.pop("big.py") == {"TL001"}
    assert by_file == {f"f{i:02}.py": {"TL301", "TL302"} for i in range(30)}
    crash = next(f for f in found if f["path"] == "big.py")
    assert crash["message"].startswith("torchlint's worker process died on this file, killed by SIG")
    assert "a worker process died" in proc.stderr


DAMAGE = [
    "{}", "[1]", '{"a": 1}', "null", '"text"', "{\"findings\": [1], \"facts\": {}}",
    '{"findings": [{"path": "x.py", "line": 1, "column": 1, "end_line": 1, "end_column": 2, "rule": "TL101", '
    '"name": "n", "severity": "bogus", "message": "m"}], "facts": {}}',
    '{"findings": [], "facts": {"lookup:x|y": 5}}',
    '{"version": 8, "summary": {"functions": 5}, "problem": null, "compiled": true, "tables": []}',
    '{"version": 8, "summary": null, "problem": [1], "compiled": true, "tables": [[1, 2]]}',
    "\x00\xff not json",
]


@pytest.mark.parametrize("damage", range(len(DAMAGE)))
def test_every_damaged_cache_entry_is_a_miss_and_is_rewritten(tmp_path, damage):
    """Valid JSON of the wrong shape (and invalid JSON) in any findings or summary entry: the
    run's findings equal a cold run's, no traceback, and the entry is written again."""
    (tmp_path / "serve.py").write_text(BAD)
    (tmp_path / "helpers.py").write_text("import torch\n\ndef pick():\n    return torch.device('cuda')\n")
    cold = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--format", "json", "."],
                          cwd=tmp_path, capture_output=True, text=True)
    first = subprocess.run([sys.executable, "-m", "torchlint", "check", "--format", "json", "."],
                           cwd=tmp_path, capture_output=True, text=True)
    assert json.loads(first.stdout) == json.loads(cold.stdout) != []
    entries = [p for p in (tmp_path / ".torchlint_cache").rglob("*.json")]
    assert len(entries) >= 4  # two findings entries, two summaries
    for entry in entries:
        entry.write_bytes(DAMAGE[damage].encode("utf-8", "surrogateescape"))
    again = subprocess.run([sys.executable, "-m", "torchlint", "check", "--format", "json", "."],
                           cwd=tmp_path, capture_output=True, text=True)
    assert "Traceback" not in again.stderr, again.stderr
    assert json.loads(again.stdout) == json.loads(cold.stdout)
    assert all(p.read_text() != DAMAGE[damage] for p in entries)  # rewritten


def test_stale_cache_folders_are_pruned_and_recent_ones_kept(tmp_path):
    (tmp_path / "serve.py").write_text(BAD)
    cache = tmp_path / ".torchlint_cache"
    old, recent, other = cache / ("a" * 20), cache / ("b" * 20), cache / "notes"
    for folder in (old, recent, other):
        (folder / "ab").mkdir(parents=True)
        (folder / "ab" / "entry.json").write_text("{}")
    month_ago = time.time() - 30 * 86400
    for folder in (old, other):
        os.utime(folder, (month_ago, month_ago))
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "."], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 1, proc.stderr
    assert not old.exists() and recent.exists() and other.exists()  # only folders torchlint names
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 4  # this run's two, `recent`, `notes`


@pytest.mark.parametrize("config, words", [
    ("[tool]\ntorchlint = 5\n", "[tool].torchlint must be a table"),
    ('tool = "torchlint"\n', "`tool` must be a table"),
    ('[tool.torchlint.roles]\n"a.py" = [1]\n', "roles.'a.py': expected a role name"),
    ("[tool.torchlint.params.TL101]\ndevice_keywords = [1, 2]\n", "params.TL101.device_keywords[0]: expected str"),
    ("[tool.torchlint.params.TL703]\ndim_names = {batch = [1]}\n", "params.TL703.dim_names.batch[0]: expected str"),
])
def test_config_type_errors_exit_2_naming_the_key(tmp_path, config, words):
    (tmp_path / "a.py").write_text("import torch\nx = torch.device('cuda')\n")
    (tmp_path / "pyproject.toml").write_text(config)
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "a.py"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


_COOKBOOK = Path(__file__).resolve().parents[1] / "examples" / "custom-rules" / "ACME001-torch-load-without-weights-only.yaml"


def _user_rule(tmp_path: Path, text: str) -> Path:
    rules = tmp_path / "lint_rules"
    rules.mkdir()
    (rules / "ACME001-torch-load-without-weights-only.yaml").write_text(text)
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nrule-dirs = ["lint_rules"]\n')
    (tmp_path / "a.py").write_text("import torch\nstate = torch.load('m.pt')\n")
    return rules


def test_a_yaml_alias_bomb_in_a_user_rule_is_rejected_naming_the_file(tmp_path):
    """Nine nested aliases expand to a billion values: hashing the parameters for the cache key,
    `rules` and `explain` would never finish. The run ends at once, exit 2, naming the file."""
    bomb = 'bomb:\n  a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]\n'
    for i in range(1, 10):
        bomb += f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n"
    text = _COOKBOOK.read_text().replace("match:\n", bomb + "match:\n", 1)
    _user_rule(tmp_path, text)
    for command in (("check", "a.py"), ("rules",), ("explain", "ACME001")):
        proc = subprocess.run([sys.executable, "-m", "torchlint", *command], cwd=tmp_path, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, (command, proc.stderr)
        assert "ACME001-torch-load-without-weights-only.yaml" in proc.stderr
        assert "expand to more than 100,000 values" in proc.stderr and "Traceback" not in proc.stderr


def test_a_self_referring_alias_is_rejected(tmp_path):
    text = _COOKBOOK.read_text().replace("match:\n", "loop: &loop [*loop]\nmatch:\n", 1)
    _user_rule(tmp_path, text)
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "a.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "an alias refers to the value that contains it" in proc.stderr, proc.stderr


def test_a_catastrophic_prefilter_is_rejected_naming_the_field(tmp_path):
    """`(a+)+$` never ends in Python's backtracking `re` on a long line of `a`s (used where
    ripgrep is missing and by `--fix`): refused when the rule is loaded."""
    text = _COOKBOOK.read_text().replace("prefilter: 'load\\s*\\('", "prefilter: '(\\w+\\s*)+\\('", 1)
    assert text != _COOKBOOK.read_text()
    _user_rule(tmp_path, text)
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "a.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "prefilter" in proc.stderr and "exponential time" in proc.stderr and "Traceback" not in proc.stderr


def test_a_file_name_with_a_newline_is_linted_not_split(tmp_path):
    """ripgrep's output is NUL-separated: a newline in a name used to split it into two bogus
    TL000s while the real file went unlinted."""
    (tmp_path / "new\nline.py").write_text(BAD)
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--format", "json", "."],
                          cwd=tmp_path, capture_output=True, text=True)
    assert sorted((f["path"], f["rule"]) for f in json.loads(proc.stdout)) == [
        ("new\nline.py", "TL301"), ("new\nline.py", "TL302")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_explicitly_is_reported_not_read(tmp_path):
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "ok.py").write_text(BAD)
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--format", "json",
                           "pipe.py", "ok.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    found = {(f["path"], f["rule"]): f["message"] for f in json.loads(proc.stdout)}
    assert found[("pipe.py", "TL000")] == "cannot read file: a FIFO, not a regular file"
    assert ("ok.py", "TL301") in found and proc.returncode == 1


def test_discovery_through_git_runs_nothing_the_repository_configures(tmp_path):
    """Without ripgrep, discovery asks `git ls-files`: a crafted `core.fsmonitor` in the linted
    repository's .git/config must not run."""
    from torchlint.session.files import _walk_with_git

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    marker = tmp_path.parent / f"{tmp_path.name}-fsmonitor-ran"
    subprocess.run(["git", "-C", str(tmp_path), "config", "core.fsmonitor", f"touch {marker}; false"], check=True)
    (tmp_path / "a.py").write_text(BAD)
    assert [Path(p).name for p in _walk_with_git(str(tmp_path))] == ["a.py"]
    assert not marker.exists()


def test_valid_code_past_libcsts_limits_is_reported_as_such(tmp_path):
    """3,600 implicitly concatenated literals: CPython accepts them, libcst's grammar gives up.
    Said plainly (not "syntax error"), at the place libcst stopped."""
    (tmp_path / "doc.py").write_text("import torch\nx = torch.device('cuda')\nDOC = (\n" + '    "a"\n' * 3600 + ")\n")
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--format", "json", "doc.py"],
                          cwd=tmp_path, capture_output=True, text=True)
    [finding] = json.loads(proc.stdout)
    assert finding["rule"] == "TL000" and finding["line"] > 3000
    assert finding["message"].startswith("valid Python that torchlint's parser (libcst) cannot read")


def test_a_fix_in_a_latin1_statement_is_applied_in_latin1(tmp_path):
    """The statement holding `café` was re-rendered without the file's coding cookie and its
    fix silently dropped; now it is applied and the file stays latin-1."""
    source = "# -*- coding: latin-1 -*-\nimport torch\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]  # café\n"
    (tmp_path / "l.py").write_bytes(source.encode("latin-1"))
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--fix", "l.py"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0 and "Fixed 2 findings" in proc.stdout, proc.stdout + proc.stderr
    fixed = (tmp_path / "l.py").read_bytes()
    assert b"caf\xe9" in fixed and b"@torch.inference_mode()" in fixed and b".cpu().tolist()" in fixed


def _fix_json(tmp_path: Path, *paths: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--fix", "--format", "json",
                           *paths], cwd=tmp_path, capture_output=True, text=True)
    found: dict[str, set[str]] = {}
    for f in json.loads(proc.stdout):
        found.setdefault(f["path"], set()).add(f["rule"])
    return proc, found


def test_fix_leaves_a_read_only_file_alone_and_reports_it_as_on_disk(tmp_path):
    """Write bit off: not rewritten (root could), named on stderr, and its findings are those
    of the file on disk, so the run fails (before: JSON `[]`, exit 0, file rewritten)."""
    locked = tmp_path / "locked.py"
    locked.write_text(BAD)
    locked.chmod(0o444)
    (tmp_path / "ok.py").write_text(BAD)
    proc, found = _fix_json(tmp_path, "locked.py", "ok.py")
    assert locked.read_text() == BAD and oct(locked.stat().st_mode & 0o777) == "0o444"
    assert found == {"locked.py": {"TL301", "TL302"}} and proc.returncode == 1
    assert "locked.py: not fixed: read-only (its write permission is off)" in proc.stderr
    assert "@torch.inference_mode()" in (tmp_path / "ok.py").read_text()


def test_fix_keeps_hard_links_by_leaving_the_file_alone(tmp_path):
    (tmp_path / "a.py").write_text(BAD)
    os.link(tmp_path / "a.py", tmp_path / "b_link.py")
    proc, found = _fix_json(tmp_path, "a.py")
    assert (tmp_path / "a.py").read_text() == BAD and os.stat(tmp_path / "a.py").st_nlink == 2
    assert found == {"a.py": {"TL301", "TL302"}} and "hard links" in proc.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_fix_in_a_read_only_folder_reports_the_findings_on_disk(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    (folder / "a.py").write_text(BAD)
    folder.chmod(0o555)
    try:
        proc, found = _fix_json(tmp_path, "ro/a.py")
    finally:
        folder.chmod(0o755)
    assert found == {"ro/a.py": {"TL301", "TL302"}} and proc.returncode == 1 and "not fixed" in proc.stderr


EDITOR = """
import sys, time
path, stop = sys.argv[1], time.time() + float(sys.argv[2])
n = 0
while time.time() < stop:
    with open(path, "a") as fh:
        fh.write(f"\\n\\ndef predict_{n}(model, x):\\n    return [model(t).tolist() for t in x]\\n")
    n += 1
    time.sleep(float(sys.argv[3]))
print(n)
"""


@pytest.mark.slow
def test_an_editor_saving_while_fix_runs_loses_no_edit(tmp_path):
    """An editor appends a function every 0.2 s while `--fix` rewrites the file again and
    again: every appended function is still there at the end (each fix is applied only to the
    file as torchlint read it, swapped in atomically, and undone if a save slipped in)."""
    target = tmp_path / "serve.py"
    target.write_text(BAD)
    editor = subprocess.Popen([sys.executable, "-c", EDITOR, str(target), "8", "0.2"], stdout=subprocess.PIPE, text=True)
    fixed_runs = 0
    while editor.poll() is None:
        proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--fix", "serve.py"],
                              cwd=tmp_path, capture_output=True, text=True)
        assert "Traceback" not in proc.stderr, proc.stderr
        fixed_runs += "Fixed" in proc.stdout
    written = int(editor.stdout.read())
    text = target.read_text()
    missing = [n for n in range(written) if f"def predict_{n}(model, x):" not in text]
    assert not missing, f"{len(missing)} of {written} edits lost"
    assert fixed_runs >= 1 and written > 20


def _save_once(path: Path):
    """An editor's save, made the first time the returned hook runs."""
    state = {"saved": False}

    def save() -> None:
        if not state["saved"]:
            state["saved"] = True
            with open(path, "ab") as fh:
                fh.write(b"saved\n")
    return save


def test_a_save_in_the_window_before_the_swap_is_kept(tmp_path, monkeypatch):
    """The race a re-read cannot close: a save lands after torchlint compared the file and
    before it renames. With the atomic exchange the swapped-out file is compared, and swapped
    back: the save survives and the fix is not written."""
    import torchlint.atomic as atomic

    if atomic._renameat2 is None:
        pytest.skip("no renameat2 here: the fallback is tested below")
    target = tmp_path / "a.py"
    target.write_bytes(b"old\n")
    save, exchange = _save_once(target), atomic._exchange
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: (save(), exchange(a, b))[1])
    assert atomic.replace_if_unchanged(target, b"fixed\n", b"old\n") is False
    assert target.read_bytes() == b"old\nsaved\n" and list(tmp_path.iterdir()) == [target]


def test_without_the_exchange_a_save_into_the_old_file_is_put_back(tmp_path, monkeypatch):
    """Where renameat2 is missing: the file is compared, then renamed over; a save into the
    old file in between is seen through the open handle and restored."""
    import torchlint.atomic as atomic

    target = tmp_path / "a.py"
    target.write_bytes(b"old\n")
    save, replace = _save_once(target), os.replace
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)
    monkeypatch.setattr(atomic.os, "replace", lambda a, b: (save(), replace(a, b))[1])
    assert atomic.replace_if_unchanged(target, b"fixed\n", b"old\n") is False
    assert target.read_bytes() == b"old\nsaved\n"
    assert atomic.replace_if_unchanged(target, b"fixed\n", b"old\nsaved\n") is True
    assert target.read_bytes() == b"fixed\n"


def test_reports_escape_what_their_formats_must(tmp_path):
    """A name that is not UTF-8 made JUnit XML malformed; `#` in a SARIF `uri` started a
    fragment. Now: well-formed XML naming the byte, percent-encoded URIs."""
    import xml.dom.minidom
    from urllib.parse import unquote_to_bytes

    for name in (os.fsdecode(b"caf\xe9.py"), "a#b c%.py"):
        (tmp_path / name).write_text("import torch\nx = torch.device('cuda')\n")

    def report(fmt: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--format", fmt, "."],
                              cwd=tmp_path, capture_output=True, text=True, errors="surrogateescape")
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        return proc.stdout

    suites = xml.dom.minidom.parseString(report("junit").encode()).getElementsByTagName("testsuite")
    assert sorted(s.getAttribute("name") for s in suites) == ["a#b c%.py", "caf\\xe9.py"]
    sarif = json.loads(report("sarif"))
    uris = sorted(loc["physicalLocation"]["artifactLocation"]["uri"]
                  for r in sarif["runs"][0]["results"] for loc in r["locations"])
    assert uris == ["a%23b%20c%25.py", "caf%E9.py"]
    assert sorted(unquote_to_bytes(u) for u in uris) == [b"a#b c%.py", b"caf\xe9.py"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS caps the address space only on Linux")
def test_fixes_written_before_a_worker_died_are_counted(tmp_path):
    """The pool breaks while the other worker has fixed files whose reports never came back:
    those files are linted again (already fixed), and the fixes they had are still counted
    (before: no "Fixed" line at all)."""
    for i in range(30):
        (tmp_path / f"f{i:02}.py").write_text(BAD)
    _big_module(tmp_path / "big.py", 3_000_000)
    proc = _limited(1500, "check", "--no-cache", "-j", "2", "--max-file-size", "0", "--fix", ".", cwd=tmp_path)
    summary = proc.stdout.splitlines()[-1]
    assert summary.startswith("Fixed 60 findings; Found 1 finding (TL001: 1); 31 files checked."), proc.stdout
    assert all("@torch.inference_mode()" in (tmp_path / f"f{i:02}.py").read_text() for i in range(30))


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_ctrl_c_ends_a_run_within_a_second(tmp_path):
    """Ctrl-C reaches the whole process group (the run, its workers, ripgrep): the run ends
    within a second with exit 130 and one line, no traceback, no worker left behind."""
    import signal

    body = "".join(f"def predict_{i}(model, x):\n    y = model(x)\n    return y.tolist()\n\n" for i in range(400))
    for n in range(150):
        (tmp_path / f"m{n}.py").write_text("import torch\n\n" + body)
    # A background job of a non-interactive shell (how CI may run us) ignores SIGINT, and a
    # child inherits that: the run gets SIGINT as a terminal would deliver it.
    proc = subprocess.Popen([sys.executable, "-m", "torchlint", "check", "--no-cache", "-j", "2", "."], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    sent = time.time()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.time() - sent < 1.0
    assert proc.returncode == 130 and err.strip() == "torchlint: interrupted", err[-2000:]
    deadline = time.time() + 1.0
    while time.time() < deadline:  # nothing of the run's process group is left
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("processes of the interrupted run are still alive a second later")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file away needs root")
def test_fix_keeps_the_owner(tmp_path):
    """Run as root on another user's file (a CI container, sudo): the fixed file keeps its
    owner and group instead of becoming root's."""
    target = tmp_path / "a.py"
    target.write_text(BAD)
    os.chown(target, 4321, 4322)
    proc, found = _fix_json(tmp_path, "a.py")
    assert "@torch.inference_mode()" in target.read_text() and found == {}
    assert (target.stat().st_uid, target.stat().st_gid) == (4321, 4322)
