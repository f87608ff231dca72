"""What every route module shares: the base path, the hub service dependency, raw JSON answers,
and how a session id travels in a path (one percent-encoded segment)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, unquote, unquote_to_bytes

from fastapi import Depends
from fastapi.responses import Response
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from supervisor_desk.hub.service import HubService

API = "/api/v1"
SESSIONS = f"{API}/sessions/"
# Words that name a route directly under /sessions/: a session with such an id could never be
# read, so ingest refuses them (422 reserved_id). tests/hub check this against the routes.
RESERVED_SESSION_IDS = frozenset({"metrics", "export", "import-audio"})


class SessionIdConvertor(Convertor[str]):
    """``{session_id:sid}``: exactly one path segment, percent-decoded (``a%2Fb`` is ``a/b``).

    The segment arrives still encoded: :class:`SessionIdSegment` keeps it so, which is what
    lets an id hold ``/`` and still be told from the sub-routes that follow it (``x%2Flogs`` is
    the session ``x/logs``; ``x/logs`` is the logs of ``x``).
    """

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("sid", SessionIdConvertor())


class SessionIdSegment:
    """ASGI middleware: route ``/sessions/<id>/...`` on the raw path's segments.

    The server decodes the path before routing, so ``%2F`` inside an id would become a segment
    separator. For a session path whose id segment holds a ``%``, the routed path keeps that
    segment as sent (the ``sid`` convertor decodes it); everything else is left untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._prefix = SESSIONS.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw: bytes | None = scope.get("raw_path")
            if raw is not None and raw.startswith(self._prefix):
                segment, slash, tail = raw[len(self._prefix):].partition(b"/")
                if b"%" in segment:
                    path = (
                        SESSIONS + segment.decode("latin-1") + slash.decode()
                        + unquote_to_bytes(tail).decode("utf-8", "replace")
                    )
                    scope = {**scope, "path": path}
        await self.app(scope, receive, send)


def hub_service(connection: HTTPConnection) -> HubService:
    """The app's one :class:`HubService` (set by ``create_app``)."""
    service: HubService = connection.app.state.hub
    return service


async def _hub_dependency(connection: HTTPConnection) -> HubService:
    # A coroutine, so FastAPI calls it on the loop: a plain function dependency costs every
    # request a trip to a worker thread and back.
    return hub_service(connection)


# A route parameter ``service: Hub`` receives the running hub's service.
Hub = Annotated[HubService, Depends(_hub_dependency)]


def raw_json(text: str, status_code: int = 200) -> Response:
    """A JSON answer assembled from stored JSON text (no parse/serialize round trip)."""
    return Response(content=text.encode("utf-8"), status_code=status_code,
                    media_type="application/json")
