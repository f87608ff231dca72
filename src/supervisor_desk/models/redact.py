"""Secrets out of text that leaves the process: log files, the crash dialog, bug reports.

Shared by the desktop (its log handler and crash dialog) and the hub (every log record). Tokens
and passwords live only in memory and the keyring; this is the second line of defence
for an exception message or a third-party debug line that happens to quote one.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_PATTERNS = (
    # Authorization headers, whatever the token looks like (first: it takes the whole token).
    (re.compile(r"(?i)\b(bearer)(\s+|%20)[A-Za-z0-9._~+/\-=]+"), r"\1 " + REDACTED),
    # Hub tokens anywhere else have a recognisable prefix.
    (re.compile(r"sdh_[A-Za-z0-9_\-]{6,}"), "sdh_" + REDACTED),
    # JSON or form fields named like secrets: "password": "...", token=...
    (re.compile(r'(?i)("?(?:password|passwd|token|secret)"?\s*[:=]\s*)("[^"]*"|\'[^\']*\'|[^\s,&}]+)'),
     r"\1" + f'"{REDACTED}"'),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_record(record: logging.LogRecord) -> None:
    """Redact a log record's message (``args`` merged in, so a token passed as an argument is
    caught too), traceback and stack in place. A record with nothing to hide keeps its
    ``msg``/``args`` as they are, for formatters that use them."""
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the raw template
        record.msg, record.args = redact(str(record.msg)), None
    else:
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """On a handler: the message and traceback are redacted before anything is written."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True
