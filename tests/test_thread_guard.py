"""The thread-leak guard of tests/conftest.py reports a leak, names it, and nothing else."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import tests.conftest as suite_conftest

SCENARIOS = '''
import threading

import pytest

release = threading.Event()


def test_leaks_a_thread() -> None:
    threading.Thread(target=release.wait, name="leaky-worker", daemon=True).start()


def test_joins_its_thread() -> None:
    done = threading.Thread(target=lambda: None, name="tidy-worker")
    done.start()  # ended before the test is over: not a leak


def test_thread_that_ends_within_the_grace() -> None:
    stop = threading.Event()
    threading.Thread(target=stop.wait, args=(5,), name="slow-to-end").start()
    threading.Timer(0.2, stop.set).start()


@pytest.fixture(scope="module")
def pool() -> object:
    stop = threading.Event()
    yield stop
    stop.set()


def test_module_fixture_thread_started_during_the_test(pool: threading.Event) -> None:
    # A module-scoped resource growing a worker on demand: it ends with the module.
    threading.Thread(target=pool.wait, name="module-pool-worker", daemon=True).start()
'''


def test_guard_names_leaked_threads_only(tmp_path: Path) -> None:
    shutil.copy(suite_conftest.__file__, tmp_path / "conftest.py")
    (tmp_path / "test_scenarios.py").write_text(SCENARIOS, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8"
    )

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    out = result.stdout + result.stderr
    assert "test_leaks_a_thread left threads running: leaky-worker (Thread)" in out, out
    for innocent in ("tidy-worker", "slow-to-end", "module-pool-worker", "Timer"):
        assert f"{innocent} (" not in out, out
    if suite_conftest.THREAD_LEAKS_FAIL:
        assert result.returncode == 1 and "1 error" in out, out
    else:
        assert result.returncode == 0 and "ThreadLeakWarning" in out, out
