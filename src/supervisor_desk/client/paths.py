"""Where the desktop keeps its files: the one resolver of every folder it writes to.

``platformdirs`` gives the platform's folders (XDG on Linux, ``AppData`` on Windows,
``Library`` on macOS). ``SUPERVISOR_DESK_HOME=/some/dir`` puts everything under that one folder
instead (a portable install, a test profile), one sub-folder per kind. Nothing here creates a
folder: whoever writes a file makes its parent, off the Qt thread where it matters.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_ID = "supervisor-desk"  # the folder name everywhere (same as supervisor_desk.APP_ID)
HOME_ENV = "SUPERVISOR_DESK_HOME"

PREFERENCES_FILE = "preferences.json"
UI_STATE_FILE = "ui-state.ini"
LOG_FILE = "supervisor-desk.log"


def _home() -> Path | None:
    home = os.environ.get(HOME_ENV)
    return Path(home) if home else None


def config_dir() -> Path:
    """Preferences and window/table layout (small files the user may back up)."""
    home = _home()
    return home / "config" if home else platformdirs.user_config_path(APP_ID)


def data_dir() -> Path:
    """Data the app keeps between runs that is not a setting."""
    home = _home()
    return home / "data" if home else platformdirs.user_data_path(APP_ID)


def cache_dir() -> Path:
    """Anything that can be thrown away and rebuilt (indexes, downloaded previews)."""
    home = _home()
    return home / "cache" if home else platformdirs.user_cache_path(APP_ID)


def state_dir() -> Path:
    """Run-time state that outlives a run but is not worth a backup."""
    home = _home()
    return home / "state" if home else platformdirs.user_state_path(APP_ID)


def log_dir() -> Path:
    """The rotating log file's folder."""
    home = _home()
    return home / "logs" if home else platformdirs.user_log_path(APP_ID)


def preferences_path() -> Path:
    return config_dir() / PREFERENCES_FILE


def ui_state_path() -> Path:
    """QSettings (IniFormat) file for window and table layout, beside the preferences."""
    return config_dir() / UI_STATE_FILE


def log_path() -> Path:
    return log_dir() / LOG_FILE
