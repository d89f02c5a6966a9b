"""Webhooks: operators register receivers of alert events and watch their deliveries."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from skyguard.alerts import webhooks
from skyguard.alerts.destinations import AllowList
from skyguard.api.deps import OperatorKey, SessionDep, SettingsDep
from skyguard.api.paging import clamp_limit, decode_cursor, encode_cursor, next_link, split_page
from skyguard.errors import InvalidInput
from skyguard.store import webhooks as store

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

EventType = Literal[
    "alert.opened", "alert.updated", "alert.closed", "alert.acknowledged", "alert.resolved"
]
DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]


class WebhookIn(BaseModel):
    """A receiver of alert events."""

    model_config = ConfigDict(extra="ignore")

    url: str = Field(
        max_length=2000,
        description="http(s) URL; hosts resolving to loopback, link-local, private, multicast "
        "or unspecified addresses are refused unless SKYGUARD_WEBHOOK_ALLOW_HOSTS permits them.",
    )
    events: list[EventType] | None = Field(
        default=None,
        description="Event types to deliver; default every one but alert.updated.",
    )


@router.post("", status_code=201, summary="Register a webhook")
async def create_webhook(
    body: WebhookIn,
    caller: OperatorKey,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """Deliveries are signed per Standard Webhooks with `secret`, returned this once only."""
    created = await webhooks.register(
        session,
        caller,
        url=body.url,
        events=body.events,
        allow=AllowList.parse(settings.webhook_allow_hosts),
        timeout_s=settings.webhook_timeout_s,
    )
    response.headers["Location"] = f"/v1/webhooks/{created['id']}"
    return created


@router.get("", summary="List webhooks")
async def list_webhooks(caller: OperatorKey, session: SessionDep) -> dict[str, Any]:
    """Every webhook, disabled ones included, oldest first; never their secrets."""
    return {"webhooks": [store.webhook_json(r) for r in await store.list_webhooks(session)]}


@router.get("/{webhook_id}", summary="One webhook")
async def get_webhook(
    webhook_id: uuid.UUID, caller: OperatorKey, session: SessionDep
) -> dict[str, Any]:
    """The webhook without its secret."""
    return store.webhook_json(await store.load_webhook(session, webhook_id))


@router.delete("/{webhook_id}", summary="Disable a webhook")
async def delete_webhook(
    webhook_id: uuid.UUID, caller: OperatorKey, session: SessionDep
) -> dict[str, Any]:
    """Stop delivering to it and cancel pending deliveries; it and its history stay readable."""
    return await webhooks.disable(session, caller, webhook_id)


@router.get("/{webhook_id}/deliveries", summary="A webhook's deliveries and attempts")
async def list_deliveries(
    webhook_id: uuid.UUID,
    request: Request,
    caller: OperatorKey,
    session: SessionDep,
    settings: SettingsDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int | None, Query(description="Page size, clamped to the maximum.")] = None,
    cursor: Annotated[str | None, Query(description="From a `next` link.")] = None,
) -> dict[str, Any]:
    """Newest event first, each delivery with its attempts: time, status code or error, duration."""
    await store.load_webhook(session, webhook_id)
    page_size = clamp_limit(limit, settings)
    rows = await store.list_deliveries(
        session,
        webhook_id,
        status=status,
        before_event_id=_decode_event_cursor(cursor),
        limit=page_size + 1,
    )
    page, last = split_page(rows, page_size)
    link = next_link(request, encode_cursor(last[0].event_id) if last else None)
    return {
        "webhook_id": str(webhook_id),
        "deliveries": [store.delivery_json(d, e, a) for d, e, a in page],
        "next": link,
    }


def _decode_event_cursor(cursor: str | None) -> int | None:
    """The event id a deliveries cursor holds, or InvalidInput."""
    if cursor is None:
        return None
    (event_id,) = decode_cursor(cursor, 1)
    try:
        return int(event_id)
    except ValueError:
        raise InvalidInput("cursor is not one this API handed out", "query:cursor") from None
