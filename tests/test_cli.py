"""End-to-end behaviour of the `torchlint` command, run as a subprocess."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import textwrap

import pytest

from tests.conftest import FIXTURES, run_cli

CONTRACT = {"path", "line", "column", "end_line", "end_column", "rule", "name", "severity", "message", "fix", "role"}
BAD = "import torch\n\ndef predict(model, x):\n    return model(x)\n"


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("torchlint ")


def test_clean_exit_zero(tmp_path):
    write(tmp_path / "ok.py", "import torch\n\n@torch.inference_mode()\ndef predict(model, x):\n    return model(x)\n")
    proc = run_cli("check", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All checks passed" in proc.stdout


def test_findings_exit_one_and_text_format(tmp_path):
    write(tmp_path / "bad.py", BAD)
    proc = run_cli("check", "bad.py", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("bad.py:4:12: TL301 [*] [critical] `model(...)` in inference code `predict`")
    assert "4 |     return model(x)" in proc.stdout
    assert any(l.strip() == "|            ^^^^^^^^" for l in lines), proc.stdout
    assert "Found 1 finding (TL301: 1); 1 file checked." in proc.stdout


def test_json_contract(tmp_path):
    write(tmp_path / "bad.py", BAD)
    proc = run_cli("check", "bad.py", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert len(data) == 1
    finding = data[0]
    assert set(finding) == CONTRACT
    assert finding == {
        "path": "bad.py", "line": 4, "column": 12, "end_line": 4, "end_column": 20, "rule": "TL301",
        "name": "missing-no-grad", "severity": "critical", "message": finding["message"], "role": "library",
        "fix": {
            "safety": "safe", "title": "Decorate `predict` with `@torch.inference_mode()`",
            "edits": [{"line": 3, "column": 1, "end_line": 3, "end_column": 1, "content": "@torch.inference_mode()\n"}],
        },
    }


def test_json_empty_array_when_clean(tmp_path):
    write(tmp_path / "empty.py", "x = 1\n")
    proc = run_cli("check", str(tmp_path), "--format", "json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_syntax_error_is_tl000_and_run_continues(tmp_path):
    write(tmp_path / "broken.py", "import torch\n\ndef predict(model, x:\n    return model(x)\n")
    write(tmp_path / "bad.py", BAD)
    proc = run_cli("check", str(tmp_path), "--format", "json")
    assert proc.returncode == 1
    rules = {(f["path"].rsplit("/", 1)[-1], f["rule"]) for f in json.loads(proc.stdout)}
    assert rules == {("broken.py", "TL000"), ("bad.py", "TL301")}
    tl000 = next(f for f in json.loads(proc.stdout) if f["rule"] == "TL000")
    assert tl000["line"] == 3 and "syntax error" in tl000["message"]


def test_exit_zero_and_fail_on(tmp_path):
    write(tmp_path / "bad.py", BAD)
    assert run_cli("check", str(tmp_path), "--exit-zero").returncode == 0
    # TL301 is critical: failing on critical still fails; a high-only finding would not.
    assert run_cli("check", str(tmp_path), "--fail-on", "critical").returncode == 1
    write(tmp_path / "bad.py", "import torch\n\ndef f(x, device):\n    return x.to(device).numpy()\n")
    assert run_cli("check", str(tmp_path), "--fail-on", "critical").returncode == 0
    assert run_cli("check", str(tmp_path), "--fail-on", "high").returncode == 1
    # `.tolist()` of a device tensor in a loop works (one copy and a sync per pass): a low finding, below `high`.
    write(tmp_path / "bad.py", "import torch\n\ndef f(x, device):\n    return [x.to(device)[i].tolist() for i in range(2)]\n")
    assert run_cli("check", str(tmp_path), "--fail-on", "high").returncode == 0
    assert run_cli("check", str(tmp_path), "--fail-on", "low").returncode == 1


def test_select_ignore_extend_select(tmp_path):
    write(tmp_path / "bad.py", BAD.replace("return model(x)", "return [model(t).tolist() for t in x]"))
    def rules(*args):
        proc = run_cli("check", str(tmp_path), "--format", "json", *args)
        return sorted({f["rule"] for f in json.loads(proc.stdout)})
    assert rules() == ["TL301", "TL302"]
    assert rules("--select", "TL302") == ["TL302"]
    assert rules("--select", "missing-no-grad") == ["TL301"]
    assert rules("--ignore", "TL3") == []
    assert rules("--select", "TL302", "--extend-select", "TL301") == ["TL301", "TL302"]


def test_unknown_rule_is_usage_error(tmp_path):
    proc = run_cli("check", str(tmp_path), "--select", "TL999")
    assert proc.returncode == 2 and "TL999" in proc.stderr


def test_missing_path_is_usage_error(tmp_path):
    proc = run_cli("check", str(tmp_path / "nope"))
    assert proc.returncode == 2 and "nope" in proc.stderr and "no such file" in proc.stderr


def test_bad_flag_is_usage_error():
    assert run_cli("check", "--format", "xml").returncode == 2


def test_suppressions(tmp_path):
    write(tmp_path / "s.py", """\
        import torch

        def predict(model, x):
            a = model(x)  # torchlint: ignore[TL301]
            b = model(x)  # noqa: TL301
            c = model(x)  # torchlint: ignore
            d = model(x)  # torchlint: ignore[missing-no-grad]
            e = model(x)  # noqa: TL302
            f = model(x)  # noqa
            return a, b, c, d, e, f
        """)
    proc = run_cli("check", str(tmp_path), "--format", "json")
    found = [(f["line"], f["rule"]) for f in json.loads(proc.stdout)]
    # line 8's directive names another rule: TL301 stays, and the directive is reported unused
    assert found == [(8, "TL301"), (8, "TL002")]


def test_config_from_pyproject(tmp_path):
    write(tmp_path / "pyproject.toml", """\
        [tool.torchlint]
        ignore = ["TL302"]
        exclude = ["generated"]
        per-file-ignores = { "legacy_*.py" = ["TL301"] }

        [tool.torchlint.vocabulary]
        extend_entry_points = ["respond"]
        """)
    write(tmp_path / "app.py", "import torch\n\ndef respond(model, x):\n    return [model(t).tolist() for t in x]\n")
    write(tmp_path / "legacy_app.py", BAD)
    write(tmp_path / "generated" / "gen.py", BAD)
    proc = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    found = [(f["path"], f["rule"]) for f in json.loads(proc.stdout)]
    assert found == [("app.py", "TL301")], proc.stdout + proc.stderr


def test_a_broken_pyproject_is_an_error_only_when_it_configures_torchlint(tmp_path):
    """A linted project's own invalid pyproject.toml (a stray `name = "^1.0"` in a list) is not
    torchlint's config: the run goes on. One that mentions torchlint is, and its error names it."""
    write(tmp_path / "pyproject.toml", '[project]\ndependencies = [\n    "pyyaml",\n    opencv = "^4.6"\n]\n')
    write(tmp_path / "app.py", BAD)
    proc = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 1 and [f["rule"] for f in json.loads(proc.stdout)], proc.stderr
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nselect = [\"TL301\"\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "pyproject.toml: cannot parse" in proc.stderr


def test_config_unknown_key_and_rule_are_errors(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nselct = ['TL301']\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "selct" in proc.stderr and "pyproject.toml" in proc.stderr
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nignore = ['TL123']\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "TL123" in proc.stderr
    write(tmp_path / "pyproject.toml", "[tool.torchlint.params.TL301]\nentry_point = ['x']\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "entry_point" in proc.stderr
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nfail-on = 'severe'\n")
    proc = run_cli("check", ".", cwd=tmp_path)
    assert proc.returncode == 2 and "fail-on" in proc.stderr


def test_gitignore_is_honoured(tmp_path):
    write(tmp_path / ".gitignore", "ignored/\n")
    write(tmp_path / "ignored" / "bad.py", BAD)
    write(tmp_path / "kept" / "bad.py", BAD)
    proc = run_cli("check", ".", "--format", "json", cwd=tmp_path)
    assert [f["path"] for f in json.loads(proc.stdout)] == ["kept/bad.py"]


def test_explain_by_id_and_name_match():
    by_id = run_cli("explain", "TL301")
    by_name = run_cli("explain", "missing-no-grad")
    assert by_id.returncode == 0 and by_id.stdout == by_name.stdout
    assert "TL301" in by_id.stdout and "inference_mode" in by_id.stdout
    assert "# expect:" not in by_id.stdout


def test_explain_unknown_rule():
    proc = run_cli("explain", "TL999")
    assert proc.returncode == 2 and "TL999" in proc.stderr


def test_explain_markdown_is_honest_about_hardware():
    page = run_cli("explain", "TL302", "--format", "markdown").stdout
    assert page.startswith("# TL302 tensor-to-python-without-cpu")
    assert "**raises**" in page and "**works**" in page


def test_rules_json_lists_catalog():
    proc = run_cli("rules", "--format", "json")
    data = json.loads(proc.stdout)
    ids = [r["id"] for r in data]
    assert {"TL000", "TL001", "TL202", "TL301", "TL302", "TL701", "TL702"} <= set(ids)
    for r in data:
        assert {"id", "name", "severity", "category", "fixable"} <= set(r)


def test_rules_table():
    proc = run_cli("rules")
    assert proc.returncode == 0 and "missing-no-grad" in proc.stdout


def test_fixtures_dir_bad_only(tmp_path):
    proc = run_cli("check", str(FIXTURES), "--format", "json")
    assert proc.returncode == 1
    # fixtures/projects/ are whole projects whose annotations tests/test_project.py checks
    paths = {f["path"] for f in json.loads(proc.stdout) if "/projects/" not in f["path"]}
    assert paths and all("/bad_" in p for p in paths), sorted(p for p in paths if "/bad_" not in p)


_LOAD = """\
import torch
from transformers import AutoModelForCausalLM


def load(path, device):
    model = AutoModelForCausalLM.from_pretrained(path)
    typed = AutoModelForCausalLM.from_pretrained(path, torch_dtype=torch.bfloat16)
    return model.to(device), typed.to(device)
"""


@pytest.mark.parametrize(
    "version, expected",
    [
        (None, [("TL402", 6, "medium")]),  # unknown version: float32 default assumed
        ("4.57.1", [("TL402", 6, "medium"), ("TL402", 7, "low")]),  # `torch_dtype=` deprecated
        # default dtype is "auto" (no float32 finding); `torch_dtype=` is still the deprecated spelling
        ("5.1.0", [("TL402", 7, "low")]),
    ],
)
def test_version_aware_parameter_from_config(tmp_path, version, expected):
    (tmp_path / "serve.py").write_text(_LOAD)
    if version is not None:
        (tmp_path / "pyproject.toml").write_text(
            f'[tool.torchlint.params.from-pretrained-without-dtype]\ntransformers_version = "{version}"\n'
        )
    proc = run_cli("check", ".", "--select", "TL402", "--format", "json", cwd=tmp_path)
    found = [(f["rule"], f["line"], f["severity"]) for f in json.loads(proc.stdout)]
    assert found == expected, proc.stdout + proc.stderr


def test_explain_lists_parameters():
    proc = run_cli("explain", "TL402", "--format", "markdown")
    assert proc.returncode == 0
    assert "## Parameters" in proc.stdout and "`transformers_version` = `null`" in proc.stdout


def test_statistics_counts_per_rule(tmp_path):
    (tmp_path / "a.py").write_text("import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n")
    (tmp_path / "b.py").write_text("import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n")
    proc = run_cli("check", ".", "--statistics", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        "2  TL301  [*]  [critical]  missing-no-grad",
        "2  TL302  [*]  [low]  tensor-to-python-without-cpu",
        "Found 4 findings (TL301: 2, TL302: 2); 2 files checked.",
        "[*] 4 fixable with `--fix`.",
    ]


def test_statistics_follow_unsafe_fixes_and_the_machine_formats(tmp_path):
    (tmp_path / "load.py").write_text(
        "import torch\nfrom transformers import AutoModel\n\n\ndef load(path, device):\n"
        "    return AutoModel.from_pretrained(path).to(device)\n")
    safe = run_cli("check", ".", "--statistics", "--no-cache", cwd=tmp_path).stdout.splitlines()
    assert safe[0] == "1  TL402       [medium]  from-pretrained-without-dtype"
    assert safe[-1] == "1 more fix is available with `--unsafe-fixes`."
    unsafe = run_cli("check", ".", "--statistics", "--unsafe-fixes", "--no-cache", cwd=tmp_path).stdout.splitlines()
    assert unsafe[0] == "1  TL402  [*]  [medium]  from-pretrained-without-dtype"
    assert unsafe[-1] == "[*] 1 fixable with `--fix --unsafe-fixes`."
    rows = json.loads(run_cli("check", ".", "--statistics", "--format", "json", "--no-cache", cwd=tmp_path).stdout)
    assert rows == [{"code": "TL402", "name": "from-pretrained-without-dtype", "severity": "medium", "count": 1,
                     "fixable": 0}]


def _many_files(tmp_path, n=120):
    for i in range(n):
        (tmp_path / f"m{i}.py").write_text("def test_nothing():\n    pass\n")  # passes TL701's prefilter, no finding
    return tmp_path


def test_progress_bar_only_on_a_terminal(tmp_path):
    import os
    import pty
    import subprocess
    import sys

    _many_files(tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "NO_COLOR")}
    env.update(TERM="xterm", COLUMNS="100")
    master, slave = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "--format", "json", "-j1",
                           str(tmp_path)], stdout=subprocess.PIPE, stderr=slave, env=env, timeout=300)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.returncode == 0 and json.loads(proc.stdout) == []
    assert b"torchlint" in seen and b"/120" in seen, seen[-300:]
    # Not a terminal (a CI log, a pipe): nothing on stderr.
    piped = run_cli("check", "--no-cache", "-j1", str(tmp_path))
    assert piped.stderr == "" and "All checks passed (120 files checked)." in piped.stdout
    in_ci = subprocess.run([sys.executable, "-m", "torchlint", "check", "--no-cache", "-j1", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**env, "CI": "true"})
    assert in_ci.stderr == b""


