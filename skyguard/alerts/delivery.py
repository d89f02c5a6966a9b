"""Webhook delivery: claim due deliveries, POST them signed, record every attempt, back off.

Deliveries live in PostgreSQL (written with their alert events, see store/webhooks.py), so
retries survive restarts. Each worker runs a few senders; a claim is a short transaction and
the HTTP runs outside any transaction, so a slow or dead receiver holds no locks, no connection
and nothing of ingest. Delivery is at least once: a worker that dies after the receiver answered
but before the attempt was recorded sends that delivery again when its lease runs out, with the
same webhook-id so the receiver can drop the repeat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from skyguard.alerts.destinations import AllowList, check_destination
from skyguard.alerts.signing import signed_headers
from skyguard.errors import SkyguardError
from skyguard.settings import Settings
from skyguard.store.db import Database
from skyguard.store.webhooks import Attempt, Claim, claim_due, record_attempt
from skyguard.store.zones import iso_utc

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryPolicy:
    """Timeouts, retries and reach of webhook delivery."""

    allow: AllowList
    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_s: tuple[float, ...] = (5, 30, 120, 600, 3600, 10800, 21600)
    batch_size: int = 50

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        """The policy the SKYGUARD_WEBHOOK_* settings describe."""
        return cls(
            allow=AllowList.parse(settings.webhook_allow_hosts),
            timeout_s=settings.webhook_timeout_s,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=tuple(settings.webhook_backoff_s),
            batch_size=settings.webhook_batch_size,
        )

    @property
    def lease(self) -> timedelta:
        """How long a claim keeps other senders off: well past the longest attempt."""
        return timedelta(seconds=2 * self.timeout_s + 30)

    def retry_delay(self, attempts: int) -> timedelta:
        """The wait after the n-th failed attempt (n from 1); the last step repeats."""
        return timedelta(seconds=self.backoff_s[min(attempts, len(self.backoff_s)) - 1])

    def next_state(
        self, attempts: int, delivered: bool, now: datetime
    ) -> tuple[str, datetime | None]:
        """The delivery's status and next due time after its n-th attempt."""
        if delivered:
            return "delivered", None
        if attempts >= self.max_attempts:
            return "failed", None
        return "pending", now + self.retry_delay(attempts)


def payload(claim: Claim) -> str:
    """The body: the event type, when it happened and the alert as the API shows it."""
    message = {
        "type": claim.event_type,
        "timestamp": iso_utc(claim.event_at),
        "data": claim.event_body,
    }
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


async def attempt_delivery(
    client: httpx.AsyncClient, policy: DeliveryPolicy, claim: Claim, now: datetime
) -> Attempt:
    """One signed POST to the receiver, its address checked again first; never raises."""
    body = payload(claim)
    headers = signed_headers(claim.secret, str(claim.delivery_id), int(now.timestamp()), body)
    started = time.perf_counter()
    status_code: int | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(policy.timeout_s):
            target = await check_destination(claim.url, policy.allow, policy.timeout_s)
            request = client.build_request(
                "POST",
                target.request_url(),
                content=body.encode(),
                headers={**headers, **target.request_headers()},
                extensions=target.request_extensions(),
                timeout=policy.timeout_s,
            )
            # the receiver's body is never read: status code only, whatever it streams back
            response = await client.send(request, stream=True)
            status_code = response.status_code
            await response.aclose()
    except SkyguardError as exc:
        error = exc.detail
    except TimeoutError:
        error = f"timed out after {policy.timeout_s:g} s"
    except Exception as exc:  # a receiver must never stop the sender: every failure is on record
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
    duration_ms = (time.perf_counter() - started) * 1000
    return Attempt(now, status_code, error, duration_ms)


async def send_due(
    db: Database,
    policy: DeliveryPolicy,
    client: httpx.AsyncClient,
    *,
    now: datetime | None = None,
) -> list[Attempt]:
    """Claim the deliveries due at `now`, send them concurrently, record each attempt."""
    now = now or datetime.now(UTC)
    async with db.session() as session:
        claims = await claim_due(session, now, policy.batch_size, now + policy.lease)
    if not claims:
        return []
    attempts = await asyncio.gather(*(attempt_delivery(client, policy, c, now) for c in claims))
    await _record(db, policy, claims, attempts)
    return list(attempts)


async def _record(
    db: Database, policy: DeliveryPolicy, claims: Sequence[Claim], attempts: Sequence[Attempt]
) -> None:
    async with db.session() as session:
        for claim, attempt in zip(claims, attempts, strict=True):
            status, due = policy.next_state(claim.attempts + 1, attempt.delivered, attempt.at)
            await record_attempt(session, claim, attempt, status=status, next_attempt_at=due)


async def deliver_forever(db: Database, settings: Settings) -> None:
    """This worker's webhook senders, sharing one HTTP client, until cancelled."""
    policy = DeliveryPolicy.from_settings(settings)
    # redirects are not followed: a 3xx could point anywhere, past the address check
    async with httpx.AsyncClient(follow_redirects=False) as client, asyncio.TaskGroup() as group:
        for _ in range(max(1, settings.webhook_senders)):
            group.create_task(_send_forever(db, policy, client, settings.webhook_poll_s))


async def _send_forever(
    db: Database, policy: DeliveryPolicy, client: httpx.AsyncClient, poll_s: float
) -> None:
    # several senders, so one batch waiting on a slow receiver leaves the others sending
    while True:
        try:
            sent = await send_due(db, policy, client)
        except Exception:  # the database away for a moment must not end delivery for good
            logger.exception("webhook sender failed; trying again")
            sent = []
        if len(sent) < policy.batch_size:
            await asyncio.sleep(poll_s)
