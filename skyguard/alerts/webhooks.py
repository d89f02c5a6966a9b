"""Webhook registration: check the URL, mint the signing secret, store it, audit the change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.alerts.destinations import AllowList, check_destination
from skyguard.alerts.signing import new_secret
from skyguard.errors import InvalidInput
from skyguard.store import audit
from skyguard.store import webhooks as store
from skyguard.store.keys import Caller
from skyguard.store.tables import WEBHOOK_EVENTS

# alert.updated fires on every batch while a drone stays inside: opt in, not by default
DEFAULT_EVENTS = tuple(e for e in WEBHOOK_EVENTS if e != "alert.updated")


def normal_events(events: Sequence[str] | None) -> list[str]:
    """The event types asked for, once each, in canonical order; the default when none given."""
    if events is None:
        return list(DEFAULT_EVENTS)
    for index, event in enumerate(events):
        if event not in WEBHOOK_EVENTS:
            raise InvalidInput(
                f"unknown event type {event!r} (known: {', '.join(WEBHOOK_EVENTS)})",
                f"/events/{index}",
            )
    if not events:
        raise InvalidInput("events must name at least one event type", "/events")
    return [e for e in WEBHOOK_EVENTS if e in events]


async def register(
    session: AsyncSession,
    caller: Caller,
    *,
    url: str,
    events: Sequence[str] | None,
    allow: AllowList,
    timeout_s: float,
) -> dict[str, Any]:
    """A new webhook; the answer carries its signing secret, shown this once."""
    wanted = normal_events(events)
    await check_destination(url, allow, timeout_s)
    row = await store.insert_webhook(session, url=url, events=wanted, secret=new_secret())
    shown = store.webhook_json(row)
    await audit.record(session, caller, "create", "webhook", str(row.id), after=shown)
    return {**shown, "secret": row.secret}


async def disable(session: AsyncSession, caller: Caller, webhook_id: uuid.UUID) -> dict[str, Any]:
    """Disable it: no new deliveries, pending ones cancelled; it stays readable. Idempotent."""
    row = await store.load_webhook(session, webhook_id, for_update=True)
    if row.disabled_at is not None:
        return store.webhook_json(row)
    before = store.webhook_json(row)
    await store.disable_webhook(session, row, datetime.now(UTC))
    after = store.webhook_json(row)
    await audit.record(
        session, caller, "disable", "webhook", str(row.id), before=before, after=after
    )
    return after