def test_no_color_is_respected():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    colour = re.compile(rb"\x1b\[[0-9;]*3[0-9]")
    forced = subprocess.run([sys.executable, "-m", "torchlint", "explain", "TL302"], capture_output=True,
                            env={**env, "FORCE_COLOR": "1"})
    assert colour.search(forced.stdout), "the test needs colour when forced"
    plain = subprocess.run([sys.executable, "-m", "torchlint", "explain", "TL302"], capture_output=True,
                           env={**env, "FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert plain.returncode == 0 and not colour.search(plain.stdout)


@pytest.mark.parametrize("rule_id", ["TL002", "TL202", "TL301", "TL302", "TL303", "TL402", "TL603"])
def test_explain_shows_fix_safety_and_the_fixed_example(rule_id):
    proc = run_cli("explain", rule_id, "--format", "markdown")
    assert proc.returncode == 0
    assert "Autofix: safe" in proc.stdout or "Autofix: unsafe" in proc.stdout
    assert "The bad example after the autofix:\n\n```python\n" in proc.stdout


def test_infrastructure_findings_are_never_dropped_by_selection(tmp_path, capsys):
    """A syntax error and a crashing rule are reported whatever --select or `select` names."""
    write(tmp_path / "broken.py", "import torch\ndef f(:\n")
    proc = run_cli("check", "--no-cache", "--select", "TL302", "--format", "json", "broken.py", cwd=tmp_path)
    assert [f["rule"] for f in json.loads(proc.stdout)] == ["TL000"] and proc.returncode == 1
    # A user rule whose check crashes, selected alone in config (run in this process, where
    # the crashing kind is registered).
    from torchlint import cli
    from torchlint.checks import Check, register

    @register
    class _Crashes(Check):
        kind = "test_crashes"

        def visit_Call(self, node):
            raise RuntimeError("boom")

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "MY100-crash.yaml").write_text(
        "id: MY100\nname: crash\ntitle: Crash\nseverity: low\ncategory: test\nprefilter: 'torch'\n"
        "check: test_crashes\nmessage: '{detail}'\nexplain: crashes\n"
        "examples:\n  bad: 'torch.load(p)  # expect: MY100'\n  good: 'x = 1'\n")
    write(tmp_path / "pyproject.toml", '[tool.torchlint]\nrule-dirs = ["rules"]\nselect = ["MY100"]\n')
    write(tmp_path / "serve.py", "import torch\nx = torch.load(p)\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        code = cli.main(["check", "--no-cache", "--format", "json", "-j1", "serve.py"])
        found = json.loads(capsys.readouterr().out)
        assert code == 1 and [(f["rule"], "boom" in f["message"]) for f in found] == [("TL001", True)]
        cli.main(["check", "--no-cache", "-j1", "serve.py"])
        assert "All checks passed" not in capsys.readouterr().out
    finally:
        os.chdir(cwd)


def test_output_file_writes_through_links_devices_and_pipes(tmp_path):
    """`-o` replaces only regular files; a symbolic link keeps pointing at its target, a pipe
    or `/dev/stdout` is written into, `-` is stdout, an unwritable path is exit 2 in one line."""
    (tmp_path / "a.py").write_text("import torch\nx = torch.device('cuda')\n")
    os.symlink("report.json", tmp_path / "link.json")
    proc = run_cli("check", "--no-cache", "--format", "json", "-o", "link.json", "a.py", cwd=tmp_path)
    assert proc.returncode == 1 and (tmp_path / "link.json").is_symlink()
    assert json.loads((tmp_path / "report.json").read_text())[0]["rule"] == "TL101"
    dash = run_cli("check", "--no-cache", "--format", "json", "-o", "-", "a.py", cwd=tmp_path)
    assert json.loads(dash.stdout)[0]["rule"] == "TL101" and not (tmp_path / "-").exists()
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        reader = subprocess.Popen(["cat", str(tmp_path / "pipe")], stdout=subprocess.PIPE, text=True)
        run_cli("check", "--no-cache", "--format", "json", "-o", "pipe", "a.py", cwd=tmp_path)
        assert json.loads(reader.communicate(timeout=30)[0])[0]["rule"] == "TL101"
        assert stat.S_ISFIFO(os.lstat(tmp_path / "pipe").st_mode)
    if os.path.exists("/dev/stdout"):
        through = run_cli("check", "--no-cache", "--format", "json", "-o", "/dev/stdout", "a.py", cwd=tmp_path)
        assert json.loads(through.stdout)[0]["rule"] == "TL101" and os.path.islink("/dev/stdout")
    (tmp_path / "folder").mkdir()
    bad = run_cli("check", "--no-cache", "-o", "folder", "a.py", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("torchlint: error: cannot write the report to folder")
    assert "Traceback" not in bad.stderr


def test_options_are_never_abbreviated_and_selections_accumulate(tmp_path):
    (tmp_path / "a.py").write_text("import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n")
    prefix = run_cli("check", "--output", "json", "a.py", cwd=tmp_path)
    assert prefix.returncode == 2 and "unrecognized arguments: --output" in prefix.stderr
    assert not (tmp_path / "json").exists()
    both = run_cli("check", "--no-cache", "--select", "TL301", "--select", "TL302", "--output-format", "json",
                   "a.py", cwd=tmp_path)
    assert sorted(f["rule"] for f in json.loads(both.stdout)) == ["TL301", "TL302"]
    empty = run_cli("check", "--select", "", "a.py", cwd=tmp_path)
    assert empty.returncode == 2 and "--select: no rule named" in empty.stderr
    typo = run_cli("check", "--select", "missing-no-gard", "a.py", cwd=tmp_path)
    assert typo.returncode == 2 and "did you mean 'missing-no-grad'?" in typo.stderr
    category = run_cli("check", "--no-cache", "--select", "device-management", "--format", "json", "a.py",
                       cwd=tmp_path)
    assert category.returncode == 0 and json.loads(category.stdout) == []  # TL1xx: nothing here


def test_rules_never_cut_ids_or_names_on_an_80_column_terminal():
    proc = run_cli("rules", env={"COLUMNS": "80"})
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in proc.stdout.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    names = {r["id"]: r["name"] for r in json.loads(run_cli("rules", "--format", "json").stdout)}
    assert rows == names, {k: v for k, v in rows.items() if names.get(k) != v}


def test_findings_below_fail_on_pass_and_say_so(tmp_path):
    (tmp_path / "a.py").write_text("import torch\n\n\ndef predict(model, x):\n    return [model(t).tolist() for t in x]\n")
    proc = run_cli("check", "--no-cache", "--fail-on", "critical", "--select", "TL302", "a.py", cwd=tmp_path)
    assert proc.returncode == 0 and "Found 1 finding" in proc.stdout
    assert proc.stderr.strip() == "torchlint: 1 finding below fail-on `critical`: exit 0"
    failing = run_cli("check", "--no-cache", "--fail-on", "critical", "a.py", cwd=tmp_path)
    assert failing.returncode == 1 and "below fail-on" not in failing.stderr


def test_cookiecutter_templates_are_skipped_in_a_walk_and_linted_when_named(tmp_path):
    """A `.py` file under `{{cookiecutter.name}}/` is Jinja until rendered: a directory walk
    skips it (no TL000 for every `{% if %}`); named on the command line, it is linted as given."""
    template = tmp_path / "templates" / "{{cookiecutter.modelname}}"
    template.mkdir(parents=True)
    (template / "modeling.py").write_text('{% if cookiecutter.torch == "True" %}\nimport torch\n{% endif %}\n')
    (tmp_path / "app.py").write_text("import torch\nx = torch.device('cuda')\n")
    walked = run_cli("check", "--no-cache", "--format", "json", ".", cwd=tmp_path)
    assert sorted({f["path"] for f in json.loads(walked.stdout)}) == ["app.py"]
    named = run_cli("check", "--no-cache", "--format", "json", "templates/{{cookiecutter.modelname}}/modeling.py",
                    cwd=tmp_path)
    assert [f["rule"] for f in json.loads(named.stdout)] == ["TL000"]


def test_exclude_and_extend_exclude_on_the_command_line_and_in_config(tmp_path):
    for folder in ("gen", "legacy", "app"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "m.py").write_text("import torch\nx = torch.device('cuda')\n")
    (tmp_path / "pyproject.toml").write_text('[tool.torchlint]\nexclude = ["gen/*"]\nextend-exclude = ["legacy/*"]\n')

    def linted(*args: str) -> list[str]:
        proc = run_cli("check", "--no-cache", "--format", "json", *args, ".", cwd=tmp_path)
        return sorted({f["path"] for f in json.loads(proc.stdout)})

    assert linted() == ["app/m.py"]
    assert linted("--exclude", "app/*") == ["gen/m.py"]  # replaces `exclude`, keeps `extend-exclude`
    assert linted("--extend-exclude", "app/*") == []
    assert linted("--exclude", "app/*", "--exclude", "gen/*") == []
