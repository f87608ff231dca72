"""Ctrl+C and SIGTERM before the app's event loop runs: remembered, then honoured as Quit.

Python turns SIGINT into a KeyboardInterrupt wherever the main thread happens to be. During
start-up that is inside PySide6's imports (it leaves Qt's enums half-built: an AttributeError
later) or inside a Qt callback (a crash). So from the first line of ``main`` until the Qt loop
installs its own handlers (``posix_signals.QuitOnSignal.install``), the signal is only noted;
the installed handler then quits at once, with the usual exit status.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_received: list[int] = []


def hold() -> None:
    """Note SIGINT/SIGTERM instead of acting on them (POSIX; Windows keeps Python's way)."""
    if sys.platform == "win32":
        return
    for signum in QUIT_SIGNALS:
        signal.signal(signum, _remember)


def _remember(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


def take() -> int | None:
    """The first signal noted since :func:`hold` (and forget them all), or None."""
    first = _received[0] if _received else None
    _received.clear()
    return first
