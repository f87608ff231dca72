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
    routes_admin,
    routes_analytics,
    routes_auth,
    routes_feed,
    routes_files,
    routes_ingest,
    routes_sessions,
)
from supervisor_desk.hub.routing import API
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.transcribe.jobs import TranscriptionQueue, VoiceSettings
from supervisor_desk.models.wire import IngestBatch

ROUTERS = (
    routes_auth.router,
    routes_ingest.router,
    routes_feed.router,
    routes_sessions.router,
    routes_files.router,
    routes_admin.router,
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
    _document_ingest_body(app)
    return app


def _document_ingest_body(app: FastAPI) -> None:
    """Put ``IngestBatch`` in the OpenAPI components: ``/ingest`` reads its body itself (to
    bound and stream it), so FastAPI does not see the model its ``$ref`` points at."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document = app.openapi_schema
        if document is None:
            document = generate()  # cached by FastAPI: this runs once
            batch = IngestBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in batch.pop("$defs", {}).items():
                schemas.setdefault(name, definition)
            schemas["IngestBatch"] = batch
        return document

    app.openapi = openapi  # type: ignore[method-assign]
