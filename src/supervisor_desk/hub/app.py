"""The hub's FastAPI application: built from one router per concern, nothing else.

Each ``routes_*`` module owns one ``APIRouter``; SQL lives in storage, rules in the models, and
every route's role check goes through ``auth.Authorize`` (the role test walks ``app.routes``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from supervisor_desk.hub import (
    errors,
    faults,
    routes_admin,
    routes_auth,
    routes_feed,
    routes_ingest,
    routes_sessions,
)
from supervisor_desk.hub.routing import API
from supervisor_desk.hub.service import HubService

ROUTERS = (
    routes_auth.router,
    routes_ingest.router,
    routes_feed.router,
    routes_sessions.router,
    routes_admin.router,
)


def create_app(service: HubService) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.attach(asyncio.get_running_loop())
        try:
            yield
        finally:
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
    errors.install(app)
    faults.install(app)
    for router in ROUTERS:
        app.include_router(router)
    return app
