"""The alert stream: the cursor and keep-alives on scripted pages, the SQL on the test database,
and SSE end to end on a server of its own over a committed database (LISTEN, resume, gaps)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url

from skyguard.alerts.stream import (
    AlertSignal,
    Cursor,
    Event,
    EventFilter,
    Page,
    fetch_page,
    sse_frame,
    start_id,
    stream_events,
)
from skyguard.app import create_app
from skyguard.settings import Settings, to_psycopg_url
from skyguard.store.db import Database
from skyguard.store.embedded import EmbeddedPostgres
from skyguard.store.keys import create_key
from skyguard.store.migrate import upgrade
from tests.api.test_alerting import draw
from tests.conftest import ROOT

# -- the streaming core, on scripted pages ---------------------------------------------------


def page(*ids: int, writers: str = "", full: bool = False) -> Page:
    events = tuple(Event(i, "alert.opened", {"serial": f"S{i % 2}"}) for i in ids)
    return Page(events, frozenset(writers), full)


class Script:
    """A fetch that serves pages in turn (the last one forever) and a wait that ticks a clock."""

    def __init__(self, *pages: Page) -> None:
        self.pages = list(pages)
        self.asked: list[int] = []
        self.now = 0.0
        self.waits = 0

    async def fetch(self, after: int) -> Page:
        self.asked.append(after)
        return self.pages.pop(0) if len(self.pages) > 1 else self.pages[0]

    async def wait(self) -> None:
        self.waits += 1
        self.now += 1.0

    def clock(self) -> float:
        return self.now

    async def run(self, last_id: int, count: int, **options: Any) -> list[int | None]:
        stream = stream_events(self.fetch, self.wait, last_id, clock=self.clock, **options)
        out = [None if e is None else e.id async for e in _first(stream, count)]
        await stream.aclose()
        return out


async def _first(stream: Any, count: int) -> AsyncIterator[Any]:
    for _ in range(count):
        yield await anext(stream)


async def test_events_after_the_cursor_come_once_in_order():
    script = Script(page(4, 5, 6), page(7), page())
    assert await script.run(3, 4) == [4, 5, 6, 7]
    assert script.asked == [3, 6]


async def test_a_gap_holds_later_events_until_the_missing_one_commits():
    script = Script(page(5, 7, writers="a"), page(7, writers="a"), page(6, 7), page())
    assert await script.run(4, 3) == [5, 6, 7]
    assert script.asked == [4, 5, 5]


async def test_a_gap_is_skipped_once_the_writers_that_could_fill_it_ended():
    script = Script(page(5, 7, writers="a"), page(7, writers="ab"), page(7, writers="b"))
    assert await script.run(4, 2) == [5, 7]
    # a was writing after the 2nd read: the 3rd may miss what it committed; the 4th cannot
    assert script.asked == [4, 5, 5, 5]
    assert script.waits == 2


async def test_a_gap_with_nobody_writing_is_read_again_at_once_and_skipped():
    script = Script(page(5, 7), page(7), page())
    assert await script.run(4, 2) == [5, 7]
    assert script.asked == [4, 5] and script.waits == 0


async def test_a_gap_is_not_waited_on_forever():
    script = Script(page(7, writers="a"))
    assert await script.run(5, 1, gap_wait_s=3.0) == [7]
    assert script.waits == 3


async def test_a_quiet_stream_asks_for_keep_alives():
    script = Script(page(1), page())
    assert await script.run(0, 3, keepalive_s=5.0) == [1, None, None]
    assert script.waits == 10


async def test_a_full_page_is_followed_at_once():
    script = Script(page(1, 2, full=True), page(3), page())
    assert await script.run(0, 3) == [1, 2, 3]
    assert script.waits == 0


async def test_filters_drop_events_but_the_cursor_moves_past_them():
    script = Script(page(1, 2, 3, 4), page(5), page())
    only_odd = EventFilter(serial="S1").matches
    assert await script.run(0, 3, matches=only_odd) == [1, 3, 5]
    assert script.asked == [0, 4]


def test_cursor_ignores_events_it_already_handed_out():
    cursor = Cursor(5, gap_wait_s=10.0)
    assert [e.id for e in cursor.take(page(4, 5, 6))] == [6]


def test_frames_are_server_sent_events():
    event = Event(42, "alert.closed", {"id": "a", "close_reason": "exited"})
    assert sse_frame(event) == (
        'id: 42\nevent: alert.closed\ndata: {"id":"a","close_reason":"exited"}\n\n'
    )
    assert sse_frame(None) == ": keep-alive\n\n"


async def test_a_notification_wakes_every_subscriber_even_while_busy():
    signal = AlertSignal("postgresql+psycopg://nobody@/nowhere")
    with signal.subscribe() as first, signal.subscribe() as second:
        signal.fire()  # before they wait: kept, not lost
        async with asyncio.timeout(1):
            await first.wait(60)
            await second.wait(60)
        started = asyncio.get_running_loop().time()
        await first.wait(0.05)  # consumed: now it waits for the next one
        assert asyncio.get_running_loop().time() - started >= 0.04
    signal.fire()  # no subscribers left: nothing to do


# -- the SQL, in the test's rolled-back transaction ------------------------------------------


async def test_pages_read_events_in_order_with_the_transactions_running(app, client, headers):
    async with app.state.db.session() as session:
        before = await start_id(session, None)
        assert await start_id(session, before + 1000) == before
    await draw(client, headers)
    now = datetime.now(UTC)
    for seconds, lon in ((-3, 8.505), (-2, 8.5051), (-1, 8.49)):
        report = {"serial": "SSE-1", "time": (now + timedelta(seconds=seconds)).isoformat()}
        r = await client.post(
            "/v1/telemetry",
            json={**report, "lon": lon, "lat": 47.305},
            headers=headers["integrator"],
        )
        assert r.status_code == 200, r.text
    got = await fetch_page(app.state.db, before)
    assert [e.type for e in got.events] == ["alert.opened", "alert.updated", "alert.closed"]
    assert [e.id for e in got.events] == sorted(e.id for e in got.events)
    assert got.events[-1].body["close_reason"] == "exited" and not got.full
    assert got.writers == frozenset()  # our own uncommitted writes are not a gap to wait for
    assert (await fetch_page(app.state.db, before, limit=2)).full


async def test_a_page_names_the_transactions_writing_events(app, engine):
    vxid = text(
        "SELECT virtualtransaction FROM pg_locks"
        " WHERE pid = pg_backend_pid() AND locktype = 'virtualxid'"
    )
    async with engine.connect() as other, other.begin():
        await other.execute(text("LOCK TABLE alert_events IN ROW EXCLUSIVE MODE"))
        writer = (await other.execute(vxid)).scalar_one()
        assert (await fetch_page(app.state.db, 0)).writers == {writer}
    assert (await fetch_page(app.state.db, 0)).writers == frozenset()


@pytest.mark.parametrize(
    ("role", "extra", "status"),
    [("integrator", {}, 403), (None, {}, 401), ("operator", {"Last-Event-ID": "x"}, 422)],
)
async def test_who_may_listen(client, headers, role, extra, status):
    r = await client.get("/v1/alerts/stream", headers={**headers.get(role, {}), **extra})
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"


# -- end to end: a real server over a committed database of its own -------------------------


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A fresh database beside the test one (embedded, or on the test server), dropped after."""
    server = os.environ.get("SKYGUARD_TEST_DATABASE_URL")
    if not server:
        cluster = EmbeddedPostgres(ROOT / ".skyguard")
        url = cluster.ensure_database(name, fresh=True)
        try:
            yield to_psycopg_url(url)
        finally:
            cluster.drop_database(name)
        return
    base = make_url(to_psycopg_url(server))
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(drop)
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(drop)


