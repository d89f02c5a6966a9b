"""Flights in PostGIS: each drone's open flight moved on per batch under the ingest path's
per-drone lock, closed by a gap (at ingest or by the expiry tick), read back for the API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import InvalidInput, NotFound
from skyguard.geofence.reports import Report
from skyguard.store import driver, engine_state, positions
from skyguard.store.drone_memory import unpack_flight
from skyguard.store.engine_state import Memory
from skyguard.store.tables import Flight
from skyguard.store.zones import iso_utc
from skyguard.tracks.export import FlightSpan, Leg, split_legs
from skyguard.tracks.flights import FlightTrack, close_all, follow_all
from skyguard.tracks.launch import LaunchEvidence, LaunchPoint

# The columns of a flight row, but launch_geom and updated_at (derived when written).
STATE_COLUMNS = [c for c in Flight.__table__.c if c.name not in ("launch_geom", "updated_at")]


def track_of(row: Any) -> FlightTrack:
    """The pure flight a `flights` row (or a row of its STATE_COLUMNS) holds; its evidence is
    the row's (kept once closed), else none."""
    evidence = row.evidence if isinstance(row.evidence, dict) else json.loads(row.evidence or "{}")
    return FlightTrack(
        id=row.id,
        serial=row.serial,
        started_at=row.started_at,
        ended_at=row.ended_at,
        report_count=row.report_count,
        distance_m=row.distance_m,
        first=(row.first_lon, row.first_lat),
        last=(row.last_lon, row.last_lat, row.last_alt_m),
        evidence=LaunchEvidence.from_json(evidence.get("launch") or {}),
        max_alt_m=row.max_alt_m,
        max_reported_height_m=evidence.get("max_reported_height_m"),
        closed_at=row.closed_at,
        launch=_launch_of(row),
        landing=_landing_of(row),
    )


def _landing_of(row: Any) -> tuple[float, float] | None:
    if row.landing_lon is None or row.landing_lat is None:
        return None
    return (row.landing_lon, row.landing_lat)


def _launch_of(row: Any) -> LaunchPoint:
    return LaunchPoint(
        lon=row.launch_lon,
        lat=row.launch_lat,
        radius_m=row.launch_radius_m,
        method=row.launch_method,
        confidence=row.launch_confidence,
        basis=row.launch_basis,
        ground_alt_m=row.launch_ground_alt_m,
    )


# (column, SQL array type) of what a flight row is written from, in order.
SAVED = (
    ("id", "uuid"), ("serial", "text"), ("started_at", "timestamptz"),
    ("ended_at", "timestamptz"), ("closed_at", "timestamptz"), ("report_count", "int"),
    ("distance_m", "float8"), ("max_height_m", "float8"), ("max_alt_m", "float8"),
    ("first_lon", "float8"), ("first_lat", "float8"), ("last_lon", "float8"),
    ("last_lat", "float8"), ("last_alt_m", "float8"), ("launch_lon", "float8"),
    ("launch_lat", "float8"), ("launch_radius_m", "float8"), ("launch_method", "text"),
    ("launch_confidence", "float8"), ("launch_basis", "text"),
    ("launch_ground_alt_m", "float8"), ("landing_lon", "float8"), ("landing_lat", "float8"),
    ("evidence", "text"),
)  # fmt: skip
_NAMES = [name for name, _ in SAVED]
# The evidence is JSON text for a closed flight, NULL for an open one (its evidence lives with
# the drone, in drone_engine_state.flight, rewritten with every batch).
SAVE = f"""
    INSERT INTO flights AS f ({", ".join(_NAMES)}, launch_geom, updated_at)
    SELECT {", ".join(f"v.{n}" for n in _NAMES[:-1])}, CAST(v.evidence AS jsonb),
           ST_SetSRID(ST_MakePoint(v.launch_lon, v.launch_lat), 4326), now()
    FROM unnest({", ".join(f"%({n})b::{t}[]" for n, t in SAVED)}) AS v({", ".join(_NAMES)})
    ON CONFLICT (id) DO UPDATE SET
        {", ".join(f"{n} = excluded.{n}" for n in (*_NAMES[2:], "launch_geom"))},
        updated_at = excluded.updated_at
"""  # noqa: S608 - column names are constants, values are bound


