"""Flights in PostGIS: each drone's open flight moved on per batch under the ingest path's
per-drone lock, closed by a gap (at ingest or by the expiry tick), read back for the API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, Text, any_, cast, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import InvalidInput, NotFound
from skyguard.geofence.reports import Report
from skyguard.store import positions
from skyguard.store.tables import Flight
from skyguard.store.zones import iso_utc
from skyguard.tracks.export import FlightSpan, Leg, split_legs
from skyguard.tracks.flights import FlightTrack, close, follow
from skyguard.tracks.launch import LaunchEvidence, LaunchPoint

# The columns a flight's state needs (launch_geom and updated_at are derived when written); the
# evidence as text, parsed here: psycopg's jsonb loader took 0.2 ms a row.
STATE_COLUMNS = [
    cast(c, Text).label(c.name) if c.name == "evidence" else c
    for c in Flight.__table__.c
    if c.name not in ("launch_geom", "updated_at")
]


def track_of(row: Any) -> FlightTrack:
    """The pure flight a `flights` row (or a row of its STATE_COLUMNS) holds."""
    evidence = json.loads(row.evidence) if isinstance(row.evidence, str) else row.evidence or {}
    return FlightTrack(
        id=row.id,
        serial=row.serial,
        started_at=row.started_at,
        ended_at=row.ended_at,
        report_count=row.report_count,
        distance_m=row.distance_m,
        first=(row.first_lon, row.first_lat),
        last=(row.last_lon, row.last_lat, row.last_alt_m),
        evidence=LaunchEvidence.from_json(evidence["launch"]),
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
)  # fmt: skip
_NAMES = [name for name, _ in SAVED]
# The evidence goes as one JSON array, element i for row i: a text[] of JSON documents costs
# a regex escape per character on the way out.
SAVE = text(f"""
    INSERT INTO flights AS f ({", ".join(_NAMES)}, evidence, launch_geom, updated_at)
    SELECT {", ".join(f"v.{n}" for n in _NAMES)}, CAST(:evidence AS jsonb) -> CAST(v.i - 1 AS int),
           ST_SetSRID(ST_MakePoint(v.launch_lon, v.launch_lat), 4326), now()
    FROM unnest({", ".join(f"CAST(:{n} AS {t}[])" for n, t in SAVED)})
         WITH ORDINALITY AS v({", ".join(_NAMES)}, i)
    ON CONFLICT (id) DO UPDATE SET
        {", ".join(f"{n} = excluded.{n}" for n in (*_NAMES[2:], "evidence", "launch_geom"))},
        updated_at = excluded.updated_at
""")  # noqa: S608 - column names are constants, values are bound


def _values(flight: FlightTrack) -> tuple[Any, ...]:
    launch = flight.launch or flight.evidence.estimate(ended=flight.is_closed)
    landing = flight.landing or (None, None)
    return (
        flight.id, flight.serial, flight.started_at, flight.ended_at, flight.closed_at,
        flight.report_count, flight.distance_m, flight.max_height_m, flight.max_alt_m,
        *flight.first, *flight.last, launch.lon, launch.lat, launch.radius_m, launch.method,
        launch.confidence, launch.basis, launch.ground_alt_m, *landing,
    )  # fmt: skip


def _evidence(flight: FlightTrack) -> dict[str, Any]:
    return {
        "launch": flight.evidence.to_json(),
        "max_reported_height_m": flight.max_reported_height_m,
    }


async def save_flights(session: AsyncSession, flights: Sequence[FlightTrack]) -> None:
    """Write flights, new or changed, in one statement for the closed ones, then one for the
    open: a drone's flight is closed before its next one opens (one open flight per drone is a
    unique index)."""
    for batch in ([f for f in flights if f.is_closed], [f for f in flights if not f.is_closed]):
        if batch:
            columns = zip(*(_values(f) for f in batch), strict=True)
            params: dict[str, Any] = dict(zip(_NAMES, map(list, columns), strict=True))
            params["evidence"] = json.dumps([_evidence(f) for f in batch])
            await session.execute(SAVE, params)


async def _open_rows(session: AsyncSession, serials: Sequence[str]) -> dict[str, Any]:
    """The drones' open flights, locked (the caller holds the drones' engine locks already)."""
    if not serials:
        return {}
    rows = await session.execute(
        select(*STATE_COLUMNS)
        .where(Flight.serial == any_(cast(sorted(set(serials)), ARRAY(Text))))
        .where(Flight.closed_at.is_(None))
        .order_by(Flight.serial)
        .with_for_update()
    )
    return {row.serial: row for row in rows}


async def follow_reports(
    session: AsyncSession,
    reports: Sequence[Report],
    gap: timedelta,
    after: Mapping[str, datetime],
) -> dict[str, uuid.UUID]:
    """Move each drone's flight on with the batch's new reports; each drone's current flight id.

    `after` holds each drone's newest report time before this batch (the engine state's): a
    report at or before it is late and changes no flight.
    """
    by_serial: dict[str, list[Report]] = {}
    for report in reports:
        by_serial.setdefault(report.serial, []).append(report)
    rows = await _open_rows(session, list(by_serial))
    current: dict[str, uuid.UUID] = {s: row.id for s, row in rows.items()}
    touched: list[FlightTrack] = []
    for serial, mine in sorted(by_serial.items()):
        held = rows.get(serial)
        moved = follow(track_of(held) if held else None, mine, gap, after=after.get(serial))
        touched += moved
        for flight in moved:
            if not flight.is_closed:
                current[serial] = flight.id
    await save_flights(session, touched)
    return current


async def close_silent(session: AsyncSession, now: datetime, gap: timedelta) -> int:
    """Close the open flights whose last report is more than `gap` ago; how many it closed.

    Rows an ingest batch holds are skipped: that batch decides about its own drone's flight.
    """
    rows = await session.execute(
        select(*STATE_COLUMNS)
        .where(Flight.closed_at.is_(None), Flight.ended_at < now - gap)
        .order_by(Flight.serial)
        .with_for_update(skip_locked=True)
    )
    closed = [close(track_of(row), gap) for row in rows]
    await save_flights(session, closed)
    return len(closed)


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


def launch_json(row: Flight) -> dict[str, Any]:
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


async def launch_points(
    session: AsyncSession, flight_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """The current launch point of each flight, in one query."""
    if not flight_ids:
        return {}
    rows = await session.scalars(select(Flight).where(Flight.id.in_(set(flight_ids))))
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
