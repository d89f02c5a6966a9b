"""The live alert stream: alert events after a cursor, in id order, woken by LISTEN or a poll.

Event ids come from an identity column: taken at insert, visible at commit. Two transactions can
commit out of id order, so id 11 may be visible while 10 is still in flight; a cursor that moved
past 10 would lose it for good. So the stream stops at a gap and waits until every transaction
that was writing alert events when the gap was seen has ended (pg_locks: an insert holds its
RowExclusiveLock from before it takes an id until it commits or rolls back). Then the missing
id is visible or never will be, and the stream moves on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator
from contextlib import aclosing, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.store.db import Database

logger = logging.getLogger(__name__)

CHANNEL = "skyguard_alerts"
PAGE_SIZE = 500
RETRY_MS = 2000

# The writers are read during the statement, so after its snapshot: whoever held an id missing
# from the snapshot either is among them or had ended before they were read.
PAGE = text("""
    SELECT e.id, e.type, e.body, w.writers
    FROM (SELECT ARRAY(
            SELECT DISTINCT l.virtualtransaction FROM pg_locks AS l
            WHERE l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'
              AND l.relation = CAST('alert_events' AS regclass)
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.pid IS DISTINCT FROM pg_backend_pid()
         ) AS writers) AS w
    LEFT JOIN LATERAL (
        SELECT id, type, body FROM alert_events WHERE id > :after ORDER BY id LIMIT :limit
    ) AS e ON true
    ORDER BY e.id
""")
NEWEST = text("SELECT coalesce(max(id), 0) FROM alert_events")

Clock = Callable[[], float]


@dataclass(frozen=True)
class Event:
    """One alert event as the stream sends it."""

    id: int
    type: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Page:
    """Events after a cursor, in id order, and the transactions writing events just after."""

    events: tuple[Event, ...]
    writers: frozenset[str]
    full: bool = False


@dataclass(frozen=True)
class EventFilter:
    """Which events a subscriber wants; None matches anything."""

    zone_id: uuid.UUID | None = None
    serial: str | None = None
    kind: str | None = None

    def matches(self, event: Event) -> bool:
        """Whether the event's alert passes every filter given."""
        body = event.body
        return (
            (self.zone_id is None or body.get("zone_id") == str(self.zone_id))
            and (self.serial is None or body.get("serial") == self.serial)
            and (self.kind is None or body.get("kind") == self.kind)
        )


@dataclass(frozen=True)
class _Gap:
    after: int  # the last id handed out before the gap
    suspects: frozenset[str]  # writers that may still commit the missing ids
    since: float


class Cursor:
    """The last event id handed out, and the gap (if any) holding back the events after it."""

    def __init__(self, last_id: int, *, gap_wait_s: float, clock: Clock = time.monotonic) -> None:
        self.last_id = last_id
        self._gap_wait_s = gap_wait_s
        self._clock = clock
        self._gap: _Gap | None = None
        self._writers_before: frozenset[str] = frozenset()  # read before the next page's snapshot

    def take(self, page: Page) -> list[Event]:
        """The page's events that may go out now, in id order; the cursor moves past them."""
        ready: list[Event] = []
        blocked = False
        for event in page.events:
            if event.id <= self.last_id:
                continue
            if event.id > self.last_id + 1 and not self._gap_settled(page):
                blocked = True
                break
            ready.append(event)
            self.last_id = event.id
        if not blocked:
            self._gap = None  # no later event visible: nothing is missing yet
        self._writers_before = page.writers
        return ready

    @property
    def settles_on_refetch(self) -> bool:
        """Whether the gap the cursor waits at is bound to be settled by reading again now."""
        gap = self._gap
        return gap is not None and self._suspects_gone(gap)

    def _gap_settled(self, page: Page) -> bool:
        """Whether the ids missing after last_id can no longer appear (or we waited enough)."""
        now = self._clock()
        gap = self._gap
        if gap is None or gap.after != self.last_id:
            self._gap = _Gap(self.last_id, page.writers, now)
            return False  # a writer may have committed them after this page's snapshot
        return self._suspects_gone(gap) or now - gap.since >= self._gap_wait_s

    def _suspects_gone(self, gap: _Gap) -> bool:
        """No suspect was writing just before the latest snapshot: it saw all they committed."""
        return not gap.suspects & self._writers_before


Fetch = Callable[[int], Awaitable[Page]]
Wait = Callable[[], Awaitable[None]]


