"""The layers hold: the import-linter contracts in pyproject.toml pass, and they bite.

``lint-imports`` checks the static import graph (``[tool.importlinter]`` in pyproject.toml;
docs/architecture.md explains the layers). Two gaps of a static graph are covered here too:
every contract is shown to catch a planted violation (a contract naming a module that no
longer matches the layout would otherwise pass vacuously), every top-level module must be
placed in some contract, and a fresh interpreter proves that importing models/ and client/ loads
no Qt even through a third-party package or an ``importlib`` call, which the graph cannot see.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "supervisor_desk"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
QT = ("PySide6", "qasync", "shiboken6")

# One planted import per contract: (contract id, module to create, its source).
PLANTED = [
    (
        "desktop-layers",
        "supervisor_desk.models._planted",
        "from supervisor_desk.views import theme",
    ),
    ("hub-layers", "supervisor_desk.models._planted", "import supervisor_desk.hub.errors"),
    ("qt-free-core", "supervisor_desk.client._planted", "import qasync"),
    ("headless-hub", "supervisor_desk.hub._planted", "from PySide6 import QtCore"),
    (
        "hub-independent-of-desktop",
        "supervisor_desk.hub._planted",
        "from supervisor_desk.client import redact",
    ),
    (
        "simulator-is-a-platform",
        "supervisor_desk.simulator._planted",
        "from supervisor_desk.hub import storage",
    ),
    (
        "desktop-reaches-hub-over-network",
        "supervisor_desk.views._planted",
        "from supervisor_desk.hub import embedded",
    ),
    ("views-io-through-client", "supervisor_desk.views._planted", "import httpx"),
    ("pure-models", "supervisor_desk.models._planted", "import httpx"),
    ("one-folder-resolver", "supervisor_desk.views._planted", "import platformdirs"),
]


def _config() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        config: dict[str, Any] = tomllib.load(file)["tool"]["importlinter"]
    return config


def _lint_imports(
    cwd: Path, *args: str, src: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if src is not None:  # a copy of the tree shadows the editable install
        env["PYTHONPATH"] = str(src)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_contracts_hold() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_contract_has_a_planted_violation() -> None:
    ids = {contract["id"] for contract in _config()["contracts"]}
    assert {contract_id for contract_id, _, _ in PLANTED} == ids


@pytest.mark.parametrize(("contract_id", "module", "source"), PLANTED, ids=[p[0] for p in PLANTED])
def test_contract_catches_a_planted_violation(
    tmp_path: Path, contract_id: str, module: str, source: str
) -> None:
    src = tmp_path / "src"
    shutil.copytree(SRC, src / "supervisor_desk", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    planted = src.joinpath(*module.split(".")).with_suffix(".py")
    assert planted.parent.is_dir(), f"{module}: its package is gone; update PLANTED"
    planted.write_text(source + "\n", encoding="utf-8")

    result = _lint_imports(tmp_path, "--contract", contract_id, src=src)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and module in result.stdout, result.stdout


def test_every_top_level_module_is_placed_in_a_contract() -> None:
    named: set[str] = set()
    for contract in _config()["contracts"]:
        # A layer may hold siblings: "a | b" (independent) or "a : b" (may import each other).
        layers = [
            name.strip() for layer in contract.get("layers", []) for name in re.split("[|:]", layer)
        ]
        containers = contract.get("containers", [])
        named.update(f"{c}.{layer}" for c in containers for layer in layers)
        if not containers:
            named.update(layers)
        named.update(contract.get("source_modules", []))
    top_level = {
        f"supervisor_desk.{path.stem}"
        for path in SRC.iterdir()
        if (path.suffix == ".py" and path.name != "__init__.py")
        or (path.is_dir() and (path / "__init__.py").exists())
    }
    assert sorted(top_level - named) == []


def test_qt_free_layers_import_without_qt_loaded() -> None:
    """Importing every module of models/ and client/ must not pull PySide6 in transitively."""
    modules = [
        "supervisor_desk." + ".".join(path.relative_to(SRC).with_suffix("").parts)
        for package in ("models", "client")
        for path in (SRC / package).rglob("*.py")
        if path.name != "__init__.py"
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in sys.modules if m.split('.')[0] in {QT!r}]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
