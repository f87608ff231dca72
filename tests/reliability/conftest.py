"""Figures of the fault tests: each test records what it injected; ``RELIABILITY_REPORT=path``
writes them as JSON at the end of the session (docs/reliability.md quotes them)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import mark_tests_under

FIGURES: list[dict[str, Any]] = []


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # One worker runs them all (make test runs workers side by side), so the figures written
    # at its session's end are every fault test's.
    mark_tests_under(Path(__file__).resolve().parent, items,
                     pytest.mark.xdist_group("reliability"))


def record(fault: str, runs: int, acknowledged: int, lost: int, max_recovery_s: float) -> None:
    FIGURES.append({"fault": fault, "runs": runs, "acknowledged": acknowledged, "lost": lost,
                    "max_recovery_s": round(max_recovery_s, 2)})


@pytest.fixture(scope="session", autouse=True)
def _write_figures() -> Iterator[None]:
    yield
    target = os.environ.get("RELIABILITY_REPORT")
    if target and FIGURES:
        Path(target).write_text(json.dumps(FIGURES, indent=1))
