"""SIGTERM and SIGINT become the app's own Quit, even while Qt's C++ loop is waiting.

Python runs a signal handler only when the interpreter gets control; Qt's loop may sleep in C++
for a long time. ``signal.set_wakeup_fd`` writes a byte to a socket on every signal, and a
``QSocketNotifier`` on the other end wakes Qt, so the handler runs at once. Windows has neither
(the app quits from its menus and the session manager there).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier, QTimer

from supervisor_desk.client import early_signals

log = logging.getLogger("supervisor_desk")

QUIT_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class QuitOnSignal(QObject):
    """Calls ``on_quit`` for SIGTERM/SIGINT between :meth:`install` and :meth:`restore`."""

    def __init__(self, on_quit: Callable[[], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._on_quit = on_quit
        self._notifier: QSocketNotifier | None = None
        self._socks: tuple[socket.socket, socket.socket] | None = None

    def install(self) -> None:
        if sys.platform == "win32" or self._socks is not None:
            return
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        self._socks = (reader, writer)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, self)
        notifier.activated.connect(self._on_notifier_activated)
        self._notifier = notifier
        for signum in QUIT_SIGNALS:
            signal.signal(signum, self._on_signal)
        early = early_signals.take()  # Ctrl+C while the app was still starting
        if early is not None:
            QTimer.singleShot(0, lambda: self._on_signal(early, None))

    def restore(self) -> None:
        """Back to the default handlers: a second SIGTERM after shutdown ends the process."""
        if self._socks is None:
            return
        for signum in QUIT_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        for sock in self._socks:
            sock.close()
        self._socks = None

    def _on_notifier_activated(self, *args: Any) -> None:
        if self._socks is not None:
            with contextlib.suppress(OSError):
                self._socks[0].recv(64)

    def _on_signal(self, signum: int, frame: Any) -> None:
        log.info("signal %s: quitting", signal.Signals(signum).name)
        self._on_quit()
