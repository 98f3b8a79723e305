"""flake8 plugin: torchlint's rules as flake8 codes (`flake8 --select TL`), like TorchFix's
`flake8 --select TOR`. Registered under the `flake8.extension` entry point `TL`.

Each file is linted alone (flake8 hands over one file at a time, so facts from the project's
other modules are not available here; `torchlint check` has them). The nearest pyproject.toml
with [tool.torchlint] supplies parameters, roles and rule directories; flake8's own --select,
--ignore, --extend-ignore and `# noqa` decide which codes are shown.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator

from torchlint import __version__

# TL002 (unused suppression) judges `# noqa` comments, which flake8 owns here.
_NOT_FOR_FLAKE8 = {"TL002"}


class Plugin:
    name = "torchlint"
    version = __version__
    _linters: dict = {}

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]):
        self.filename = filename
        self.lines = lines

    @classmethod
    def _linter(cls, filename: str):
        from torchlint.checks import load_catalog
        from torchlint.config import find_pyproject, load_config
        from torchlint.lint import Linter

        config_path = find_pyproject(Path(filename).resolve().parent if filename not in ("-", "stdin") else Path.cwd())
        key = str(config_path)
        if key not in cls._linters:
            cfg = load_config(config_path)
            catalog = load_catalog(cfg.rule_dirs)
            rules = [r for r in catalog if r.id not in _NOT_FOR_FLAKE8]
            cls._linters[key] = Linter(catalog, rules, cfg)
        return cls._linters[key]

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        data = "".join(self.lines).encode("utf-8")
        linter = self._linter(self.filename)
        for f in linter.lint_source(self.filename, data).findings:
            yield f.line, max(f.column - 1, 0), f"{f.rule} {f.message}", type(self)
