"""The ingest path's psycopg connection: binary float arrays, and the session's connection found
again within a transaction, never a stale one after it."""

from __future__ import annotations

import math

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from skyguard.store import driver


async def round_trip(session: AsyncSession, values: list[float | None]) -> list[float | None]:
    connection = await driver.connection_of(session)
    cursor = await driver.send(connection, "SELECT %(v)b::float8[]", {"v": driver.Floats(values)})
    [(back,)] = await cursor.fetchall()
    return list(back)


@pytest.mark.parametrize(
    "values",
    [
        [],
        [1.5, -2.25e-9, math.pi],
        [1.0, None, 3.0],  # few: packed one by one
        [float(i) / 7 for i in range(100)],  # many: packed by numpy
        [None if i % 9 == 0 else i * 0.1 for i in range(100)],
    ],
)
async def test_floats_go_as_a_binary_array_and_come_back_equal(engine, values):
    async with AsyncSession(engine) as session:
        assert await round_trip(session, values) == values


async def test_the_connection_is_the_sessions_own_in_each_transaction(database_url):
    """Without a pool, each transaction has a connection of its own, closed after it: a
    connection remembered past its transaction would be a closed one."""
    pid = "SELECT pg_backend_pid()"
    unpooled = create_async_engine(database_url, poolclass=NullPool)
    try:
        async with AsyncSession(unpooled) as session:
            first = await driver.connection_of(session)
            assert await driver.connection_of(session) is first, "found again, same transaction"
            await session.commit()
            assert first.closed
            second = await driver.connection_of(session)
            assert not second.closed
            [(through_driver,)] = await (await driver.send(second, pid)).fetchall()
            assert through_driver == (await session.execute(text(pid))).scalar_one()
    finally:
        await unpooled.dispose()


async def test_a_compacted_statement_keeps_its_meaning_and_fits_psycopgs_cache(engine):
    sql = driver.compact("""
        SELECT a.x  -- a comment ends at its line
               + 1
        FROM (SELECT 41 AS x) AS a
    """)
    assert "\n        " not in sql
    async with AsyncSession(engine) as session:
        connection = await driver.connection_of(session)
        assert await (await driver.send(connection, sql)).fetchall() == [(42,)]
    with pytest.raises(ValueError, match="parsed every time"):
        driver.compact("SELECT 1" + " " * 10 + "," * driver.CACHED_QUERY_BYTES)
