"""installer/frozen_module.py: a frozen bundle runs ``-m supervisor_desk...`` like Python does.

The hub starts its transcription worker as ``sys.executable -m supervisor_desk.hub.transcribe``;
in the bundles sys.executable is supervisor-hub / supervisor-desk, whose entry points pass such
a command line here.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

INSTALLER = Path(__file__).resolve().parents[2] / "installer"


def _entry(*argv: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from frozen_module import run_module_if_asked; run_module_if_asked(); "
            "print('entry point continues')")
    return subprocess.run([sys.executable, "-c", code, str(INSTALLER), *argv],
                          capture_output=True, text=True, check=False, timeout=60)


def test_dash_m_runs_the_transcription_worker(tmp_path: Path) -> None:
    missing = tmp_path / "nothing.wav"
    result = _entry("-m", "supervisor_desk.hub.transcribe", str(missing), "--foreground")
    # The worker itself answered (its own error line about the file), not the entry point.
    assert "entry point continues" not in result.stdout
    assert "nothing.wav" in result.stdout + result.stderr


def test_other_command_lines_reach_the_entry_point() -> None:
    result = _entry("serve", "--port", "1")
    assert result.returncode == 0 and "entry point continues" in result.stdout


def test_only_our_modules_can_be_run() -> None:
    result = _entry("-m", "http.server")
    assert result.returncode != 0
    assert "runs only supervisor_desk modules" in result.stderr
    assert "entry point continues" not in result.stdout
