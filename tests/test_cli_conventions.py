"""The conventions a ruff user types (issue 17), each run through the real command: stdin,
per-file ignores on the command line, extend-ignore, --show-files/--show-settings, --quiet,
--cache-dir, file-level and multi-line suppressions, "did you mean", colour, help with examples
and exit codes, review mode against a git ref, and the flake8 plugin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

SERVE = "import torch\n\n\ndef predict(model, x):\n    return model(x).numpy()\n"
CUDA = "import torch\n\n\ndef load(model):\n    return model.to('cuda')\n"


def _stdin(*args: str, data: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchlint", *args], input=data, cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, "NO_COLOR": "1"})


def _rules(proc: subprocess.CompletedProcess) -> list[tuple[str, str, int]]:
    return sorted((f["path"], f["rule"], f["line"]) for f in json.loads(proc.stdout))


# ----- stdin -------------------------------------------------------------------------------

def test_stdin_is_linted_under_the_name_given(tmp_path):
    proc = _stdin("check", "-", "--stdin-filename", "app/serve.py", "--output-format", "json", "--no-cache",
                  data=SERVE, cwd=tmp_path)
    assert proc.returncode == 1
    assert _rules(proc) == [("app/serve.py", "TL301", 5), ("app/serve.py", "TL302", 5)]


def test_stdin_fix_prints_the_fixed_source_and_the_rest_on_stderr(tmp_path):
    proc = _stdin("check", "-", "--stdin-filename", "serve.py", "--fix", "--no-cache", data=SERVE, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("import torch\n\n\n@torch.inference_mode()\ndef predict(model, x):\n"
                           "    return model(x).detach().cpu().numpy()\n")
    assert proc.stderr == ""
    left = _stdin("check", "-", "--fix", "--no-cache", data=CUDA, cwd=tmp_path)  # TL101 has no fix
    assert left.returncode == 1 and left.stdout == CUDA
    assert left.stderr.startswith("-:5:12: TL101 [high] device hard-coded to CUDA")


def test_stdin_filename_needs_the_dash_and_the_dash_stands_alone(tmp_path):
    (tmp_path / "a.py").write_text(SERVE)
    lone = run_cli("check", "a.py", "--stdin-filename", "x.py", cwd=tmp_path)
    mixed = run_cli("check", "-", "a.py", cwd=tmp_path)
    assert (lone.returncode, mixed.returncode) == (2, 2)
    assert "give `-` as the path" in lone.stderr and "cannot be mixed" in mixed.stderr


def test_stdin_respects_per_file_ignores_by_its_name(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nper-file-ignores = {"app/*" = ["TL301"]}\n')
    proc = _stdin("check", "-", "--stdin-filename", "app/serve.py", "--output-format", "json", "--no-cache",
                  data=SERVE, cwd=tmp_path)
    assert [r for _, r, _ in _rules(proc)] == ["TL302"]


# ----- per-file ignores, extend-ignore -----------------------------------------------------

def test_per_file_ignores_on_the_command_line_replace_or_extend_the_config(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nper-file-ignores = {"a.py" = ["TL302"]}\n')
    (tmp_path / "a.py").write_text(SERVE)
    (tmp_path / "b.py").write_text(SERVE)

    def found(*args):
        return _rules(run_cli("check", ".", "--output-format", "json", "--no-cache", *args, cwd=tmp_path))

    assert found() == [("a.py", "TL301", 5), ("b.py", "TL301", 5), ("b.py", "TL302", 5)]
    assert found("--per-file-ignores", "b.py:TL301") == [("a.py", "TL301", 5), ("a.py", "TL302", 5),
                                                        ("b.py", "TL302", 5)]
    assert found("--extend-per-file-ignores", "b.py:TL301,TL302") == [("a.py", "TL301", 5)]
    bad = run_cli("check", ".", "--per-file-ignores", "b.py", cwd=tmp_path)
    unknown = run_cli("check", ".", "--per-file-ignores", "b.py:TL399", cwd=tmp_path)
    assert (bad.returncode, unknown.returncode) == (2, 2)
    assert "expected GLOB:RULES" in bad.stderr and "unknown rule(s) 'TL399'" in unknown.stderr


def test_extend_ignore_adds_to_ignore(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nignore = ["TL301"]\nextend-ignore = ["TL302"]\n')
    (tmp_path / "a.py").write_text(SERVE)
    proc = run_cli("check", ".", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0 and "All checks passed" in proc.stdout


def test_config_and_flag_typos_get_a_suggestion(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nextend-ingore = ["TL301"]\n')
    (tmp_path / "a.py").write_text(SERVE)
    key = run_cli("check", ".", cwd=tmp_path)
    assert key.returncode == 2 and "did you mean 'extend-ignore'?" in key.stderr
    flag = run_cli("check", ".", "--output-fromat", "json", cwd=tmp_path)
    assert flag.returncode == 2 and "did you mean --output-format?" in flag.stderr


# ----- what would run ---------------------------------------------------------------------

def test_show_files_and_show_settings_stop_before_linting(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nexclude = ["gen/*"]\ncache-dir = "build/tl"\n')
    (tmp_path / "a.py").write_text(SERVE)
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "b.py").write_text(SERVE)
    files = run_cli("check", "--show-files", cwd=tmp_path)
    assert files.returncode == 0 and files.stdout.split() == ["a.py"]
    settings = run_cli("check", "--show-settings", "--select", "TL3", "--per-file-ignores", "a.py:TL302",
                       cwd=tmp_path)
    rows = dict(line.split(None, 1) for line in settings.stdout.splitlines())
    assert settings.returncode == 0
    assert rows["rules"] == "TL301, TL302, TL303"
    assert rows["per-file-ignores"] == "a.py: TL302" and rows["exclude"] == "gen/*"
    assert rows["cache-dir"] == str((tmp_path / "build" / "tl").resolve())
    assert not (tmp_path / ".torchlint_cache").exists()


def test_quiet_prints_findings_only(tmp_path):
    (tmp_path / "a.py").write_text(SERVE)
    proc = run_cli("check", ".", "-q", "--no-cache", "--fail-on", "critical", cwd=tmp_path)
    assert proc.returncode == 1
    assert "a.py:5:12: TL301" in proc.stdout and "Found" not in proc.stdout and proc.stderr == ""


def test_cache_dir_from_flag_config_or_environment(tmp_path):
    (tmp_path / "a.py").write_text(SERVE)
    run_cli("check", ".", "--cache-dir", "elsewhere", cwd=tmp_path)
    assert (tmp_path / "elsewhere").is_dir() and not (tmp_path / ".torchlint_cache").exists()
    run_cli("check", ".", cwd=tmp_path, env={"TORCHLINT_CACHE_DIR": str(tmp_path / "from-env")})
    assert (tmp_path / "from-env").is_dir() and not (tmp_path / ".torchlint_cache").exists()


# ----- suppressions -----------------------------------------------------------------------

def test_file_level_and_multi_line_suppressions(tmp_path):
    (tmp_path / "a.py").write_text(
        "# torchlint: ignore-file[TL101]\nimport torch\n\n\ndef load(model):\n    return model.to('cuda')\n")
    (tmp_path / "b.py").write_text(
        "import torch\n\n\ndef predict(model, x):\n    out = model(\n        x,\n    )  # torchlint: ignore[TL301]\n"
        "    return out\n")
    proc = run_cli("check", ".", "--output-format", "json", "--no-cache", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout  # nothing left, and the closing-line directive is not "unused"
    (tmp_path / "a.py").write_text("# torchlint: ignore-file[TL301]\n" + CUDA)
    assert [r for _, r, _ in _rules(run_cli("check", ".", "--output-format", "json", "--no-cache",
                                            cwd=tmp_path))] == ["TL101"]


# ----- terminal --------------------------------------------------------------------------

def test_colour_when_forced_and_never_with_no_color(tmp_path):
    (tmp_path / "a.py").write_text(SERVE)
    forced = run_cli("check", ".", "--no-cache", cwd=tmp_path, env={"NO_COLOR": "", "FORCE_COLOR": "1"})
    assert "\x1b[" in forced.stdout
    plain = run_cli("check", ".", "--no-cache", cwd=tmp_path, env={"NO_COLOR": "1", "FORCE_COLOR": "1"})
    piped = run_cli("check", ".", "--no-cache", cwd=tmp_path, env={"NO_COLOR": ""})
    assert "\x1b[" not in plain.stdout and "\x1b[" not in piped.stdout


@pytest.mark.parametrize("command", ["check", "explain", "rules", "test-rules", "roles", "validate"])
def test_every_command_help_has_examples_and_exit_codes(command):
    proc = run_cli(command, "--help")
    assert proc.returncode == 0
    assert "examples:" in proc.stdout and "exit codes:" in proc.stdout


# ----- review mode ------------------------------------------------------------------------

def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd, check=True,
                   capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="review mode needs git")
def test_diff_base_reports_only_changed_lines_in_every_format(tmp_path):
    _git(tmp_path, "init", "-q")
    (tmp_path / "old.py").write_text(CUDA)
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "base")
    (tmp_path / "old.py").write_text(CUDA + "\n\ndef predict(model, x):\n    return model(x).numpy()\n")
    (tmp_path / "new.py").write_text(CUDA)  # untracked: wholly new
    everything = _rules(run_cli("check", ".", "--output-format", "json", "--no-cache", cwd=tmp_path))
    assert ("old.py", "TL101", 5) in everything
    review = run_cli("check", ".", "--diff-base", "HEAD", "--output-format", "json", "--no-cache", cwd=tmp_path)
    assert _rules(review) == [("new.py", "TL101", 5), ("old.py", "TL301", 9), ("old.py", "TL302", 9)]
    assert "1 finding on lines unchanged since then left out" in review.stderr
    github = run_cli("check", ".", "--diff-base", "HEAD", "--output-format", "github", "--no-cache", cwd=tmp_path)
    assert github.stdout.count("::error") == 3 and "old.py,line=5" not in github.stdout
    sarif = json.loads(run_cli("check", ".", "--diff-base", "HEAD", "--output-format", "sarif", "--no-cache",
                               cwd=tmp_path).stdout)
    assert len(sarif["runs"][0]["results"]) == 3
    unknown = run_cli("check", ".", "--diff-base", "no-such-ref", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown git ref 'no-such-ref'" in unknown.stderr


def test_diff_base_outside_a_repository_is_a_usage_error(tmp_path):
    (tmp_path / "a.py").write_text(CUDA)
    proc = run_cli("check", ".", "--diff-base", "HEAD", cwd=tmp_path, env={"GIT_CEILING_DIRECTORIES": str(tmp_path)})
    assert proc.returncode == 2 and "--diff-base needs a git repository" in proc.stderr


# ----- flake8 ------------------------------------------------------------------------------

def test_flake8_plugin_reports_tl_codes(tmp_path):
    pytest.importorskip("flake8", reason="flake8 is in the dev extra")
    (tmp_path / "serve.py").write_text(SERVE + "\n\ndef load(model):\n    return model.to('cuda')  # noqa: TL101\n")
    proc = subprocess.run([sys.executable, "-m", "flake8", "--select", "TL", "serve.py"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    codes = [line.split()[1] for line in proc.stdout.splitlines()]
    assert codes == ["TL301", "TL302"], proc.stdout
    assert proc.stdout.startswith("serve.py:5:12: TL301 ")


def test_options_that_cannot_go_together_are_a_usage_error(tmp_path):
    (tmp_path / "a.py").write_text(SERVE)
    noqa = run_cli("check", ".", "--add-noqa", "--diff", cwd=tmp_path)
    stats = run_cli("check", ".", "--statistics", "--output-format", "sarif", cwd=tmp_path)
    assert (noqa.returncode, stats.returncode) == (2, 2)
    assert "cannot be combined with --fix or --diff" in noqa.stderr and "use --output-format text" in stats.stderr
    assert (tmp_path / "a.py").read_text() == SERVE
