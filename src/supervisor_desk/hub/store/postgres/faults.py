"""PostgreSQL's faults in the store's terms: a full disk is StoreFull; a lost, refused or
shutting-down connection StoreUnavailable (503); a lock conflict ``storage_busy``; anything
else is a bug and stays what it was."""

from __future__ import annotations

import contextlib

import psycopg
import psycopg_pool
from psycopg import errors as pg_errors

from supervisor_desk.hub.store.faults import translating
from supervisor_desk.hub.store.interface import StoreFull, StoreUnavailable


def store_fault(exc: BaseException) -> StoreUnavailable | None:
    """The store error a psycopg exception means, or ``None`` for a bug in a statement."""
    if isinstance(exc, pg_errors.DiskFull | pg_errors.OutOfMemory):
        return StoreFull()
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.DeadlockDetected
                  | pg_errors.SerializationFailure | pg_errors.QueryCanceled):
        return StoreUnavailable(
            "storage_busy", "the hub's database is busy; nothing of this request was stored, "
            "retry later")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError
                  | psycopg_pool.PoolTimeout | pg_errors.AdminShutdown
                  | pg_errors.CannotConnectNow | pg_errors.ReadOnlySqlTransaction):
        return StoreUnavailable(
            "storage_unavailable", "the hub cannot reach its database; nothing of this "
            "request was stored, retry later")
    return None


def translated() -> contextlib.AbstractContextManager[None]:
    """Raise the store's error for a database fault inside the block (chained to the cause)."""
    return translating((psycopg.Error, psycopg_pool.PoolTimeout), store_fault)
