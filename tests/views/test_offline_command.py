"""``supervisor-desk open FILE`` as a real process: bad files, big files, Ctrl+C at any moment,
``--screenshot``/``--exit-after``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor_desk.models.export import export_header
from tests.models.export_samples import make_record

CLEAN_EXIT = (0, 130)


def _desk(*args: str | Path) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.Popen(
        [sys.executable, "-m", "supervisor_desk", *map(str, args)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


def _big_jsonl(path: Path, sessions: int) -> Path:
    """Many distinct sessions fast: one real record with its ids made unique per line."""
    template = make_record(1, n_messages=4).model_dump_json()
    with path.open("w", encoding="utf-8") as f:
        f.write(export_header().__repr__().replace("'", '"') + "\n")
        for i in range(sessions):
            f.write(template.replace("s0001", f"s{i:07d}").replace('"m1-', f'"m{i}-') + "\n")
    return path


def _log_has(profile: Path, text: str) -> Callable[[], bool]:
    log = profile / "logs" / "supervisor-desk.log"
    return lambda: log.exists() and text in log.read_text(encoding="utf-8", errors="replace")


def _wait_for(predicate: Callable[[], bool], process: subprocess.Popen[str],
              timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, f"exited early: {process.communicate()}"
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _assert_clean(process: subprocess.Popen[str], timeout: float = 30.0) -> int:
    _, err = process.communicate(timeout=timeout)
    assert process.returncode in CLEAN_EXIT, err
    assert "Traceback" not in err and "never retrieved" not in err, err
    return process.returncode


def test_a_deeply_nested_file_exits_2_with_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b'{"format": "supervisor-desk-export", "version": 1, "sessions": '
                     b'[{"session": ' + b"[" * 1_000_000 + b"]}")
    process = _desk("open", deep)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.count("\n") == 1 and "deep.json: session #1 is nested too deeply" in err


@pytest.mark.parametrize("moment", ["starting", "rows shown, still reading"])
def test_sigint_at_any_moment_of_a_big_load_exits_cleanly(
    tmp_path: Path, _isolated_profile: Path, moment: str
) -> None:
    path = _big_jsonl(tmp_path / "big.jsonl", 150_000)
    if moment == "starting":
        # Python and PySide6 still importing, Qt starting, the window being built: a
        # KeyboardInterrupt there broke Qt's enums (exit 1) or crashed in a Qt callback (-11).
        for delay in (0.05, 0.15, 0.3, 0.45):
            process = _desk("open", path)
            time.sleep(delay)
            process.send_signal(signal.SIGINT)
            assert _assert_clean(process) == 130, f"Ctrl+C {delay} s after start"
        return
    process = _desk("open", path)
    if moment != "starting":
        _wait_for(_log_has(_isolated_profile, "first 200 sessions shown"), process)
        assert not _log_has(_isolated_profile, "sessions read")()
    process.send_signal(signal.SIGINT)
    assert _assert_clean(process) == 130


def test_sigterm_after_the_load_and_exit_after_with_a_screenshot(
    tmp_path: Path, _isolated_profile: Path
) -> None:
    path = _big_jsonl(tmp_path / "small.jsonl", 300)
    shot = tmp_path / "shots" / "offline.png"
    process = _desk("--screenshot", shot, "--exit-after", "6", "open", path)
    assert _assert_clean(process, timeout=90) == 0
    assert _log_has(_isolated_profile, "300 sessions read, 0 skipped")()
    assert shot.read_bytes().startswith(b"\x89PNG")
    again = path.rename(tmp_path / "again.jsonl")  # its own log line
    process = _desk("open", again)
    _wait_for(_log_has(_isolated_profile, "again.jsonl: 300 sessions read"), process)
    process.send_signal(signal.SIGTERM)
    assert _assert_clean(process) == 130


def test_a_file_beyond_the_session_limit_is_refused_up_front(tmp_path: Path) -> None:
    from supervisor_desk.models.export import MAX_REVIEW_SESSIONS

    path = tmp_path / "everything.csv"
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("id,agent,channel,status,started_at\r\n")
        for i in range(MAX_REVIEW_SESSIONS * 13 // 10):
            f.write(f"s{i:07d},Bot,web,completed,2026-03-01T10:00:00.000Z\r\n")
    process = _desk("open", path)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2 and err.count("\n") == 1, err
    assert f"at most {MAX_REVIEW_SESSIONS:,} sessions" in err
    assert "export a filtered subset" in err
