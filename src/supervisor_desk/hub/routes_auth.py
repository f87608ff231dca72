"""Sign-in, sign-out and "who am I"."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from supervisor_desk.hub import auth, revocation
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.storage import Principal
from supervisor_desk.models.wire import (
    PERMISSIONS,
    LoginAnswer,
    LoginRequest,
    MeAnswer,
    format_timestamp,
)

router = APIRouter(prefix=API)


@router.post("/auth/login", response_model=LoginAnswer)
async def login(body: LoginRequest, request: Request, service: Hub) -> Response:
    address = request.client.host if request.client else "?"
    wait = service.throttle.retry_after(body.username, address)
    if wait is not None:
        raise ApiError(
            429, "too_many_attempts",
            f"too many failed sign-ins; try again in {int(wait) + 1} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    found = await service.read(service.storage.check_password, body.username, body.password)
    if found is None:
        service.throttle.failed(body.username, address)
        raise ApiError(401, "invalid_credentials", "wrong user name or password")
    service.throttle.succeeded(body.username)
    user_id, name, role = found
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


@router.get("/me", response_model=MeAnswer)
async def me(principal: Annotated[Principal, Depends(auth.ANY)]) -> dict[str, Any]:
    return {
        "user": auth.user_ref(principal),
        "role": principal.role,
        "permissions": list(PERMISSIONS.get(principal.role, ())),
    }
