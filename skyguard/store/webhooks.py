"""Webhooks, their deliveries and attempts in PostgreSQL: registration, claims, the record.

Deliveries are not written here: migration 0004's trigger on alert_events writes one per
(enabled webhook, event of a type it wants) in the transaction that writes the event.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import NotFound
from skyguard.store.tables import AlertEvent, Webhook, WebhookAttempt, WebhookDelivery
from skyguard.store.zones import iso_utc


@dataclass(frozen=True)
class Claim:
    """A due delivery taken by one sender, with what it needs to send it."""

    delivery_id: uuid.UUID
    attempts: int
    url: str
    secret: str
    event_type: str
    event_at: datetime
    event_body: dict[str, Any]


@dataclass(frozen=True)
class Attempt:
    """How one try went: the receiver's status code, or the error that stopped it."""

    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def delivered(self) -> bool:
        """A 2xx answer, and only that, counts as delivered."""
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_json(row: Webhook) -> dict[str, Any]:
    """A webhook as the API shows it: never its secret."""
    return {
        "id": str(row.id),
        "url": row.url,
        "events": list(row.events),
        "active": row.disabled_at is None,
        "created_at": iso_utc(row.created_at),
        "disabled_at": iso_utc(row.disabled_at),
    }


def delivery_json(
    row: WebhookDelivery, event: AlertEvent, attempts: Sequence[WebhookAttempt]
) -> dict[str, Any]:
    """A delivery with every attempt at it, oldest first; `id` is the webhook-id header."""
    return {
        "id": str(row.id),
        "event_id": row.event_id,
        "event_type": event.type,
        "alert_id": str(event.alert_id),
        "status": row.status,
        "created_at": iso_utc(row.created_at),
        "next_attempt_at": iso_utc(row.next_attempt_at) if row.status == "pending" else None,
        "delivered_at": iso_utc(row.delivered_at),
        "attempts": [
            {
                "at": iso_utc(a.attempted_at),
                "status_code": a.status_code,
                "error": a.error,
                "duration_ms": round(a.duration_ms, 1),
            }
            for a in attempts
        ],
    }


async def insert_webhook(
    session: AsyncSession, *, url: str, events: Sequence[str], secret: str
) -> Webhook:
    """Store a new, enabled webhook."""
    row = Webhook(id=uuid.uuid4(), url=url, events=list(events), secret=secret)
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return row


async def list_webhooks(session: AsyncSession) -> Sequence[Webhook]:
    """Every webhook, disabled ones too, oldest first."""
    query = select(Webhook).order_by(Webhook.created_at, Webhook.id)
    return (await session.scalars(query)).all()


async def load_webhook(
    session: AsyncSession, webhook_id: uuid.UUID, *, for_update: bool = False
) -> Webhook:
    """One webhook, or NotFound."""
    query = select(Webhook).where(Webhook.id == webhook_id)
    row = await session.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise NotFound(f"no webhook {webhook_id}")
    return row


async def disable_webhook(session: AsyncSession, row: Webhook, now: datetime) -> None:
    """Stop fanning events out to it and cancel what it is still owed."""
    row.disabled_at = now
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == row.id, WebhookDelivery.status == "pending")
        .values(status="cancelled", next_attempt_at=None)
    )
    await session.flush()


async def list_deliveries(
    session: AsyncSession,
    webhook_id: uuid.UUID,
    *,
    status: str | None,
    before_event_id: int | None,
    limit: int,
) -> list[tuple[WebhookDelivery, AlertEvent, list[WebhookAttempt]]]:
    """A webhook's deliveries, newest event first, each with its attempts."""
    query = (
        select(WebhookDelivery, AlertEvent)
        .join(AlertEvent, AlertEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.webhook_id == webhook_id)
        .order_by(WebhookDelivery.event_id.desc())
        .limit(limit)
    )
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if before_event_id is not None:
        query = query.where(WebhookDelivery.event_id < before_event_id)
    rows = (await session.execute(query)).all()
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {d.id: [] for d, _ in rows}
    if attempts:
        found = await session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(list(attempts)))
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [(d, e, attempts[d.id]) for d, e in rows]


async def claim_due(
    session: AsyncSession, now: datetime, limit: int, lease_until: datetime
) -> list[Claim]:
    """Take up to `limit` deliveries due at `now`, pushing them to `lease_until`.

    SKIP LOCKED lets senders in other workers pass over rows being claimed; the lease keeps a
    claimed delivery from coming due again while its attempt runs, and brings it back if the
    sender dies mid-attempt.
    """
    query = (
        select(WebhookDelivery, Webhook, AlertEvent)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .join(AlertEvent, AlertEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.event_id)
        .limit(limit)
        .with_for_update(of=WebhookDelivery, skip_locked=True)
    )
    claims = []
    for delivery, webhook, event in await session.execute(query):
        delivery.next_attempt_at = lease_until
        claims.append(
            Claim(
                delivery_id=delivery.id,
                attempts=delivery.attempts,
                url=webhook.url,
                secret=webhook.secret,
                event_type=event.type,
                event_at=event.at,
                event_body=event.body,
            )
        )
    await session.flush()
    return claims


async def record_attempt(
    session: AsyncSession,
    claim: Claim,
    attempt: Attempt,
    *,
    status: str,
    next_attempt_at: datetime | None,
) -> None:
    """Append the attempt and move the delivery on (unless it was cancelled meanwhile)."""
    session.add(
        WebhookAttempt(
            delivery_id=claim.delivery_id,
            attempted_at=attempt.at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )
    )
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == claim.delivery_id, WebhookDelivery.status == "pending")
        .values(
            attempts=WebhookDelivery.attempts + 1,
            status=status,
            next_attempt_at=next_attempt_at,
            delivered_at=attempt.at if attempt.delivered else None,
        )
    )
    await session.flush()
