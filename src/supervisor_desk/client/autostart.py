"""Opt-in "start at login" without Qt.

Linux and other freedesktop systems: an XDG autostart entry in
``$XDG_CONFIG_HOME/autostart/supervisor-desk.desktop`` (what GNOME, KDE, XFCE… run at login).
macOS: a per-user LaunchAgent plist in ``~/Library/LaunchAgents``. Windows: the Inno Setup
installer offers it (HKCU ``Run``); ``supported()`` is False there so the app hides the toggle.

Nothing is written until the user turns it on; turning it off removes the file. The entry
launches the same executable that is running now (the installed bundle, or the checkout's
console script during development).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import sys
from pathlib import Path

from supervisor_desk.models.atomic_file import write_atomically

APP_ID = "supervisor-desk"
BUNDLE_ID = "io.github.supervisordesk.SupervisorDesk"
INSTALLED_LAUNCHER = Path("/usr/bin/supervisor-desk")

_EXEC_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def supported() -> bool:
    return sys.platform.startswith(("linux", "freebsd", "openbsd", "netbsd")) or (
        sys.platform == "darwin")


def launch_command() -> list[str]:
    """The command that starts this app the way it is installed."""
    if getattr(sys, "frozen", False):  # PyInstaller bundle: the bootloader is sys.executable
        return [sys.executable]
    if INSTALLED_LAUNCHER.exists():
        return [str(INSTALLED_LAUNCHER)]
    script = shutil.which(APP_ID)
    if script:
        return [script]
    return [sys.executable, "-m", "supervisor_desk"]


def entry_path() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "LaunchAgents" / f"{BUNDLE_ID}.plist"
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "autostart" / f"{APP_ID}.desktop"


def quote_exec_arg(arg: str) -> str:
    """Quote one argument for a desktop entry ``Exec`` key (Desktop Entry spec, "Exec key").

    Inside double quotes ``"``, `````, ``$`` and ``\\`` are backslash-escaped; then, because
    Exec is a string value, every backslash is escaped once more.
    """
    if arg and not (set(arg) & _EXEC_RESERVED) and "%" not in arg and "=" not in arg:
        return arg
    inner = "".join("\\" + c if c in '"`$\\' else c for c in arg.replace("%", "%%"))
    return ('"' + inner + '"').replace("\\", "\\\\")


def desktop_entry(command: list[str]) -> str:
    exec_line = " ".join(quote_exec_arg(a) for a in command)
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        "Name=Supervisor Desk\n"
        "Comment=Start Supervisor Desk at login\n"
        f"Exec={exec_line}\n"
        "Icon=supervisor-desk\n"
        "Terminal=false\n"
        "X-GNOME-Autostart-enabled=true\n"
        "X-GNOME-Autostart-Delay=5\n"
    )


def launch_agent(command: list[str]) -> bytes:
    return plistlib.dumps({
        "Label": BUNDLE_ID,
        "ProgramArguments": command,
        "RunAtLoad": True,
        "ProcessType": "Interactive",
    })


def is_enabled() -> bool:
    path = entry_path()
    if not path.is_file():
        return False
    if sys.platform == "darwin":
        return True
    # A user (or a desktop's settings panel) may disable an entry without deleting it.
    lines = {line.strip().lower() for line in path.read_text(errors="replace").splitlines()}
    return "hidden=true" not in lines and "x-gnome-autostart-enabled=false" not in lines


def enable(command: list[str] | None = None) -> Path:
    """Write the login entry (atomically) and return its path."""
    if not supported():
        raise OSError(f"start at login is set by the installer on {sys.platform}")
    command = command or launch_command()
    path = entry_path()
    data = (launch_agent(command) if sys.platform == "darwin"
            else desktop_entry(command).encode("utf-8"))
    return write_atomically(path, data)


def disable() -> None:
    entry_path().unlink(missing_ok=True)