async def stream_events(
    fetch: Fetch,
    wait: Wait,
    last_id: int,
    *,
    matches: Callable[[Event], bool] = lambda event: True,
    keepalive_s: float = 15.0,
    gap_wait_s: float = 10.0,
    clock: Clock = time.monotonic,
) -> AsyncGenerator[Event | None, None]:
    """Events with ids above last_id, once each, in id order, forever; None: send a keep-alive."""
    cursor = Cursor(last_id, gap_wait_s=gap_wait_s, clock=clock)
    quiet_since = clock()
    while True:
        page = await fetch(cursor.last_id)
        ready = cursor.take(page)
        for event in ready:
            if matches(event):
                quiet_since = clock()
                yield event
        if (page.full and len(ready) == len(page.events)) or cursor.settles_on_refetch:
            continue  # more to read now: no need to sleep
        if clock() - quiet_since >= keepalive_s:
            quiet_since = clock()
            yield None
        await wait()


def sse_frame(event: Event | None) -> str:
    """An event as a text/event-stream frame, or a keep-alive comment for None."""
    if event is None:
        return ": keep-alive\n\n"
    data = json.dumps(event.body, separators=(",", ":"))
    return f"id: {event.id}\nevent: {event.type}\ndata: {data}\n\n"


async def fetch_page(database: Database, after_id: int, limit: int = PAGE_SIZE) -> Page:
    """Up to `limit` events after `after_id`, read in a short session of their own."""
    async with database.session() as session:
        rows = (await session.execute(PAGE, {"after": after_id, "limit": limit})).all()
    writers = frozenset(rows[0].writers) if rows else frozenset()
    events = tuple(Event(r.id, r.type, r.body) for r in rows if r.id is not None)
    return Page(events, writers, full=len(events) >= limit)


async def start_id(session: AsyncSession, last_event_id: int | None) -> int:
    """Where a new subscriber starts: after the id it last saw, else after the newest event."""
    newest = int((await session.execute(NEWEST)).scalar_one())
    return newest if last_event_id is None else min(last_event_id, newest)


class Subscription:
    """One subscriber's wake-up: set by every notification, cleared when it wakes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        """Wake the subscriber (now, or at its next wait if it is busy reading)."""
        self._event.set()

    async def wait(self, timeout_s: float) -> None:
        """Until a notification came since the last wait, or timeout_s passed."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
        self._event.clear()


class AlertSignal:
    """This process's one LISTEN connection on skyguard_alerts, fanned out to its subscribers.

    Subscribers read their events themselves; `reads` caps how many do at once, so a crowd of
    streams woken together queues for a turn instead of draining the request path's pool.
    """

    def __init__(self, url: str, *, max_reads: int = 4, retry_s: float = 1.0) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._retry_s = retry_s
        self._subscribers: set[Subscription] = set()
        self.reads = asyncio.Semaphore(max_reads)
        self.listening = False

    @contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """A subscription for the time of the block."""
        subscription = Subscription()
        self._subscribers.add(subscription)
        try:
            yield subscription
        finally:
            self._subscribers.discard(subscription)

    def fire(self) -> None:
        """Wake every subscriber."""
        for subscription in list(self._subscribers):
            subscription.fire()

    async def listen(self) -> None:
        """Forward notifications until cancelled, reconnecting after a lost connection."""
        while True:
            try:
                await self._listen_once()
            except Exception as exc:  # the stream polls meanwhile; keep trying to listen
                logger.warning("alert LISTEN connection lost (%s); retrying", exc)
            await asyncio.sleep(self._retry_s)

    async def _listen_once(self) -> None:
        async with await psycopg.AsyncConnection.connect(self._dsn, autocommit=True) as conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.listening = True
            try:
                self.fire()  # notifications sent while we were not listening are lost: look now
                async for _ in conn.notifies():
                    self.fire()
            finally:
                self.listening = False


async def alert_stream(
    database: Database,
    signal: AlertSignal,
    last_id: int,
    *,
    matches: Callable[[Event], bool],
    poll_s: float,
    keepalive_s: float,
    gap_wait_s: float,
) -> AsyncIterator[str]:
    """The text/event-stream body: missed events after last_id, then live ones."""

    async def fetch(after: int) -> Page:
        async with signal.reads:
            return await fetch_page(database, after)

    with signal.subscribe() as subscription:
        yield f"retry: {RETRY_MS}\n\n"
        events = stream_events(
            fetch,
            lambda: subscription.wait(poll_s),
            last_id,
            matches=matches,
            keepalive_s=keepalive_s,
            gap_wait_s=gap_wait_s,
        )
        async with aclosing(events):
            async for event in events:
                yield sse_frame(event)
