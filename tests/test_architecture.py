"""The layering holds: ``handlers -> bot -> storage``, never back up."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAY_NOT_IMPORT = {
    "bot": ("handlers",),
    "storage": ("bot", "handlers"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(MAY_NOT_IMPORT))
def test_no_import_runs_back_up_a_layer(package: str) -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name in sorted(_imports(path))
        if name.split(".")[0] in MAY_NOT_IMPORT[package]
    ]
    assert wrong == []


def test_the_layering_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from handlers.telegram import TelegramHandler\nimport bot.engine\n")
    assert _imports(module) == {"handlers.telegram", "bot.engine"}


SIZE_LIMIT = 500
"""500 lines: a module longer than this says in its docstring why it is one piece."""


def test_no_module_is_longer_than_about_500_lines_without_saying_why() -> None:
    too_long = []
    for package in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            lines = path.read_text(encoding="utf-8").count("\n")
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            if lines > SIZE_LIMIT and "one piece" not in docstring.lower():
                too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert too_long == []
