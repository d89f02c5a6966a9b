"""Each drone's memory in PostgreSQL (drone_engine_state): locked per batch, so workers keep drone
order; it holds the engine's state and the open flight (drone_memory), and the last report's
time and place, which the next report's segment starts from (positions.INSERT_POSITIONS)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.episodes import DroneState
from skyguard.store import driver
from skyguard.store.drone_memory import pack_flight, pack_state, unpack_flight, unpack_state
from skyguard.tracks.flights import FlightTrack

INSERT_MISSING = """
    INSERT INTO drone_engine_state (serial)
    SELECT unnest(%(serials)b::text[])
    ON CONFLICT (serial) DO NOTHING
"""

# Drones not seen before noted as unregistered (store.drones.ENSURE_SEEN), with their rows here:
# one statement (the foreign key is checked at its end, when both are in).
INSERT_MISSING_SEEN = """
    WITH seen AS (
        INSERT INTO drones (serial, first_seen_at, registered)
        SELECT s.serial, s.first_seen_at, false
        FROM unnest(%(serials)b::text[], %(times)b::timestamptz[]) AS s(serial, first_seen_at)
        ON CONFLICT (serial) DO NOTHING
    )
    INSERT INTO drone_engine_state (serial)
    SELECT unnest(%(serials)b::text[])
    ON CONFLICT (serial) DO NOTHING
"""

LOCK = """
    SELECT serial, state, flight FROM drone_engine_state
    WHERE serial = ANY(%(serials)b::text[])
    ORDER BY serial
    FOR UPDATE
"""

# A drone's memory after a batch; its flight untouched where `flight` is NULL and `keep` is true.
SAVE = """
    UPDATE drone_engine_state AS d
    SET state = s.state, last_time = s.last_time, last_lon = s.last_lon, last_lat = s.last_lat,
        open_episodes = s.open_episodes, due_at = s.due_at,
        flight = CASE WHEN s.keep THEN d.flight ELSE s.flight END
    FROM unnest(%(serials)b::text[], %(states)b::bytea[], %(times)b::timestamptz[],
                %(lons)b::float8[], %(lats)b::float8[], %(episodes)b::int2[],
                %(dues)b::timestamptz[], %(flights)b::bytea[], %(keep)b::bool[])
         AS s(serial, state, last_time, last_lon, last_lat, open_episodes, due_at, flight, keep)
    WHERE d.serial = s.serial
"""

# Drones the background tick must look at now (geofence.due): an index on due_at finds them.
DUE = text("""
    SELECT serial FROM drone_engine_state
    WHERE due_at <= :now AND state IS NOT NULL
""")

# Drones time can still change: those with open episodes, and those not yet silent (a zone or
# an exemption window may begin or end while they are inside).
CANDIDATES = text("""
    SELECT serial, last_lon, last_lat, open_episodes > 0 FROM drone_engine_state
    WHERE state IS NOT NULL AND (last_time >= :since OR open_episodes > 0)
""")

# The rows of these drones that no batch holds now: a held drone's own batch moves it on. Only
# the state is read: the open flight and its launch evidence are most of a row's bytes, and
# time alone does not change them (a silent flight is closed by flights.close_silent).
LOCK_FREE = """
    SELECT serial, state FROM drone_engine_state
    WHERE serial = ANY(%(serials)b::text[]) AND state IS NOT NULL
    ORDER BY serial
    FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class Candidate:
    """A drone time alone may change, with its last position (unknown in a row older than
    migration 0009) and whether it has episodes open."""

    serial: str
    lon: float | None
    lat: float | None
    following: bool


@dataclass
class Memory:
    """What is kept of one drone between batches: the engine's state and its open flight."""

    state: DroneState | None = None
    flight: FlightTrack | None = None


Row = tuple[bytes | None, bytes | None]  # a drone's (state, flight) columns as stored


class MemoryCache:
    """The memories this process last wrote, by the bytes it wrote: a row read back unchanged
    needs no decoding (a few hundredths of a millisecond a drone, and the garbage).

    A memory is taken out when a batch uses it (the batch changes its flight in place) and put
    back with the bytes the batch writes. Should that batch roll back, the row keeps its old
    bytes and the next batch decodes them; a row another worker wrote reads differently too.
    """

    def __init__(self, size: int = 2_000, stored_size: int = 100_000) -> None:
        """Keep at most `size` drones (about 10 kB each), the least recently written first,
        and know of at most `stored_size` drones that their rows are stored."""
        self._size = size
        self._entries: dict[str, tuple[Row, Memory]] = {}
        self._stored_size = stored_size
        # Drones whose rows (drones, drone_engine_state) a committed batch wrote: drones are
        # never deleted, so their rows need not be inserted again (ON CONFLICT DO NOTHING for
        # each drone of each batch was a tenth of PostgreSQL's time). A row read with a state
        # was committed by an earlier batch; one this batch inserted has none yet, so a batch
        # that rolls back leaves nothing wrong here.
        self._stored: set[str] = set()

    def unstored(self, serials: Sequence[str]) -> list[str]:
        """The serials not known to have their rows stored."""
        stored = self._stored
        return [serial for serial in serials if serial not in stored]

    def note_stored(self, serials: Iterable[str]) -> None:
        """Remember that these drones' rows are stored (committed)."""
        if len(self._stored) > self._stored_size:
            self._stored.clear()  # the next batches insert again, harmlessly
        self._stored.update(serials)

    def take(self, serial: str, row: Row) -> Memory:
        """The memory these bytes hold, from the cache when they are what it holds."""
        entry = self._entries.pop(serial, None)
        if entry is not None and entry[0] == row:
            return entry[1]
        state, flight = row
        return Memory(
            None if state is None else unpack_state(serial, state),
            None if flight is None else unpack_flight(serial, flight),
        )

    def put(self, serial: str, row: Row, memory: Memory) -> None:
        """Remember the memory a batch writes as these bytes."""
        self._entries[serial] = (row, memory)
        if len(self._entries) > self._size:
            del self._entries[next(iter(self._entries))]


