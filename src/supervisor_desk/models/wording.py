"""Counts and times in words, as the tables and cards say them: "1 session", "5 minutes ago"."""

from __future__ import annotations

from enum import StrEnum


class StartedDisplay(StrEnum):
    """How a table's Start column reads: "5 minutes ago" or the clock time (a preference)."""

    RELATIVE = "relative"
    CLOCK = "clock"


# The widest text format_ago can produce, for column widths that never elide.
WIDEST_AGO = "59 minutes ago"


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``1 session``, ``2 sessions``, ``1,204 sessions``."""
    word = noun if count == 1 else (plural_noun or f"{noun}s")
    return f"{count:,} {word}"


def format_ago(seconds: float) -> str:
    """How long ago, to the unit a reader needs: ``just now``, ``5 minutes ago``, ``2 days ago``.

    A moment in the future (clock skew between a platform and this desktop) reads "just now".
    """
    whole = int(seconds)
    if whole < 10:
        return "just now"
    if whole < 60:
        return f"{plural(whole, 'second')} ago"
    if whole < 3600:
        return f"{plural(whole // 60, 'minute')} ago"
    if whole < 86400:
        return f"{plural(whole // 3600, 'hour')} ago"
    return f"{plural(whole // 86400, 'day')} ago"
