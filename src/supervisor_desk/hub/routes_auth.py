"""Sign-in, sign-out, "who am I" and the hub's health (with its version)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from supervisor_desk import __version__
from supervisor_desk.hub import auth, revocation
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.service import HubService
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.models.wire import (
    PERMISSIONS,
    HubHealth,
    LoginAnswer,
    LoginRequest,
    MeAnswer,
    format_timestamp,
)

router = APIRouter(prefix=API)


@router.post("/auth/login", response_model=LoginAnswer)
async def login(body: LoginRequest, request: Request, service: Hub) -> Response:
    address = request.client.host if request.client else "?"
    throttle = service.throttle
    # One attempt at a time per (name, address): parallel guesses cannot slip past the count.
    async with throttle.turn(body.username, address):
        verdict = await _throttled(service, throttle.verdict, body.username, address)
        if verdict.refuse_for is not None:
            wait = int(verdict.refuse_for) + 1
            raise ApiError(
                429, "too_many_attempts", f"too many failed sign-ins; try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        # A known address over the limit is slowed down, never refused.
        await asyncio.sleep(verdict.delay)
        user_id, name, role = await _check(service, body, address)
    token, expires = await service.write(
        lambda: service.storage.create_token(
            f"login:{name}", role, user_id=user_id, ttl=service.login_ttl
        )
    )
    assert expires is not None
    return JSONResponse(
        {"token": token, "expires_at": format_timestamp(expires),
         "user": {"id": user_id, "name": name}, "role": role}
    )


@router.post("/auth/logout")
async def logout(
    principal: Annotated[Principal, Depends(auth.ANY)], service: Hub
) -> dict[str, bool]:
    await service.write(service.storage.revoke_token, principal.token_hash)
    revocation.revoked_now(service)
    return {"revoked": True}


@router.get("/health", response_model=HubHealth)
async def health(_principal: Annotated[Principal, Depends(auth.ANY)]) -> dict[str, Any]:
    """The hub answers, and its version (the desktop's Help → About shows it)."""
    return {"status": "ok", "version": __version__}


@router.get("/me", response_model=MeAnswer)
async def me(principal: Annotated[Principal, Depends(auth.ANY)]) -> dict[str, Any]:
    return {
        "user": auth.user_ref(principal),
        "role": principal.role,
        "permissions": list(PERMISSIONS.get(principal.role, ())),
    }


async def _check(service: HubService, body: LoginRequest, address: str) -> tuple[str, str, str]:
    """The user's ``(id, name, role)``, or 401 (the same for an unknown name)."""
    found = await service.read(service.storage.check_password, body.username, body.password)
    if found is None:
        await _throttled(service, service.throttle.failed, body.username, address)
        raise ApiError(401, "invalid_credentials", "wrong user name or password")
    await _throttled(service, service.throttle.succeeded, body.username, address)
    return found


async def _throttled[T](service: HubService, fn: Callable[[str, str], T], name: str,
                        address: str) -> T:
    """``fn(name, address)`` of the throttle: in a reader thread when its counts are in the
    database (several replicas), inline when they are in this process's memory."""
    if service.throttle.shared:
        return await service.read(fn, name, address)
    return fn(name, address)
