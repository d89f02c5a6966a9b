"""The ingest path against PostGIS: segments from the drone's memory or from history, the
memory cache across a rolled-back batch, flights closed by the expiry tick, episodes closed and
opened again in one batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from skyguard.geofence.episodes import EngineConfig
from skyguard.ingest.batch import Engine, IngestResult, ingest
from skyguard.store import flights
from skyguard.store.zone_index import ZoneIndexCache
from tests.api.test_alerting import draw, post

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
GAP = timedelta(seconds=120)


def at(seconds: int, lon: float = 8.5, serial: str = "ING-1", **extra: Any) -> dict[str, Any]:
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": 47.3, **extra}


@asynccontextmanager
async def batch(connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """A session in a savepoint of the test's transaction, committed unless the block raises."""
    async with AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    ) as session:
        yield session
        await session.commit()


async def send(session: AsyncSession, engine: Engine, *raws: dict[str, Any]) -> IngestResult:
    now = datetime.now(UTC)
    return await ingest(
        session, list(raws), engine=engine, now=now, future_tolerance=timedelta(seconds=5)
    )


async def segments(connection: AsyncConnection, serial: str = "ING-1") -> list[tuple[int, str]]:
    rows = await connection.execute(
        text("SELECT time, ST_AsText(segment) FROM positions WHERE serial = :s ORDER BY time"),
        {"s": serial},
    )
    return [(round((t - T0).total_seconds()), wkt) for t, wkt in rows]


async def open_flight(connection: AsyncConnection, serial: str = "ING-1") -> Any:
    rows = await connection.execute(
        text(
            "SELECT id, report_count, closed_at FROM flights WHERE serial = :s ORDER BY started_at"
        ),
        {"s": serial},
    )
    return rows.all()


async def test_a_late_report_is_joined_to_the_stored_reports_around_it(connection):
    engine = Engine(ZoneIndexCache(), EngineConfig())
    for seconds, lon in ((0, 8.5), (20, 8.502)):
        async with batch(connection) as session:
            await send(session, engine, at(seconds, lon))
    async with batch(connection) as session:
        late = await send(session, engine, at(10, 8.501))
    async with batch(connection) as session:
        again = await send(session, engine, at(10, 8.501))
    async with batch(connection) as session:
        await send(session, engine, at(21, 8.5021))
    assert late.accepted == 1 and again.duplicates == [0] and again.accepted == 0
    assert await segments(connection) == [
        (0, None),
        (10, "LINESTRING(8.5 47.3,8.501 47.3)"),  # looked up: older than the drone's last report
        (20, "LINESTRING(8.501 47.3,8.502 47.3)"),  # redrawn from the late report
        (21, "LINESTRING(8.502 47.3,8.5021 47.3)"),  # from the last report, not the late one
    ]


async def test_a_late_batch_joins_each_report_to_the_one_just_before_it(connection):
    """Stored: 0, 20, 40. Late batch: 10, 30. Each late report follows the stored report just
    before it (not the batch's previous one), and the stored reports after them are redrawn."""
    engine = Engine(ZoneIndexCache(), EngineConfig())
    for seconds in (0, 20, 40):
        async with batch(connection) as session:
            await send(session, engine, at(seconds, 8.5 + seconds * 1e-4))
    async with batch(connection) as session:
        late = await send(session, engine, at(30, 8.503), at(10, 8.501))
    assert late.accepted == 2
    assert await segments(connection) == [
        (0, None),
        (10, "LINESTRING(8.5 47.3,8.501 47.3)"),
        (20, "LINESTRING(8.501 47.3,8.502 47.3)"),
        (30, "LINESTRING(8.502 47.3,8.503 47.3)"),
        (40, "LINESTRING(8.503 47.3,8.504 47.3)"),
    ]


async def test_a_rolled_back_batch_leaves_nothing_in_the_next(connection):
    engine = Engine(ZoneIndexCache(), EngineConfig())
    async with batch(connection) as session:
        await send(session, engine, at(0, 8.5), at(1, 8.5001))
    session = AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    await send(session, engine, at(2, 8.5002))  # the memory the cache holds moves on...
    await session.rollback()  # ...and this batch never happened
    await session.close()
    async with batch(connection) as session:
        await send(session, engine, at(3, 8.5003))
    [(_, count, closed_at)] = await open_flight(connection)
    assert count == 3 and closed_at is None
    assert await segments(connection) == [
        (0, None),
        (1, "LINESTRING(8.5 47.3,8.5001 47.3)"),
        (3, "LINESTRING(8.5001 47.3,8.5003 47.3)"),
    ]


