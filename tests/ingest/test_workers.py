"""Two workers ingesting the same drones at once: the second waits for the first's commit and
carries on from what it stored (segment, flight, engine state), whatever order each batch lists
the drones in. Committed transactions on a scratch database, so each worker sees the other's."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from skyguard.geofence.episodes import EngineConfig
from skyguard.ingest.batch import Engine, IngestResult, ingest
from skyguard.store import engine_state
from skyguard.store.db import Database
from skyguard.store.migrate import upgrade
from skyguard.store.zone_index import ZoneIndexCache
from tests.alerts.test_stream import scratch_database

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[Database]:
    with scratch_database(f"skyguard_workers_{os.getpid()}") as url:
        upgrade(url)
        db = Database.connect(url, pool_size=4)
        yield db
        await db.dispose()


def at(serial: str, seconds: int) -> dict[str, Any]:
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": 8.5 + seconds * 1e-4, "lat": 47.3}


async def send(session: Any, engine: Engine, raws: list[dict[str, Any]]) -> IngestResult:
    return await ingest(
        session,
        raws,
        engine=engine,
        now=datetime.now(UTC),
        future_tolerance=timedelta(seconds=5),
    )


async def test_a_second_worker_waits_and_carries_on_from_the_first(database: Database):
    first, second = (Engine(ZoneIndexCache(), EngineConfig()) for _ in range(2))
    async with database.session() as session:
        await send(session, first, [at("W-A", 0), at("W-B", 0)])
    held = database.sessions()
    await send(held, first, [at("W-A", 1), at("W-B", 1)])  # locks both, not committed yet

    async def later() -> None:
        async with database.session() as session:
            await send(session, second, [at("W-B", 2), at("W-A", 2)])

    waiting = asyncio.create_task(later())
    await asyncio.sleep(0.5)
    assert not waiting.done(), "the second worker should wait for the first one's locks"
    await held.commit()
    await held.close()
    await asyncio.wait_for(waiting, timeout=10)

    async with database.session() as session:
        rows = await session.execute(
            text(
                "SELECT serial, ST_AsText(segment) FROM positions WHERE time = :t ORDER BY serial"
            ),
            {"t": T0 + timedelta(seconds=2)},
        )
        segments = rows.all()
        counts = await session.execute(
            text("SELECT serial, report_count FROM flights ORDER BY serial")
        )
        flights = counts.all()
    assert segments == [
        ("W-A", "LINESTRING(8.5001 47.3,8.5002 47.3)"),  # from the first worker's report
        ("W-B", "LINESTRING(8.5001 47.3,8.5002 47.3)"),
    ]
    assert flights == [("W-A", 3), ("W-B", 3)]


async def test_the_expiry_tick_skips_drones_a_batch_holds(database: Database):
    engine = Engine(ZoneIndexCache(), EngineConfig())
    async with database.session() as session:
        await send(session, engine, [at("W-HELD", 0), at("W-FREE", 0)])
    held = database.sessions()
    await send(held, engine, [at("W-HELD", 1)])  # an uncommitted batch holds W-HELD's row
    try:
        async with database.session() as session, asyncio.timeout(5):
            free = await engine_state.lock_free_states(session, ["W-HELD", "W-FREE"])
        assert list(free) == ["W-FREE"], "the tick must not wait for, nor judge, a held drone"
    finally:
        await held.rollback()
        await held.close()
    async with database.session() as session:
        assert list(await engine_state.lock_free_states(session, ["W-HELD"])) == ["W-HELD"]