def _values(flight: FlightTrack) -> tuple[Any, ...]:
    launch = flight.launch or flight.evidence.estimate(ended=flight.is_closed)
    landing = flight.landing or (None, None)
    return (
        flight.id, flight.serial, flight.started_at, flight.ended_at, flight.closed_at,
        flight.report_count, flight.distance_m, flight.max_height_m, flight.max_alt_m,
        *flight.first, *flight.last, launch.lon, launch.lat, launch.radius_m, launch.method,
        launch.confidence, launch.basis, launch.ground_alt_m, *landing,
        _evidence(flight) if flight.is_closed else None,
    )  # fmt: skip


def _evidence(flight: FlightTrack) -> str:
    return json.dumps(
        {
            "launch": flight.evidence.to_json(),
            "max_reported_height_m": flight.max_reported_height_m,
        }
    )


async def send_flights(connection: driver.Connection, flights: Sequence[FlightTrack]) -> None:
    """Write flights, new or changed, in one statement for the closed ones, then one for the
    open: a drone's flight is closed before its next one opens (one open flight per drone is a
    unique index)."""
    for batch in ([f for f in flights if f.is_closed], [f for f in flights if not f.is_closed]):
        if batch:
            columns = zip(*(_values(f) for f in batch), strict=True)
            params = {
                name: driver.Floats(values) if kind == "float8" else list(values)
                for (name, kind), values in zip(SAVED, columns, strict=True)
            }
            await driver.send(connection, SAVE, params)


def follow_flights(
    memories: Mapping[str, Memory],
    reports: Sequence[Report],
    gap: timedelta,
) -> tuple[dict[str, FlightTrack | None], list[FlightTrack]]:
    """Move each drone's open flight on with the batch's new reports: the drones whose open
    flight changed (with the flight now open, None if none is), and every flight changed.

    A report at or before the drone's newest report before this batch (its engine state's) is
    late and changes no flight.
    """
    by_serial: dict[str, list[Report]] = {}
    for report in reports:
        by_serial.setdefault(report.serial, []).append(report)
    serials = sorted(by_serial)
    drones = []
    for serial in serials:
        memory = memories.get(serial) or Memory()
        after = memory.state.last_time if memory.state is not None else None
        drones.append((memory.flight, by_serial[serial], after))
    changed: dict[str, FlightTrack | None] = {}
    touched: list[FlightTrack] = []
    for serial, moved in zip(serials, follow_all(drones, gap), strict=True):
        if moved:
            changed[serial] = None if moved[-1].is_closed else moved[-1]
            touched += moved
    return changed, touched


CLOSING = """
    SELECT e.serial, e.flight, f.id
    FROM flights f JOIN drone_engine_state e ON e.serial = f.serial
    WHERE f.closed_at IS NULL AND f.ended_at < %(before)b::timestamptz
    ORDER BY e.serial
    FOR UPDATE OF e SKIP LOCKED
"""


async def close_silent(session: AsyncSession, now: datetime, gap: timedelta) -> int:
    """Close the open flights whose last report is more than `gap` ago; how many it closed.

    Drones an ingest batch holds (their drone_engine_state row locked) are skipped: that batch
    decides about its own drone's flight.
    """
    before = now - gap
    connection = await driver.connection_of(session)
    rows = await (await driver.send(connection, CLOSING, {"before": before})).fetchall()
    # A batch may have moved the flight on between the query's snapshot and the lock: the
    # drone's memory, read under the lock, is what says whether it is silent.
    held = {serial: unpack_flight(serial, flight) for serial, flight, _ in rows if flight}
    silent = [flight for flight in held.values() if flight.ended_at < before]
    strays = [flight_id for serial, flight, flight_id in rows if not flight]
    silent += [track_of(row) for row in await _rows(session, strays)]
    closed = close_all([f for f in silent if f.evidence.fix_count], gap)
    closed += [replace(f, closed_at=f.ended_at + gap) for f in silent if not f.evidence.fix_count]
    await send_flights(connection, closed)
    await engine_state.clear_flights(connection, [f.serial for f in closed])
    return len(closed)


