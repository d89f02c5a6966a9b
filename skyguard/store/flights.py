"""Flights in PostGIS: each drone's open flight moved on per batch under the ingest path's
per-drone lock, closed by a gap (at ingest or by the expiry tick), read back for the API."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import InvalidInput, NotFound
from skyguard.geofence.reports import Report
from skyguard.store import positions
from skyguard.store.tables import Flight
from skyguard.store.zones import iso_utc
from skyguard.tracks.export import FlightSpan, Leg, split_legs
from skyguard.tracks.flights import FlightTrack, close, follow
from skyguard.tracks.launch import LaunchEvidence, LaunchPoint


def track_of(row: Flight) -> FlightTrack:
    """The pure flight a row holds."""
    evidence = row.evidence or {}
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


def _landing_of(row: Flight) -> tuple[float, float] | None:
    if row.landing_lon is None or row.landing_lat is None:
        return None
    return (row.landing_lon, row.landing_lat)


def _launch_of(row: Flight) -> LaunchPoint:
    return LaunchPoint(
        lon=row.launch_lon,
        lat=row.launch_lat,
        radius_m=row.launch_radius_m,
        method=row.launch_method,
        confidence=row.launch_confidence,
        basis=row.launch_basis,
        ground_alt_m=row.launch_ground_alt_m,
    )


def _write(row: Flight, flight: FlightTrack) -> None:
    launch = flight.launch or flight.evidence.estimate(ended=flight.is_closed)
    row.serial = flight.serial
    row.started_at, row.ended_at = flight.started_at, flight.ended_at
    row.closed_at = flight.closed_at
    row.report_count, row.distance_m = flight.report_count, flight.distance_m
    row.max_height_m, row.max_alt_m = flight.max_height_m, flight.max_alt_m
    row.first_lon, row.first_lat = flight.first
    row.last_lon, row.last_lat, row.last_alt_m = flight.last
    row.launch_lon, row.launch_lat = launch.lon, launch.lat
    row.launch_radius_m, row.launch_method = launch.radius_m, launch.method
    row.launch_confidence, row.launch_basis = launch.confidence, launch.basis
    row.launch_ground_alt_m = launch.ground_alt_m
    # a SQL expression, not a WKTElement: geoalchemy2 parses WKT in Python, per row
    row.launch_geom = func.ST_SetSRID(func.ST_MakePoint(launch.lon, launch.lat), 4326)
    row.landing_lon, row.landing_lat = flight.landing or (None, None)
    row.evidence = {
        "launch": flight.evidence.to_json(),
        "max_reported_height_m": flight.max_reported_height_m,
    }


async def _open_rows(session: AsyncSession, serials: Sequence[str]) -> dict[str, Flight]:
    """The drones' open flights, locked (the caller holds the drones' engine locks already)."""
    if not serials:
        return {}
    rows = await session.scalars(
        select(Flight)
        .where(Flight.serial.in_(sorted(set(serials))), Flight.closed_at.is_(None))
        .order_by(Flight.serial)
        .with_for_update()
        .execution_options(populate_existing=True)
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
    for serial, mine in sorted(by_serial.items()):
        held = rows.get(serial)
        for flight in follow(track_of(held) if held else None, mine, gap, after=after.get(serial)):
            row = held if held is not None and held.id == flight.id else Flight(id=flight.id)
            _write(row, flight)
            if row is not held:
                session.add(row)
            if not flight.is_closed:
                current[serial] = flight.id
    # one flush: the ORM emits a table's UPDATEs before its INSERTs, so a drone's open flight is
    # closed before its next one opens (one open flight per drone is a unique index)
    await session.flush()
    return current


async def close_silent(session: AsyncSession, now: datetime, gap: timedelta) -> int:
    """Close the open flights whose last report is more than `gap` ago; how many it closed.

    Rows an ingest batch holds are skipped: that batch decides about its own drone's flight.
    """
    rows = await session.scalars(
        select(Flight)
        .where(Flight.closed_at.is_(None), Flight.ended_at < now - gap)
        .order_by(Flight.serial)
        .with_for_update(skip_locked=True)
    )
    closed = 0
    for row in rows:
        _write(row, close(track_of(row), gap))
        closed += 1
    await session.flush()
    return closed


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
