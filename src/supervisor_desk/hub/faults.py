"""Storage faults as answers: a full disk or a locked database is 503, not a crash.

SQLite reports both as exceptions from the writer thread. Without this they reach the generic
500 handler, which tells the platform "bug" when the truth is "try again later": ingest clients
(the simulator, real platforms) retry a 503 with backoff, and nothing of the failed batch was
stored (the transaction rolled back), so a retry is safe.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from supervisor_desk.hub.errors import error_body
from supervisor_desk.hub.storage import StorageError

log = logging.getLogger("supervisor_desk.hub")

RETRY_AFTER_SECONDS = 5


def classify(exc: BaseException) -> tuple[str, str] | None:
    """``(code, message)`` for a storage fault worth a 503, else ``None`` (a real bug)."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError | sqlite3.DatabaseError):
        if "full" in text:
            return ("storage_full",
                    "the hub's disk is full; nothing of this request was stored, retry later")
        if "locked" in text or "busy" in text:
            return ("storage_busy",
                    "the hub's database is locked by another process; nothing of this request "
                    "was stored, retry later")
        if "disk i/o" in text or "readonly" in text or "read-only" in text:
            return ("storage_unavailable",
                    "the hub cannot write to its database; nothing of this request was stored, "
                    "retry later")
        if "no transaction is active" in text:
            # SQLite already rolled back after a fault (it does so on SQLITE_FULL).
            return ("storage_unavailable",
                    "the hub could not complete the write; nothing of this request was stored, "
                    "retry later")
        return None
    if isinstance(exc, StorageError) and "closed" in text:
        return ("unavailable", "the hub is shutting down; retry in a moment")
    return None


def install(app: FastAPI) -> None:
    async def _storage_fault(request: Request, exc: Exception) -> JSONResponse:
        found = classify(exc)
        if found is None:
            log.exception("unexpected storage error on %s %s", request.method, request.url.path)
            return JSONResponse(
                error_body("internal_error", "the hub hit an unexpected error; see its log"),
                status_code=500,
            )
        code, message = found
        log.warning("%s on %s %s: %s", code, request.method, request.url.path, exc)
        return JSONResponse(
            error_body(code, message),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.add_exception_handler(sqlite3.DatabaseError, _storage_fault)
    app.add_exception_handler(StorageError, _storage_fault)