@pytest.fixture(scope="module")
def committed_url(database_url: str) -> Iterator[str]:
    """A migrated database of this module's own: what the server commits stays visible."""
    with scratch_database(f"skyguard_sse_{os.getpid()}") as url:
        upgrade(url)
        yield url


@dataclass
class Served:
    base_url: str
    dsn: str
    keys: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
async def served(committed_url: str) -> AsyncIterator[Served]:
    """The real app under uvicorn on a free port, background tasks on; polls too slow to matter,
    so a prompt event proves the LISTEN path."""
    settings = Settings(
        database_url=committed_url, stream_poll_s=30, stream_keepalive_s=30, freeze_heap=False
    )
    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_level="warning", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(20):
        while not (server.started and app.state.alert_signal.listening):  # noqa: ASYNC110
            await asyncio.sleep(0.02)  # both are flags, not events
    db = Database.connect(committed_url)
    keys: dict[str, dict[str, str]] = {}
    async with db.session() as session:
        for role in ("operator", "integrator"):
            issued = await create_key(session, role=role, name=f"sse {role}")
            keys[role] = {"Authorization": f"Bearer {issued.secret}"}
    await db.dispose()
    port = sock.getsockname()[1]
    dsn = make_url(committed_url).set(drivername="postgresql").render_as_string(False)
    yield Served(f"http://127.0.0.1:{port}", dsn, keys)
    server.should_exit = True
    await task


