"""The session's own psycopg connection, for the ingest path's statements.

Ingest sends a handful of statements per batch, each carrying arrays of a thousand values. Through
psycopg directly they go as binary arrays (as text, a timestamptz[] cost 4 ms and a bytea[] 40 ms
to write per thousand values), and several go at once in a pipeline: one round trip, read back in
order. They run in the session's transaction, like everything else the session does.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

import numpy as np
import psycopg
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
Connection = psycopg.AsyncConnection[Any]
FLOAT8_ARRAY_OID = 1022
FLOAT8_OID = 701
HEADER = struct.Struct(">iiiii")  # dimensions, has nulls, element type, length, lower bound
ELEMENT = struct.Struct(">id")  # a float8 element: its length (8), its value
NULL = struct.pack(">i", -1)
ELEMENTS = np.dtype([("length", ">i4"), ("value", ">f8")])
FEW = 32  # up to this many values, packing each costs less than numpy's fixed cost


class Floats:
    """Numbers (None: NULL) to go as one binary float8[]: psycopg dumps a list element by
    element in Python, after a scan for the element type (a quarter of a millisecond per
    thousand); this writes the array at once."""

    __slots__ = ("values",)

    def __init__(self, values: Sequence[float | None]) -> None:
        self.values = values


class FloatsDumper(Dumper):
    """The binary float8[] of a Floats."""

    format = Format.BINARY
    oid = FLOAT8_ARRAY_OID

    def dump(self, obj: Floats) -> bytes:
        """The array in PostgreSQL's binary array format."""
        values = obj.values
        if len(values) > FEW:
            numbers = np.array(values, dtype=np.float64)  # None is NaN here
            if not np.isnan(numbers).any():
                elements = np.empty(len(values), dtype=ELEMENTS)
                elements["length"] = 8
                elements["value"] = numbers
                return HEADER.pack(1, 0, FLOAT8_OID, len(values), 1) + elements.tobytes()
        body = b"".join(NULL if v is None else ELEMENT.pack(8, v) for v in values)
        return HEADER.pack(1, int(None in values), FLOAT8_OID, len(values), 1) + body


psycopg.adapters.register_dumper(Floats, FloatsDumper)  # for every connection made from now on

_INDENT = re.compile(r"\n[ \t]+")
_SPACES = re.compile(r"[ \t]{2,}")
CACHED_QUERY_BYTES = 4096  # psycopg parses a longer query again at every execution


def compact(sql: str) -> str:
    """The statement without its indentation and runs of blanks (line breaks kept, so `--`
    comments still end where they did), short enough for psycopg to keep it parsed."""
    compacted = _SPACES.sub(" ", _INDENT.sub("\n", sql))
    if len(compacted.encode()) > CACHED_QUERY_BYTES:
        raise ValueError(f"a hot-path statement of {len(compacted)} bytes is parsed every time")
    return compacted


async def connection_of(session: AsyncSession) -> Connection:
    """The psycopg connection under the session, in the session's transaction (found once per
    transaction: asking SQLAlchemy costs a tenth of a millisecond, several times a batch)."""
    transaction = session.sync_session.get_transaction()
    known = session.info.get(_CONNECTION)
    if transaction is not None and known is not None and known[0] is transaction:
        return cast(Connection, known[1])
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if not isinstance(driver, psycopg.AsyncConnection):
        raise TypeError(f"the ingest path needs psycopg 3, not {type(driver).__name__}")
    session.info[_CONNECTION] = (session.sync_session.get_transaction(), driver)
    return driver


_CONNECTION = "skyguard.driver.connection"  # session.info key: (transaction, psycopg connection)


class Pending(Generic[T]):
    """A statement sent (perhaps in a pipeline), its rows read and parsed when asked for."""

    def __init__(self, cursor: psycopg.AsyncCursor[Any], parse: Callable[[list[Any]], T]) -> None:
        self._cursor = cursor
        self._parse = parse

    async def result(self) -> T:
        """The parsed rows (waits for the server if they have not come yet)."""
        return self._parse(await self._cursor.fetchall())


async def send(connection: Connection, query: str, params: Any = None) -> psycopg.AsyncCursor[Any]:
    """Execute a statement with binary parameters and results (queued when in a pipeline)."""
    cursor = connection.cursor(binary=True)
    await cursor.execute(query, params)
    return cursor


async def query(
    connection: Connection, sql: str, params: Any, parse: Callable[[list[Any]], T]
) -> Pending[T]:
    """Send a statement whose rows are wanted; they are parsed when asked for."""
    return Pending(await send(connection, sql, params), parse)