async def send_lock(
    connection: driver.Connection,
    serials: Sequence[str],
    cache: MemoryCache | None = None,
    first_seen: Mapping[str, datetime] | None = None,
) -> driver.Pending[dict[str, Memory]]:
    """Lock these drones' rows (creating missing ones) in one order; their memories, once read.
    With `first_seen` (a time for each serial), drones not known yet are noted as unregistered
    drones first seen then, in the same statement.

    The row lock is what keeps one drone's reports in order when several workers ingest at once:
    a second batch for the same drone waits here until the first commits. Two statements, so
    that the lock's snapshot sees a row another worker inserted and committed meanwhile.
    """
    ordered = sorted(set(serials))
    cache = cache or MemoryCache()
    missing = cache.unstored(ordered)  # usually none: no statement then
    if missing and first_seen is None:
        await driver.send(connection, INSERT_MISSING, {"serials": missing})
    elif missing and first_seen is not None:
        times = [first_seen[serial] for serial in missing]
        await driver.send(connection, INSERT_MISSING_SEEN, {"serials": missing, "times": times})
    take = cache.take

    def memories(rows: list[tuple[str, bytes | None, bytes | None]]) -> dict[str, Memory]:
        cache.note_stored(serial for serial, state, _ in rows if state is not None)
        return {serial: take(serial, (state, flight)) for serial, state, flight in rows}

    return await driver.query(connection, LOCK, {"serials": ordered}, memories)


async def lock(
    session: AsyncSession, serials: Sequence[str], cache: MemoryCache | None = None
) -> dict[str, Memory]:
    """Lock these drones' rows (creating missing ones); their memories."""
    connection = await driver.connection_of(session)
    async with connection.pipeline():
        pending = await send_lock(connection, serials, cache)
    return await pending.result()


async def send_save(
    connection: driver.Connection,
    states: Mapping[str, DroneState],
    dues: Mapping[str, datetime | None],
    flights: Mapping[str, FlightTrack | None] | None = None,
    cache: MemoryCache | None = None,
) -> None:
    """Write the drones' new states with when the tick is next due to look at each (None:
    only a report or a zone edit can change it; see geofence.due), and for the drones in
    `flights` their open flight (None: none open), rows already locked; the others keep theirs.
    With a cache, drones whose flight is written are remembered in it."""
    if not states:
        return
    flights = flights or {}
    ordered = sorted(states)
    kept = [states[s] for s in ordered]
    packed = [pack_state(state) for state in kept]
    written: list[bytes | None] = []
    for serial, state, state_bytes in zip(ordered, kept, packed, strict=True):
        if serial not in flights:
            written.append(None)
            continue
        flight = flights[serial]
        flight_bytes = None if flight is None else pack_flight(flight)
        written.append(flight_bytes)
        if cache is not None:
            cache.put(serial, (state_bytes, flight_bytes), Memory(state, flight))
    params: dict[str, Any] = {
        "serials": ordered,
        "states": packed,
        "times": [state.last.time for state in kept],
        "lons": driver.Floats([state.last.lon for state in kept]),
        "lats": driver.Floats([state.last.lat for state in kept]),
        "episodes": [len(state.episodes) for state in kept],
        "dues": [dues[s] for s in ordered],
        "flights": written,
        "keep": [s not in flights for s in ordered],
    }
    await driver.send(connection, SAVE, params)


async def save_states(
    session: AsyncSession, states: Mapping[str, DroneState], dues: Mapping[str, datetime | None]
) -> None:
    """Write the drones' new engine states and when each is next due (rows already locked)."""
    await send_save(await driver.connection_of(session), states, dues)


async def clear_flights(connection: driver.Connection, serials: Sequence[str]) -> None:
    """Forget the drones' open flights (closed; rows already locked)."""
    await driver.send(
        connection,
        "UPDATE drone_engine_state SET flight = NULL WHERE serial = ANY(%(serials)b::text[])",
        {"serials": sorted(serials)},
    )


async def expiry_candidates(session: AsyncSession, since: datetime) -> list[Candidate]:
    """Drones the passing of time may change: reported since `since`, or with open episodes
    (read without locking them)."""
    rows = await session.execute(CANDIDATES, {"since": since})
    return [Candidate(*row) for row in rows]


async def due_serials(session: AsyncSession, now: datetime) -> list[str]:
    """The drones whose alerts time alone may have changed by `now` (read without locking)."""
    return list((await session.scalars(DUE, {"now": now})).all())


async def lock_free_states(session: AsyncSession, serials: Sequence[str]) -> dict[str, DroneState]:
    """Lock the rows of these drones that no one holds now, in one order; their states. The
    others are skipped: whoever holds them (an ingest batch) is moving them on."""
    if not serials:
        return {}
    connection = await driver.connection_of(session)
    rows = await (await driver.send(connection, LOCK_FREE, {"serials": sorted(serials)})).fetchall()
    return {serial: unpack_state(serial, state) for serial, state in rows}
