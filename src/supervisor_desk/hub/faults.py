"""Store faults as answers: a full disk or a database that cannot serve is 503, not a crash.

The store reports both as :class:`StoreUnavailable` (or its :class:`StoreFull`) from the
writer or reader threads. Without this they would reach the generic 500 handler, which tells
the platform "bug" when the truth is "try again later": ingest clients (the simulator, real
platforms) retry a 503 with backoff, and nothing of the failed batch was stored (the
transaction rolled back), so a retry is safe.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from supervisor_desk.hub.errors import error_body
from supervisor_desk.hub.store.interface import StoreUnavailable

log = logging.getLogger("supervisor_desk.hub")

RETRY_AFTER_SECONDS = 5


def install(app: FastAPI) -> None:
    async def _store_fault(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StoreUnavailable)
        cause = exc.__cause__
        log.warning("%s on %s %s: %s", exc.code, request.method, request.url.path,
                    cause if cause is not None else exc)
        return JSONResponse(
            error_body(exc.code, exc.message),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.add_exception_handler(StoreUnavailable, _store_fault)
