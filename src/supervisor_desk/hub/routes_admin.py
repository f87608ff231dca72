"""Admin routes: revoke a user's sign-ins or an API token (role with ``tokens:manage``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from supervisor_desk.hub import auth, revocation
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.models.wire import RevokeAnswer, RevokeRequest

TOKENS = auth.Authorize("tokens:manage")

router = APIRouter(prefix=API)


@router.post(
    "/admin/revoke",
    response_model=RevokeAnswer,
    description="Revoke every token of a user (`user`: their sign-ins and tokens) or every "
    "API token with a label (`label`). Open feed sockets using them are closed with 4401 "
    "within seconds.",
)
async def revoke(
    body: RevokeRequest, principal: Annotated[Principal, Depends(TOKENS)], service: Hub
) -> RevokeAnswer:
    if (body.user is None) == (body.label is None):
        raise ApiError(422, "invalid_request", "give exactly one of user or label", [
            {"loc": ["body"], "field": "body", "message": "exactly one of user, label",
             "type": "value_error"}
        ])
    count = await service.write(
        lambda: service.storage.revoke_tokens(user=body.user, label=body.label)
    )
    if count is None:
        raise ApiError(404, "not_found", f"no user named {body.user!r}")
    revocation.revoked_now(service)
    return RevokeAnswer(revoked=count)
