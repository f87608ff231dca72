"""Log lines that an attacker can trigger at will, limited so they cannot fill the disk."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """At most ``burst`` lines per ``period`` seconds; the first line after a quiet spell says
    how many similar lines were left out, so nothing is hidden, only counted."""

    def __init__(self, logger: logging.Logger, *, period: float = 60.0, burst: int = 10) -> None:
        self.logger = logger
        self.period = period
        self.burst = burst
        self._window_start = -period
        self._in_window = 0
        self.suppressed = 0

    def warning(self, message: str, *args: object) -> bool:
        """Log ``message % args`` at WARNING unless over the limit; ``True`` if it was logged."""
        now = time.monotonic()
        if now - self._window_start >= self.period:
            self._window_start = now
            self._in_window = 0
        if self._in_window >= self.burst:
            self.suppressed += 1
            return False
        self._in_window += 1
        if self.suppressed:
            message += " (%d similar lines left out before this one)"
            args = (*args, self.suppressed)
            self.suppressed = 0
        self.logger.warning(message, *args)
        return True
