"""Secrets out of the desktop's log files and crash dialog: the patterns live in
:mod:`supervisor_desk.models.redact`, shared with the hub (which must not import client/)."""

from __future__ import annotations

from supervisor_desk.models.redact import REDACTED, RedactingFilter, redact

__all__ = ["REDACTED", "RedactingFilter", "redact"]
