"""Bearer-token authentication and the one role check every endpoint goes through."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import HTTPConnection

from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.models.wire import PERMISSIONS


def bearer_token(headers: Mapping[str, str]) -> str | None:
    value = headers.get("authorization")
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 512:
        return None
    return token


async def authenticate(
    service: HubService, headers: Mapping[str, str], permission: str | None
) -> Principal:
    """The caller, or :class:`ApiError` 401 (no/invalid/expired token) or 403 (role lacks it)."""
    token = bearer_token(headers)
    if token is None:
        raise ApiError(401, "unauthorized", "a bearer token is required (Authorization header)")
    return admitted(await service.read(service.storage.principal, token), permission)


def admitted(principal: Principal | None, permission: str | None) -> Principal:
    """The token's principal if it may do ``permission``; else 401 (unknown or expired token)
    or 403 (its role lacks the permission)."""
    if principal is None:
        raise ApiError(401, "unauthorized", "the token is invalid or has expired")
    if permission is not None and permission not in PERMISSIONS.get(principal.role, ()):
        raise ApiError(
            403, "forbidden", f"the role {principal.role!r} may not do this ({permission})"
        )
    return principal


def user_ref(principal: Principal) -> dict[str, str]:
    """The ``{id, name}`` of the caller; API tokens are named by label, id from their hash."""
    if principal.user_id is not None:
        return {"id": principal.user_id, "name": principal.name}
    return {"id": "token:" + principal.token_hash[:12], "name": principal.name}


class Authorize:
    """FastAPI dependency: ``Depends(Authorize("sessions:read"))``.

    ``permission=None`` admits any valid token (``/me``, logout). Tests find this dependency on
    every route, so a route added without a role check fails them.
    """

    def __init__(self, permission: str | None) -> None:
        self.permission = permission

    async def __call__(self, connection: HTTPConnection) -> Principal:
        service: HubService = connection.app.state.hub
        return await authenticate(service, connection.headers, self.permission)


READ = Authorize("sessions:read")
LOGS = Authorize("logs:read")
EXPORT = Authorize("sessions:export")
HANDOVER = Authorize("sessions:handover")
EDIT_CONTACT = Authorize("contacts:edit")
INGEST = Authorize("events:ingest")
ANY = Authorize(None)
