"""models/ and client/ stay Qt-free: they must import and work without PySide6 or qasync."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "supervisor_desk"
QT_FREE = ("models", "client")
FORBIDDEN = ("PySide6", "qasync", "shiboken6")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_qt_free_layers_do_not_import_qt() -> None:
    offenders = [
        f"{path.relative_to(SRC)} imports {name}"
        for package in QT_FREE
        for path in (SRC / package).rglob("*.py")
        for name in _imports(path)
        if name in FORBIDDEN
    ]
    assert offenders == []


def test_qt_free_layers_import_without_qt_loaded() -> None:
    """Importing every module of models/ and client/ must not pull PySide6 in transitively."""
    modules = [
        "supervisor_desk." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        for package in QT_FREE
        for path in (SRC / package).rglob("*.py")
        if path.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
