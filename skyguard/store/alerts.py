"""Alerts in PostGIS: engine transitions become alert rows and alert events, in one transaction;
listing, acknowledging and resolving them; who is inside a zone now."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, any_, bindparam, select, text, tuple_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import Conflict, NotFound
from skyguard.geofence.episodes import Transition
from skyguard.store import alert_rows, audit, driver
from skyguard.store.alert_rows import AlertRow
from skyguard.store.drones import drone_json, send_summaries
from skyguard.store.flights import launch_json, launch_points
from skyguard.store.keys import Caller
from skyguard.store.tables import Alert, AlertEvent, Drone, DroneLatest, Flight, Owner
from skyguard.store.zones import iso_utc, load_zone
from skyguard.tracks.launch import LaunchPoint

EVENT_TYPES = {"open": "alert.opened", "update": "alert.updated", "close": "alert.closed"}
NOTIFY = text("SELECT pg_notify('skyguard_alerts', '')")


def alert_json(
    row: Alert | AlertRow, drone: dict[str, Any] | None, launch: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The alert as the API, the stream and webhooks show it, with its flight's launch point."""
    return {
        "id": str(row.id),
        "serial": row.serial,
        "flight_id": str(row.flight_id) if row.flight_id is not None else None,
        "launch_point": launch,
        "zone_id": str(row.zone_id),
        "zone_version": row.zone_version,
        "kind": row.kind,
        "severity": row.severity,
        "status": row.status,
        "opened_at": iso_utc(row.opened_at),
        "last_seen_at": iso_utc(row.last_seen_at),
        "closed_at": iso_utc(row.closed_at),
        "close_reason": row.close_reason,
        "entry": {"lon": row.entry_lon, "lat": row.entry_lat},
        "position": {"lon": row.lon, "lat": row.lat},
        "depth_m": row.depth_m,
        "max_depth_m": row.max_depth_m,
        "altitude_assumed": row.altitude_assumed,
        "acknowledged_at": iso_utc(row.acknowledged_at),
        "acknowledged_by": row.acknowledged_by,
        "resolved_at": iso_utc(row.resolved_at),
        "resolved_by": row.resolved_by,
        "note": row.note,
        "drone": _drone_summary(drone),
    }


def _drone_summary(drone: dict[str, Any] | None) -> dict[str, Any] | None:
    if drone is None:
        return None
    keys = ("serial", "registered", "model", "registration_id", "owner")
    return {k: drone.get(k) for k in keys}


async def apply_transitions(
    session: AsyncSession,
    transitions: Sequence[Transition],
    flight_ids: Mapping[str, uuid.UUID] | None = None,
    launches: Mapping[uuid.UUID, LaunchPoint] | None = None,
) -> list[dict[str, Any]]:
    """Persist transitions in order as alert rows and events; the alerts touched, as JSON.

    One row per episode: the partial unique index on open alerts makes a second open for the
    same (drone, zone, kind) fail loudly rather than double an alert. An alert opens in the
    drone's current flight (`flight_ids`) and shows that flight's launch point as it is now
    (`launches` holds those the caller knows; the others are read).
    """
    if not transitions:
        return []
    flight_ids = flight_ids or {}
    connection = await driver.connection_of(session)
    async with connection.pipeline():
        pending = await alert_rows.send_open(connection, transitions)
        summaries = await send_summaries(connection, sorted({t.serial for t in transitions}))
    held, drones = await pending.result(), await summaries.result()
    touched: dict[uuid.UUID, AlertRow] = {}
    opened: set[uuid.UUID] = set()
    events: list[tuple[AlertRow, str, dict[str, Any]]] = []
    for t in transitions:
        key = (t.serial, t.zone_id, t.alert_kind)
        if t.kind == "open":
            row = held[key] = alert_rows.opened(t, flight_ids.get(t.serial))
            opened.add(row.id)
        elif (found := held.get(key)) is not None:
            row = found
            alert_rows.follow(row, t)
        else:
            continue  # an update or close for an alert we never opened (state lost): skip
        if t.kind == "close":
            del held[key]
        touched[row.id] = row
        events.append((row, EVENT_TYPES[t.kind], alert_json(row, drones.get(row.serial))))
    wanted = {r.flight_id for r in touched.values() if r.flight_id is not None}
    given = launches or {}
    known = {f: given[f].as_json() for f in wanted if f in given}
    known.update(await launch_points(session, wanted - known.keys()))
    for row, _, body in events:
        body["launch_point"] = _launch_of(row, known)
    async with connection.pipeline():
        await alert_rows.send_writes(
            connection,
            [row for row in touched.values() if row.id not in opened],
            [row for row in touched.values() if row.id in opened],
            [(row.id, kind, body) for row, kind, body in events],
        )
    return [
        alert_json(row, drones.get(row.serial), _launch_of(row, known)) for row in touched.values()
    ]


