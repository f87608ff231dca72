"""No token or password in the hub's logs, from any logger at any level.

uvicorn's and websockets' debug output quotes request headers (``authorization: Bearer sdh_…``
on every feed connection) through loggers the hub does not own, and records propagate to
handlers the hub does not own either (the desktop's in the demo, pytest's in tests). So the
redaction happens where every record is made: a log-record factory, installed once per process,
rewrites a record whose text holds a secret before any filter or handler sees it. Records with
nothing to hide are left untouched (their ``args`` intact for formatters that use them).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from supervisor_desk.models.redact import redact_record

_lock = threading.Lock()
_installed = False


def install_log_redaction() -> None:
    """Wrap the process's log-record factory with ``redact_record`` (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        make = logging.getLogRecordFactory()

        def redacting_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            redact_record(record)
            return record

        logging.setLogRecordFactory(redacting_factory)
        _installed = True
