"""SQLite's faults in the store's terms: a full disk is StoreFull, a locked, read-only or
failing database StoreUnavailable; anything else is a bug and stays what it was."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from functools import wraps

from supervisor_desk.hub.store.faults import translating
from supervisor_desk.hub.store.interface import StoreFull, StoreUnavailable


def store_fault(exc: BaseException) -> StoreUnavailable | None:
    """The store error a SQLite exception means, or ``None`` when it is not a fault of the
    database (a bug in a statement: it must surface as one)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return None
    text = str(exc).lower()
    if "full" in text:
        return StoreFull()
    if "locked" in text or "busy" in text:
        return StoreUnavailable(
            "storage_busy", "the hub's database is locked by another process; nothing of this "
            "request was stored, retry later")
    if "disk i/o" in text or "readonly" in text or "read-only" in text:
        return StoreUnavailable(
            "storage_unavailable", "the hub cannot write to its database; nothing of this "
            "request was stored, retry later")
    if "no transaction is active" in text:
        # SQLite already rolled back after a fault (it does so on SQLITE_FULL).
        return StoreUnavailable(
            "storage_unavailable", "the hub could not complete the write; nothing of this "
            "request was stored, retry later")
    return None


def translated() -> contextlib.AbstractContextManager[None]:
    """Raise the store's error for a SQLite fault inside the block (chained to the cause)."""
    return translating((sqlite3.DatabaseError,), store_fault)


def faults_translated[**P, R](method: Callable[P, R]) -> Callable[P, R]:
    """:func:`translated` around a whole store method."""

    @wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        with translated():
            return method(*args, **kwargs)

    return call