async def test_the_expiry_tick_reads_silence_from_the_drones_memory(connection):
    engine = Engine(ZoneIndexCache(), EngineConfig())
    async with batch(connection) as session:
        await send(session, engine, *(at(s, 8.5 + s * 1e-5) for s in range(5)))
    # a tick whose snapshot predates the drone's last batch sees an older end
    await connection.execute(
        text("UPDATE flights SET ended_at = ended_at - interval '1 hour' WHERE serial = 'ING-1'")
    )
    last = T0 + timedelta(seconds=4)
    async with batch(connection) as session:
        assert await flights.close_silent(session, last + GAP - timedelta(seconds=1), GAP) == 0
    async with batch(connection) as session:
        assert await flights.close_silent(session, last + GAP + timedelta(seconds=1), GAP) == 1
    async with batch(connection) as session:
        await send(session, engine, at(300, 8.6))  # within the gap of nothing: a new flight
    first, second = await open_flight(connection)
    assert first.report_count == 5 and first.closed_at == last + GAP
    assert second.report_count == 1 and second.closed_at is None


async def test_an_episode_closed_and_opened_again_in_one_batch_makes_two_alerts(
    client, headers, connection
):
    await draw(client, headers)
    await post(client, headers, at(0, 8.505, serial="SG-R"))
    body = await post(client, headers, at(10, 8.40, serial="SG-R"), at(20, 8.505, serial="SG-R"))
    assert sorted(a["status"] for a in body["alerts"]) == ["closed", "open"]
    rows = await connection.execute(
        text("SELECT status FROM alerts WHERE serial = 'SG-R' ORDER BY opened_at")
    )
    assert [s for (s,) in rows] == ["closed", "open"]
    events = await connection.execute(
        text(
            "SELECT e.type FROM alert_events e JOIN alerts a ON a.id = e.alert_id "
            "WHERE a.serial = 'SG-R' ORDER BY e.id"
        )
    )
    assert [t for (t,) in events] == ["alert.opened", "alert.closed", "alert.opened"]


async def test_a_partition_made_by_a_rolled_back_batch_is_made_again(connection):
    """Today's partition, made by a batch that then rolls back, is gone: the next batch must make
    it again, so this process remembers a day only once its partition was there before."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    await connection.execute(text(f"DROP TABLE IF EXISTS positions_{today:%Y%m%d}"))
    engine = Engine(ZoneIndexCache(), EngineConfig())
    now = datetime.now(UTC) - timedelta(seconds=1)

    def report(serial: str) -> dict[str, Any]:
        return {"serial": serial, "time": now.isoformat(), "lon": 8.5, "lat": 47.3}

    session = AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    assert (await send(session, engine, report("PART-1"))).accepted == 1
    await session.rollback()  # the partition it made goes with it
    await session.close()
    assert engine.partitions.unknown([today], now) == [today]
    for serial in ("PART-2", "PART-3", "PART-4"):
        async with batch(connection) as session:
            assert (await send(session, engine, report(serial))).accepted == 1
    assert engine.partitions.unknown([today], now) == [], "there before PART-3: remembered"
    stored = await connection.execute(
        text("SELECT serial FROM positions WHERE serial LIKE 'PART-%' ORDER BY serial")
    )
    assert [s for (s,) in stored] == ["PART-2", "PART-3", "PART-4"]


async def test_a_drone_first_seen_in_a_rolled_back_batch_is_stored_by_the_next(connection):
    """A worker stops inserting a drone's rows once it has read them committed; a batch that
    rolls back after inserting them must not count."""
    engine = Engine(ZoneIndexCache(), EngineConfig())
    session = AsyncSession(
        bind=connection, expire_on_commit=False, join_transaction_mode="create_savepoint"
    )
    await send(session, engine, at(0, serial="ING-NEW"))
    await session.rollback()
    await session.close()
    assert engine.memories.unstored(["ING-NEW"]) == ["ING-NEW"]
    for seconds in (1, 2, 3):  # the second batch reads the first's state: no inserts after it
        async with batch(connection) as session:
            assert (await send(session, engine, at(seconds, serial="ING-NEW"))).accepted == 1
    assert engine.memories.unstored(["ING-NEW"]) == []
    counts = await connection.execute(
        text(
            "SELECT (SELECT count(*) FROM drones WHERE serial = 'ING-NEW'),"
            " (SELECT count(*) FROM positions WHERE serial = 'ING-NEW'),"
            " (SELECT last_time FROM drone_engine_state WHERE serial = 'ING-NEW')"
        )
    )
    assert counts.one() == (1, 3, T0 + timedelta(seconds=3))