def _launch_of(
    row: Alert | AlertRow, launches: Mapping[uuid.UUID, dict[str, Any]]
) -> dict[str, Any] | None:
    return launches.get(row.flight_id) if row.flight_id is not None else None


@dataclass(frozen=True)
class AlertQuery:
    """Filters for listing alerts; since (inclusive) and until (exclusive) bound opened_at."""

    statuses: tuple[str, ...] = ()
    kind: str | None = None
    zone_id: uuid.UUID | None = None
    serial: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: tuple[datetime, uuid.UUID] | None = None
    limit: int = 100


def _with_drone() -> Select[Alert, Drone, Owner, Flight]:
    return (
        select(Alert, Drone, Owner, Flight)
        .join(Drone, Drone.serial == Alert.serial)
        .outerjoin(Owner, Owner.id == Drone.owner_id)
        .outerjoin(Flight, Flight.id == Alert.flight_id)
        .execution_options(populate_existing=True)
    )


def _conditions(query: AlertQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.statuses:
        conditions.append(Alert.status.in_(query.statuses))
    if query.kind is not None:
        conditions.append(Alert.kind == query.kind)
    if query.zone_id is not None:
        conditions.append(Alert.zone_id == query.zone_id)
    if query.serial is not None:
        conditions.append(Alert.serial == query.serial)
    if query.since is not None:
        conditions.append(Alert.opened_at >= query.since)
    if query.until is not None:
        conditions.append(Alert.opened_at < query.until)
    if query.after is not None:
        conditions.append(tuple_(Alert.opened_at, Alert.id) < tuple_(*query.after))
    return conditions


async def list_alerts(
    session: AsyncSession, query: AlertQuery
) -> list[tuple[Alert, dict[str, Any]]]:
    """Matching alerts newest opened first, each with its JSON; at most limit + 1 (more to come)."""
    statement = (
        _with_drone()
        .where(*_conditions(query))
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
        .limit(query.limit + 1)
    )
    rows = await session.execute(statement)
    return [
        (alert, alert_json(alert, drone_json(drone, owner), _flight_launch(flight)))
        for alert, drone, owner, flight in rows
    ]


def _flight_launch(flight: Flight | None) -> dict[str, Any] | None:
    return launch_json(flight) if flight is not None else None


# What an alert is shown with besides its row: its drone, its flight's launch point.
Shown = tuple[dict[str, Any], dict[str, Any] | None]


async def _load(
    session: AsyncSession, alert_id: uuid.UUID, *, for_update: bool = False
) -> tuple[Alert, Shown]:
    statement = _with_drone().where(Alert.id == alert_id)
    if for_update:
        statement = statement.with_for_update(of=Alert)
    row = (await session.execute(statement)).first()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return row[0], (drone_json(row[1], row[2]), _flight_launch(row[3]))


async def alert_body(session: AsyncSession, alert_id: uuid.UUID) -> dict[str, Any]:
    """The alert as JSON, or NotFound."""
    row, shown = await _load(session, alert_id)
    return alert_json(row, *shown)


async def acknowledge(
    session: AsyncSession, caller: Caller, alert_id: uuid.UUID, note: str | None
) -> dict[str, Any]:
    """Acknowledge an alert (a closed one stays closed); Conflict if resolved or acknowledged."""
    row, shown = await _load(session, alert_id, for_update=True)
    if row.resolved_at is not None:
        raise Conflict(f"alert {alert_id} is resolved: there is nothing left to acknowledge")
    if row.acknowledged_at is not None:
        raise Conflict(f"alert {alert_id} was already acknowledged by {row.acknowledged_by!r}")
    before = alert_json(row, *shown)
    row.acknowledged_at = datetime.now(UTC)
    row.acknowledged_by = caller.name
    if row.status == "open":
        row.status = "acknowledged"
    return await _record_change(session, caller, row, shown, before, "acknowledge", note)


async def resolve(
    session: AsyncSession, caller: Caller, alert_id: uuid.UUID, note: str | None
) -> dict[str, Any]:
    """Resolve an alert, open or closed; Conflict if it already is."""
    row, shown = await _load(session, alert_id, for_update=True)
    if row.resolved_at is not None:
        raise Conflict(f"alert {alert_id} was already resolved by {row.resolved_by!r}")
    before = alert_json(row, *shown)
    row.resolved_at = datetime.now(UTC)
    row.resolved_by = caller.name
    row.status = "resolved"
    return await _record_change(session, caller, row, shown, before, "resolve", note)


CHANGE_EVENTS = {"acknowledge": "alert.acknowledged", "resolve": "alert.resolved"}


async def _record_change(
    session: AsyncSession,
    caller: Caller,
    row: Alert,
    shown: Shown,
    before: dict[str, Any],
    action: str,
    note: str | None,
) -> dict[str, Any]:
    """Keep the note, audit the change, add its alert event and wake the stream."""
    if note is not None:
        row.note = note
    await session.flush()
    after = alert_json(row, *shown)
    await audit.record(session, caller, action, "alert", str(row.id), before=before, after=after)
    session.add(AlertEvent(alert_id=row.id, type=CHANGE_EVENTS[action], body=after))
    await session.flush()
    await session.execute(NOTIFY)
    return after


async def zone_occupancy(session: AsyncSession, zone_id: uuid.UUID) -> list[dict[str, Any]]:
    """Drones inside the zone now (its breach alerts not closed), by serial; NotFound if no zone."""
    await load_zone(session, zone_id)
    statement = (
        select(Alert, Drone, Owner, DroneLatest)
        .join(Drone, Drone.serial == Alert.serial)
        .outerjoin(Owner, Owner.id == Drone.owner_id)
        .outerjoin(DroneLatest, DroneLatest.serial == Alert.serial)
        .where(Alert.zone_id == zone_id, Alert.kind == "breach", Alert.closed_at.is_(None))
        .order_by(Alert.serial)
    )
    return [
        {
            **(_drone_summary(drone_json(drone, owner)) or {}),
            "position": _latest_json(latest),
            "alert": _pick(alert, ("id", "status", "severity", "opened_at", "depth_m")),
        }
        for alert, drone, owner, latest in await session.execute(statement)
    ]


def _pick(row: Alert, keys: tuple[str, ...]) -> dict[str, Any]:
    body = alert_json(row, None)
    return {k: body[k] for k in keys}


def _latest_json(latest: DroneLatest | None) -> dict[str, Any] | None:
    if latest is None:
        return None
    keys = ("lon", "lat", "alt_m", "height_m", "speed_mps", "heading_deg")
    return {"time": iso_utc(latest.time), **{k: getattr(latest, k) for k in keys}}


async def open_alerts_by_serial(
    session: AsyncSession, serials: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each drone's alerts not yet closed, oldest first, in one query for all the serials."""
    if not serials:
        return {}
    wanted = bindparam("serials", list(serials), type_=ARRAY(Text))
    rows = await session.scalars(
        select(Alert)
        .where(Alert.serial == any_(wanted), Alert.closed_at.is_(None))
        .order_by(Alert.opened_at, Alert.id)
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        keys = ("id", "zone_id", "kind", "severity", "status")
        found.setdefault(row.serial, []).append(_pick(row, keys))
    return found


async def alerts_of_flight(session: AsyncSession, flight_id: uuid.UUID) -> list[dict[str, Any]]:
    """The alerts opened during a flight, oldest first."""
    statement = _with_drone().where(Alert.flight_id == flight_id).order_by(Alert.opened_at)
    return [
        alert_json(alert, drone_json(drone, owner), _flight_launch(flight))
        for alert, drone, owner, flight in await session.execute(statement)
    ]
