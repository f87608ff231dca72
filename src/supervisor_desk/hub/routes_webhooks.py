"""Webhook endpoints, for admins: register, list, remove, deliveries and replay of dead ones.

The same operations as ``supervisor-hub webhook ...``; the permission is ``tokens:manage``
(role ``admin``): an endpoint's secret is a credential, like a token.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from supervisor_desk.hub import auth
from supervisor_desk.hub.errors import ApiError
from supervisor_desk.hub.routing import API, Hub
from supervisor_desk.hub.store import webhooks as webhook_rules
from supervisor_desk.hub.store.interface import Principal
from supervisor_desk.hub.store.webhooks import WebhookError

ADMIN = auth.Authorize("tokens:manage")
EventName = Literal[
    "session.started", "session.updated", "message.created", "message.updated",
    "session.ended", "log.appended", "session.handover",
]
WebhookId = Annotated[str, Path(min_length=1, max_length=100)]

router = APIRouter(prefix=API)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookRequest(_Strict):
    url: Annotated[str, Field(max_length=2000, pattern=webhook_rules.URL_PATTERN)]
    events: Annotated[list[EventName], Field(max_length=20)] = []
    secret: Annotated[str | None, Field(pattern=webhook_rules.SECRET_PATTERN)] = None


class WebhookInfo(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(WebhookInfo):
    secret: str


class WebhookList(BaseModel):
    items: list[WebhookInfo]


class DeliveryInfo(BaseModel):
    id: int
    webhook_id: str
    message_id: str
    session_id: str
    event_type: str
    state: Literal["pending", "delivered", "dead"]
    attempts: int
    created_at: str
    next_attempt_at: str | None
    last_status: int | None
    last_error: str | None
    delivered_at: str | None


class DeliveryList(BaseModel):
    items: list[DeliveryInfo]


class ReplayRequest(_Strict):
    delivery_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=10**15)]], Field(max_length=1000)
    ] = []


class ReplayAnswer(BaseModel):
    replayed: int


class RemoveAnswer(BaseModel):
    removed: bool


def _invalid(exc: WebhookError) -> ApiError:
    return ApiError(422, "invalid_request", str(exc), [
        {"loc": ["body"], "field": "body", "message": str(exc), "type": "value_error"}])


async def _existing(service: Hub, webhook_id: str) -> webhook_rules.Webhook:
    hook = await service.read(service.storage.webhook, webhook_id)
    if hook is None:
        raise ApiError(404, "not_found", f"no webhook {webhook_id!r}")
    return hook


@router.post("/webhooks", response_model=WebhookCreated, status_code=201,
             description="Register an endpoint. `events` empty means every event type. The "
             "answer holds the signing secret (generated unless given as whsec_<base64>).")
async def add_webhook(body: WebhookRequest, principal: Annotated[Principal, Depends(ADMIN)],
                      service: Hub) -> WebhookCreated:
    try:
        hook = await service.write(service.storage.add_webhook, body.url, body.events,
                                   body.secret)
    except WebhookError as exc:
        raise _invalid(exc) from None
    return WebhookCreated.model_validate(hook.public(with_secret=True))


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(principal: Annotated[Principal, Depends(ADMIN)],
                        service: Hub) -> WebhookList:
    hooks = await service.read(service.storage.webhooks)
    return WebhookList.model_validate({"items": [h.public() for h in hooks]})


@router.delete("/webhooks/{webhook_id}", response_model=RemoveAnswer,
               description="Remove an endpoint; its pending deliveries are not sent.")
async def remove_webhook(webhook_id: WebhookId, principal: Annotated[Principal, Depends(ADMIN)],
                         service: Hub) -> RemoveAnswer:
    if not await service.write(service.storage.remove_webhook, webhook_id):
        raise ApiError(404, "not_found", f"no webhook {webhook_id!r}")
    return RemoveAnswer(removed=True)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryList,
            description="The endpoint's deliveries, newest first; `state=dead` lists the "
            "dead letters (retried for the whole retry window without success).")
async def webhook_deliveries(
    webhook_id: WebhookId, principal: Annotated[Principal, Depends(ADMIN)], service: Hub,
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    await _existing(service, webhook_id)
    found = await service.read(service.storage.webhook_deliveries, webhook_id, state, limit)
    return DeliveryList.model_validate({"items": [d.public() for d in found]})


@router.post("/webhooks/{webhook_id}/replay", response_model=ReplayAnswer,
             description="Send dead deliveries again (the ones named, or all of the "
             "endpoint's), with a fresh retry window and the same webhook-id.")
async def replay_webhook(
    webhook_id: WebhookId, body: ReplayRequest,
    principal: Annotated[Principal, Depends(ADMIN)], service: Hub,
) -> ReplayAnswer:
    await _existing(service, webhook_id)
    count = await service.write(service.storage.replay_webhook, webhook_id, body.delivery_ids)
    return ReplayAnswer(replayed=count)
