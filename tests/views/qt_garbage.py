"""Qt garbage for the tests of where the cycle collector runs."""

from __future__ import annotations

import threading

from PySide6.QtCore import QTimer


class QtCycle:
    """Garbage only the cycle collector frees: a parentless running timer in a cycle, as any
    part of the app may leave behind; it records the thread that destroys it."""

    def __init__(self, destroyed_on: list[str]) -> None:
        self.timer = QTimer()
        self.timer.start(60_000)
        self.timer.destroyed.connect(
            lambda *_: destroyed_on.append(threading.current_thread().name))
        self.me = self
