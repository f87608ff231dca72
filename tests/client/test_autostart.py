"""Opt-in start at login: the XDG autostart entry a desktop session would run."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from supervisor_desk.client import autostart


def test_off_by_default_then_enable_writes_a_valid_entry_and_disable_removes_it(
        _isolated_profile: Path) -> None:
    assert not autostart.is_enabled()
    path = autostart.enable(["/opt/supervisor-desk/supervisor-desk"])
    assert path == _isolated_profile / "config" / "autostart" / "supervisor-desk.desktop"
    assert autostart.is_enabled()
    text = path.read_text()
    assert "Exec=/opt/supervisor-desk/supervisor-desk\n" in text
    assert "Icon=supervisor-desk\n" in text
    if shutil.which("desktop-file-validate"):
        res = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr
    autostart.disable()
    assert not path.exists()
    assert not autostart.is_enabled()
    autostart.disable()  # idempotent


def test_entry_disabled_by_the_desktop_counts_as_off() -> None:
    path = autostart.enable(["supervisor-desk"])
    path.write_text(path.read_text() + "Hidden=true\n")
    assert not autostart.is_enabled()


def test_paths_with_spaces_and_specials_are_quoted_for_exec() -> None:
    cmd = ["/home/a b/Supervisor Desk/supervisor-desk", "--hub=http://x/$y", "100%"]
    path = autostart.enable(cmd)
    exec_line = next(line for line in path.read_text().splitlines() if line.startswith("Exec="))
    assert exec_line == ('Exec="/home/a b/Supervisor Desk/supervisor-desk" '
                         '"--hub=http://x/\\\\$y" "100%%"')
    if shutil.which("desktop-file-validate"):
        res = subprocess.run(["desktop-file-validate", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, res.stdout + res.stderr


def test_launch_command_runs_this_app() -> None:
    cmd = autostart.launch_command()
    assert cmd
    assert Path(cmd[0]).exists()


@pytest.mark.parametrize("arg", ["plain", "/usr/bin/supervisor-desk", "--demo"])
def test_simple_arguments_stay_unquoted(arg: str) -> None:
    assert autostart.quote_exec_arg(arg) == arg
