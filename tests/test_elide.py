"""Data tables are blanked before libcst parses a file: same findings, same positions, far less
memory; `--fix` never writes the blanked text."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from tests.conftest import run_cli
from torchlint.lint.elide import MIN_BYTES, elide_tables

ROWS = 500


def _table(kind: str = "dict") -> str:
    if kind == "dict":
        body = "\n".join(f"    {i}: ({i}, 'cuda', torch.float16)," for i in range(ROWS))
        return "{\n" + body + "\n}"
    body = "\n".join(f"    ({i}, 'NVIDIA A100', torch.float16, -{i}.5, None, 'cuda')," for i in range(ROWS))
    return "[\n" + body + "\n]"


def _module(table: str, tail: str = "") -> str:
    return (
        "import torch\n"
        "from transformers import AutoModel\n"
        f"TABLE: dict = {table}  # trailing comment\n"
        "class Server:\n"
        f"    KERNELS = {table}\n"
        "    def predict(self, x):\n"
        "        model = AutoModel.from_pretrained('m', device_map='auto', torch_dtype='auto')\n"
        "        return [model(t).tolist() for t in x]\n"
        f"{tail}"
    )


def test_tables_are_blanked_keeping_every_other_line_and_column():
    source = _module(_table()).encode()
    blanked, count = elide_tables(source, ast.parse(source))
    assert count == 2 and len(blanked) < len(source) / 10
    before, after = source.splitlines(), blanked.splitlines()
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    # Only the tables' own lines differ; the line closing each keeps what follows the bracket.
    assert all(before[i].startswith((b"    ", b"TABLE", b"}")) for i in changed)
    assert after[ROWS + 3] == before[ROWS + 3] == b"}  # trailing comment"
    ast.parse(blanked)  # and the names are still bound to a dict
    assert "TABLE" in blanked.decode() and "KERNELS = {" in blanked.decode()


@pytest.mark.parametrize(
    "table, why",
    [
        ("[" + ", ".join(f"f({i})" for i in range(4000)) + "]", "a call is not data"),
        ("{" + ", ".join(f"'k{i}': {i}" for i in range(10)) + ", **other}", "small"),
        ("{" + ", ".join(f"'k{i}': {i}" for i in range(3000)) + ", **other}", "`**` is not data"),
        ("[" + ", ".join(f"x[{i}]" for i in range(4000)) + "]", "a subscript is not data"),
    ],
)
def test_what_is_not_a_data_table_stays(table, why):
    source = f"T = {table}\n".encode()
    assert elide_tables(source, ast.parse(source)) == (source, 0), why


def test_tables_inside_functions_stay():
    source = ("def f():\n    t = " + _table() + "\n    return t\n").encode()
    assert elide_tables(source, ast.parse(source))[1] == 0


def test_single_line_and_crlf_tables_keep_columns():
    row = ", ".join(f"({i}, 'a')" for i in range(3000))
    source = f"T = [{row}]; y = x.cuda()\r\nz = 1\r\n".encode()
    blanked, count = elide_tables(source, ast.parse(source))
    assert count == 1 and blanked.index(b"; y = x.cuda()") == source.index(b"; y = x.cuda()")
    assert blanked.endswith(b"\r\nz = 1\r\n")
    multi = ("T = (\r\n" + ",\r\n".join(f"  ({i}, 'a')" for i in range(3000)) + "\r\n)\r\nz = 1\r\n").encode()
    blanked, count = elide_tables(multi, ast.parse(multi))
    assert count == 1 and blanked.count(b"\r\n") == multi.count(b"\r\n") and b"\n" not in blanked.replace(b"\r\n", b"")


def test_findings_are_those_of_the_whole_file(linter):
    tail = "DEVICE = 'cuda'\nx = torch.zeros(3).cuda()  # noqa: TL101\n"
    source = _module(_table("list"), tail).encode()
    assert len(source) > 3 * MIN_BYTES
    fast = linter.lint_source("big.py", source).findings
    full = linter.lint("big.py", source, elide=False).result.findings
    assert fast == full and {f.rule for f in fast} >= {"TL301", "TL302"}


def test_fix_keeps_the_table(tmp_path):
    path = tmp_path / "big.py"
    source = _module(_table())
    path.write_text(source)
    proc = run_cli("check", "--fix", "--no-cache", "--select", "TL302", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert path.read_text() == source.replace("[model(t).tolist() for t in x]", "[model(t).cpu().tolist() for t in x]")


def test_a_generated_torch_table_costs_a_fraction_of_its_parse():
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        pytest.skip("torch is not installed (it comes with the engine extra)")
    path = Path(spec.origin).parent / "sparse" / "_triton_ops_meta.py"
    if not path.exists():
        pytest.skip(f"{path} is not in this torch version")
    data = path.read_bytes()
    blanked, count = elide_tables(data, ast.parse(data))
    assert count >= 1 and len(blanked.strip()) < len(data) / 5
    assert blanked.count(b"\n") == data.count(b"\n")
