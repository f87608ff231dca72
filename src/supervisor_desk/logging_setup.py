"""The desktop's log: a rotating file in the log folder, warnings on stderr, tokens redacted."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from supervisor_desk.client.paths import log_dir, log_path
from supervisor_desk.client.redact import RedactingFilter

__all__ = ["log_dir", "setup_logging"]

MAX_BYTES = 2_000_000
BACKUPS = 3


def setup_logging(level: int = logging.INFO) -> Path:
    """Log to a rotating file (and warnings to stderr). Tokens are never logged anywhere.

    Calling it again (tests, ``open`` after the app) replaces our handlers rather than
    adding a second set.
    """
    path = log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_supervisor_desk", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
    )
    file_handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    stderr_handler = logging.StreamHandler(sys.stderr)
    stderr_handler.setLevel(logging.WARNING)
    stderr_handler.setFormatter(logging.Formatter("supervisor-desk: %(levelname)s %(message)s"))
    handlers: tuple[logging.Handler, ...] = (file_handler, stderr_handler)
    for handler in handlers:
        setattr(handler, "_supervisor_desk", True)  # noqa: B010 (ours to replace on a re-call)
        handler.addFilter(RedactingFilter())  # a token quoted in an error never hits the disk
        root.addHandler(handler)
    root.setLevel(level)
    # Request lines at INFO for every REST call would drown the log; errors still show.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    return path