async def _rows(session: AsyncSession, flight_ids: Sequence[uuid.UUID]) -> Sequence[Any]:
    """Open flights whose drone holds no memory of them (none is expected), as stored."""
    if not flight_ids:
        return []
    statement = select(*STATE_COLUMNS).where(Flight.id.in_(flight_ids), Flight.closed_at.is_(None))
    return (await session.execute(statement)).all()


def flight_json(row: Flight) -> dict[str, Any]:
    """A flight as the API shows it."""
    return {
        "id": str(row.id),
        "serial": row.serial,
        "started_at": iso_utc(row.started_at),
        "ended_at": iso_utc(row.ended_at),
        "in_progress": row.closed_at is None,
        "duration_s": (row.ended_at - row.started_at).total_seconds(),
        "report_count": row.report_count,
        "distance_m": round(row.distance_m, 1),
        "max_height_m": row.max_height_m,
        "max_alt_m": row.max_alt_m,
        "launch_point": launch_json(row),
        "landing_point": (
            {"lon": row.landing_lon, "lat": row.landing_lat}
            if row.landing_lon is not None
            else None
        ),
        "first_position": {"lon": row.first_lon, "lat": row.first_lat},
        "last_position": {"lon": row.last_lon, "lat": row.last_lat, "alt_m": row.last_alt_m},
    }


def launch_json(row: Any) -> dict[str, Any]:
    """The flight's current launch point estimate."""
    return _launch_of(row).as_json()


async def load_flight(session: AsyncSession, flight_id: uuid.UUID) -> Flight:
    """One flight, or NotFound."""
    row = await session.get(Flight, flight_id)
    if row is None:
        raise NotFound(f"no flight {flight_id}")
    return row


def _drone_flights(serial: str, since: datetime | None, until: datetime | None) -> Select[Flight]:
    statement = select(Flight).where(Flight.serial == serial)
    if since is not None:
        statement = statement.where(Flight.ended_at >= since)
    if until is not None:
        statement = statement.where(Flight.started_at < until)
    return statement


async def list_flights(
    session: AsyncSession,
    serial: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 100,
) -> list[Flight]:
    """A drone's flights overlapping [since, until), newest first; at most limit + 1."""
    statement = _drone_flights(serial, since, until)
    if after is not None:
        statement = statement.where(tuple_(Flight.started_at, Flight.id) < tuple_(*after))
    statement = statement.order_by(Flight.started_at.desc(), Flight.id.desc()).limit(limit + 1)
    return list((await session.scalars(statement)).all())


async def flights_between(
    session: AsyncSession, serial: str, since: datetime | None, until: datetime | None
) -> list[Flight]:
    """A drone's flights overlapping [since, until), oldest first (for cutting a track)."""
    statement = _drone_flights(serial, since, until).order_by(Flight.started_at)
    return list((await session.scalars(statement)).all())


LAUNCH_COLUMNS = [
    Flight.id, Flight.launch_lon, Flight.launch_lat, Flight.launch_radius_m, Flight.launch_method,
    Flight.launch_confidence, Flight.launch_basis, Flight.launch_ground_alt_m,
]  # fmt: skip


async def launch_points(
    session: AsyncSession, flight_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The current launch point of each flight, in one query."""
    wanted = set(flight_ids)
    if not wanted:
        return {}
    rows = await session.execute(select(*LAUNCH_COLUMNS).where(Flight.id.in_(wanted)))
    return {row.id: launch_json(row) for row in rows}


async def track_legs(
    session: AsyncSession,
    serial: str,
    since: datetime | None,
    until: datetime | None,
    *,
    gap: timedelta,
    max_points: int,
) -> list[Leg]:
    """A drone's track in [since, until) cut into flights; InvalidInput past `max_points`."""
    reports = await positions.track_reports(session, serial, since, until, max_points + 1)
    if len(reports) > max_points:
        raise InvalidInput(
            f"the track holds more than {max_points} reports: narrow since/until",
            "query:since",
        )
    spans = [
        FlightSpan(row.id, row.started_at, row.ended_at)
        for row in await flights_between(session, serial, since, until)
    ]
    return split_legs(reports, gap, spans)
