"""What every route module shares: the base path, the hub service dependency, raw JSON answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.responses import Response
from starlette.requests import HTTPConnection

from supervisor_desk.hub.service import HubService

API = "/api/v1"


def hub_service(connection: HTTPConnection) -> HubService:
    """The app's one :class:`HubService` (set by ``create_app``)."""
    service: HubService = connection.app.state.hub
    return service


# A route parameter ``service: Hub`` receives the running hub's service.
Hub = Annotated[HubService, Depends(hub_service)]


def raw_json(text: str, status_code: int = 200) -> Response:
    """A JSON answer assembled from stored JSON text (no parse/serialize round trip)."""
    return Response(content=text.encode("utf-8"), status_code=status_code,
                    media_type="application/json")