class Subscriber:
    """An open SSE response read in the background: frames queue up as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.frames: asyncio.Queue[dict[str, str]] = asyncio.Queue()
        self.task = asyncio.create_task(self._read(response))

    async def _read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line == "":
                if fields:
                    await self.frames.put(fields)
                fields = {}
            elif line.startswith(":"):
                fields["comment"] = line[1:].strip()
            else:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def event(self, timeout_s: float = 10.0) -> dict[str, str]:
        """The next frame with an id (retry and keep-alive frames skipped)."""
        async with asyncio.timeout(timeout_s):
            while "id" not in (frame := await self.frames.get()):
                pass
        return frame

    async def quiet(self, seconds: float) -> None:
        """Assert no event arrives for this long."""
        with pytest.raises(TimeoutError):
            await self.event(seconds)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


@asynccontextmanager
async def subscribe(
    http: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> AsyncIterator[Subscriber]:
    async with http.stream("GET", "/v1/alerts/stream", headers=headers, params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        subscriber = Subscriber(response)
        try:
            yield subscriber
        finally:
            await subscriber.close()


def square(west: float) -> list[list[list[float]]]:
    east = west + 0.01
    return [[[west, 47.30], [east, 47.30], [east, 47.31], [west, 47.31], [west, 47.30]]]


def report(serial: str, seconds_ago: float, lon: float) -> dict[str, Any]:
    time = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {"serial": serial, "time": time.isoformat(), "lon": lon, "lat": 47.305, "height_m": 50}


async def send(http: httpx.AsyncClient, served: Served, *reports: dict[str, Any]) -> list[Any]:
    r = await http.post(
        "/v1/telemetry", json={"reports": list(reports)}, headers=served.keys["integrator"]
    )
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


async def test_live_events_reach_every_subscriber_and_a_resume_gets_what_it_missed(served):
    operator = served.keys["operator"]
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        await draw(http, served.keys, square(8.60))
        async with subscribe(http, operator) as a, subscribe(http, operator) as b:
            [opened] = await send(http, served, report("SSE-LIVE", 3, 8.605))
            first = await a.event()
            assert await b.event() == first
        assert first["event"] == "alert.opened"
        assert json.loads(first["data"]) == opened
        await send(http, served, report("SSE-LIVE", 2, 8.6051))
        await send(http, served, report("SSE-LIVE", 1, 8.58))
        async with subscribe(http, {**operator, "Last-Event-ID": first["id"]}) as again:
            missed = [await again.event(), await again.event()]
            await again.quiet(1.0)
        assert [m["event"] for m in missed] == ["alert.updated", "alert.closed"]
        assert int(first["id"]) < int(missed[0]["id"]) < int(missed[1]["id"])
        closed = json.loads(missed[1]["data"])
        assert closed["id"] == opened["id"] and closed["close_reason"] == "exited"
        resume = int(first["id"]) - 1
        async with subscribe(http, operator, last_event_id=resume, serial="SSE-LIVE") as by_query:
            ids = [(await by_query.event())["id"] for _ in range(3)]
        assert ids == [first["id"], missed[0]["id"], missed[1]["id"]]


async def closed_alert(http: httpx.AsyncClient, served: Served, serial: str, west: float) -> str:
    """An alert opened and closed through the API (no open episode left to expire)."""
    await draw(http, served.keys, square(west))
    [alert] = await send(http, served, report(serial, 2, west + 0.005))
    await send(http, served, report(serial, 1, west - 0.02))
    return str(alert["id"])


INSERT = "INSERT INTO alert_events (alert_id, type, body) VALUES (%s, %s, '{}') RETURNING id"
NOTIFY = "SELECT pg_notify('skyguard_alerts', '')"


async def insert_event(conn: psycopg.AsyncConnection[Any], alert_id: str, kind: str) -> int:
    row = await (await conn.execute(INSERT, (alert_id, kind))).fetchone()
    assert row is not None
    await conn.execute(NOTIFY)  # sent at commit
    return int(row[0])


async def test_an_event_committed_late_still_comes_before_later_ones(served):
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        alert_id = await closed_alert(http, served, "SSE-GAP", 8.70)
        async with (
            subscribe(http, served.keys["operator"]) as subscriber,
            await psycopg.AsyncConnection.connect(served.dsn) as slow,
            await psycopg.AsyncConnection.connect(served.dsn) as fast,
        ):
            late = await insert_event(slow, alert_id, "test.late")
            early = await insert_event(fast, alert_id, "test.early")
            await fast.commit()
            assert late < early
            await subscriber.quiet(1.5)  # `early` waits: `late` may still commit
            await slow.commit()
            got = [await subscriber.event(), await subscriber.event()]
        assert [(g["id"], g["event"]) for g in got] == [
            (str(late), "test.late"),
            (str(early), "test.early"),
        ]


async def test_an_id_rolled_back_is_skipped_once_its_writer_ended(served, committed_url):
    db = Database.connect(committed_url)
    try:
        async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
            alert_id = await closed_alert(http, served, "SSE-ROLLBACK", 8.80)
        async with db.session() as session:
            start = await start_id(session, None)
        async with (
            await psycopg.AsyncConnection.connect(served.dsn) as slow,
            await psycopg.AsyncConnection.connect(served.dsn) as fast,
        ):
            await insert_event(slow, alert_id, "test.rolled-back")
            early = await insert_event(fast, alert_id, "test.kept")
            await fast.commit()
            cursor = Cursor(start, gap_wait_s=60)
            assert cursor.take(await fetch_page(db, start)) == []
            await slow.rollback()
            # slow was still writing just after that read: the next one may not show its commit
            assert cursor.take(await fetch_page(db, start)) == []
            assert cursor.settles_on_refetch
            assert [e.id for e in cursor.take(await fetch_page(db, start))] == [early]
    finally:
        await db.dispose()


async def test_the_expiry_loop_closes_a_silent_drones_alert_live(served):
    async with httpx.AsyncClient(base_url=served.base_url, timeout=10) as http:
        await draw(http, served.keys, square(8.90))
        async with subscribe(http, served.keys["operator"], serial="SSE-SILENT") as subscriber:
            await send(http, served, report("SSE-SILENT", 58.5, 8.905))
            opened = await subscriber.event()
            closed = await subscriber.event(timeout_s=15)
    assert opened["event"] == "alert.opened" and closed["event"] == "alert.closed"
    alert = json.loads(closed["data"])
    assert alert["id"] == json.loads(opened["data"])["id"]
    assert alert["close_reason"] == "lost_contact"
