"""The hub's FastAPI application: built from one router per concern, nothing else.

Each ``routes_*`` module owns one ``APIRouter``; SQL lives in storage, rules in the models, and
every route's role check goes through ``auth.Authorize`` (the role test walks ``app.routes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from supervisor_desk.hub import (
    errors,
    faults,
    openapi,
    routes_admin,
    routes_analytics,
    routes_auth,
    routes_feed,
    routes_files,
    routes_ingest,
    routes_sessions,
    routes_webhooks,
)
from supervisor_desk.hub.routing import API, SessionIdSegment
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.transcribe.jobs import TranscriptionQueue, VoiceSettings

ROUTERS = (
    routes_auth.router,
    routes_ingest.router,
    routes_feed.router,
    routes_sessions.router,
    routes_files.router,
    routes_admin.router,
    routes_webhooks.router,
    routes_analytics.router,
)


def create_app(service: HubService, voice: VoiceSettings | None = None) -> FastAPI:
    transcription = TranscriptionQueue(service, voice or VoiceSettings.from_env())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.attach(asyncio.get_running_loop())
        await transcription.start()
        try:
            yield
        finally:
            await transcription.stop()
            service.detach()

    app = FastAPI(
        title="Supervisor Desk hub",
        version="1",
        openapi_url=f"{API}/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.hub = service
    app.state.voice = transcription
    errors.install(app)
    faults.install(app)
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(SessionIdSegment)
    _exact_openapi(app)
    return app


def _exact_openapi(app: FastAPI) -> None:
    """Serve the completed document (see :mod:`hub.openapi`); built once, then cached."""
    generate = app.openapi

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.complete(app, generate())
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
