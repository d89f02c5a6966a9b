"""Group commit: small telemetry requests arriving together share a transaction, and each
still gets its own answer (accepted, duplicates, rejections with their own pointers)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from skyguard.geofence.episodes import EngineConfig
from skyguard.ingest.batch import Engine, IngestResult
from skyguard.ingest.coalesce import IngestQueue, split_result
from skyguard.ingest.validate import Rejection
from skyguard.store.db import Database
from skyguard.store.migrate import upgrade
from skyguard.store.zone_index import ZoneIndexCache
from tests.alerts.test_stream import scratch_database

START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


@pytest.fixture(scope="module")
async def database() -> AsyncIterator[Database]:
    with scratch_database(f"skyguard_group_{os.getpid()}") as url:
        upgrade(url)
        db = Database.connect(url, pool_size=4)
        yield db
        await db.dispose()


def queue_on(database: Database) -> IngestQueue:
    engine = Engine(ZoneIndexCache(), EngineConfig())
    return IngestQueue(lambda: database, engine, future_tolerance=timedelta(seconds=5))


def one(serial: str, second: int, **fields: Any) -> dict[str, Any]:
    time = (START + timedelta(seconds=second)).isoformat()
    return {"serial": serial, "time": time, "lon": 8.5 + second * 1e-5, "lat": 47.4, **fields}


async def stored(database: Database, prefix: str) -> int:
    async with database.session() as session:
        query = text("SELECT count(*) FROM positions WHERE serial LIKE :p")
        return int((await session.execute(query, {"p": f"{prefix}%"})).scalar_one())


async def test_concurrent_single_reports_share_transactions_and_all_commit(database):
    queue = queue_on(database)
    requests = [[one(f"GC-{i % 40}", i // 40)] for i in range(400)]
    results = await asyncio.gather(*(queue.submit(raws) for raws in requests))
    assert [r.accepted for r in results] == [1] * 400
    assert await stored(database, "GC-") == 400
    assert queue.flushes < 400 / 4, "requests arriving together should share a commit"


async def test_each_request_gets_its_own_duplicates_and_rejections(database):
    queue = queue_on(database)
    first, repeat = [one("GD-1", 0)], [one("GD-1", 0)]
    bad = [one("GD-2", 0), one("GD-2", 1, lat=123.0)]
    results = await asyncio.gather(*(queue.submit(r) for r in (first, repeat, bad)))
    answers = sorted((r.accepted, r.duplicates) for r in results[:2])
    assert answers == [(0, [0]), (1, [])], "one of the two copies is stored, the other is a dup"
    assert results[2].accepted == 1
    assert [(r.index, r.pointer) for r in results[2].rejected] == [(1, "/reports/1/lat")]
    assert await stored(database, "GD-") == 2


def test_split_result_counts_indexes_within_each_request():
    merged = IngestResult(
        accepted=3,
        duplicates=[1],
        rejected=[Rejection(4, "lat is outside -90..90", "/reports/4/lat")],
        alerts=[{"serial": "B"}],
    )
    raws = [{"serial": "A"}, {"serial": "A"}, {"serial": " B "}, {"serial": "C"}, {"serial": "C"}]
    parts = split_result(merged, [2, 1, 2], raws)
    assert [(p.accepted, p.duplicates) for p in parts] == [(1, [1]), (1, []), (1, [])]
    assert [(r.index, r.pointer) for r in parts[2].rejected] == [(1, "/reports/1/lat")]
    assert [p.alerts for p in parts] == [[], [{"serial": "B"}], []]


async def test_a_failed_flush_fails_only_its_own_requests(database):
    class Broken:
        def session(self) -> Any:
            raise RuntimeError("database down")

    broken = IngestQueue(
        lambda: Broken(),  # type: ignore[arg-type, return-value]
        Engine(ZoneIndexCache(), EngineConfig()),
        future_tolerance=timedelta(seconds=5),
    )
    with pytest.raises(RuntimeError, match="database down"):
        await broken.submit([one("GF-1", 0)])
    healthy = await queue_on(database).submit([one("GF-1", 0)])
    assert healthy.accepted == 1


async def test_a_request_right_after_a_flush_ends_is_flushed_too(database):
    """The flusher that just answered has finished but is not yet forgotten when its caller
    submits again: the new request must still get a flusher of its own."""
    queue = IngestQueue(
        lambda: database,
        Engine(ZoneIndexCache(), EngineConfig()),
        future_tolerance=timedelta(seconds=5),
        flushers=1,
    )
    assert (await queue.submit([one("GR-1", 0)])).accepted == 1
    async with asyncio.timeout(5):  # in this task: submit runs before the flusher is forgotten
        again = await queue.submit([one("GR-1", 1)])
    assert again.accepted == 1
