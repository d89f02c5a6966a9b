"""Alerts in PostGIS: engine transitions become alert rows and alert events, in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.episodes import Transition
from skyguard.store.drones import drone_body
from skyguard.store.tables import Alert, AlertEvent
from skyguard.store.zones import iso_utc

EVENT_TYPES = {"open": "alert.opened", "update": "alert.updated", "close": "alert.closed"}
NOTIFY = text("SELECT pg_notify('skyguard_alerts', '')")


def alert_json(row: Alert, drone: dict[str, Any] | None) -> dict[str, Any]:
    """The alert as the API, the stream and webhooks show it."""
    return {
        "id": str(row.id),
        "serial": row.serial,
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


async def _open_alert(session: AsyncSession, t: Transition) -> Alert:
    row = Alert(
        id=uuid.uuid4(),
        serial=t.serial,
        zone_id=t.zone_id,
        zone_version=t.zone_version,
        kind=t.alert_kind,
        severity=t.severity,
        status="open",
        opened_at=t.opened_at,
        last_seen_at=t.at,
        entry_lon=t.entry[0],
        entry_lat=t.entry[1],
        lon=t.position[0],
        lat=t.position[1],
        depth_m=t.depth_m,
        max_depth_m=t.max_depth_m,
        altitude_assumed=t.altitude_assumed,
    )
    session.add(row)
    return row


async def _find_open(session: AsyncSession, t: Transition) -> Alert | None:
    return await session.scalar(
        select(Alert).where(
            Alert.serial == t.serial,
            Alert.zone_id == t.zone_id,
            Alert.kind == t.alert_kind,
            Alert.closed_at.is_(None),
        )
    )


def _follow(row: Alert, t: Transition) -> None:
    row.zone_version = t.zone_version
    row.severity = t.severity
    row.lon, row.lat = t.position
    row.depth_m = t.depth_m
    row.max_depth_m = max(row.max_depth_m, t.max_depth_m)
    row.altitude_assumed = row.altitude_assumed or t.altitude_assumed
    if t.kind == "update":
        row.last_seen_at = max(row.last_seen_at, t.at)
    if t.kind == "close":
        row.closed_at = t.at
        row.close_reason = t.close_reason
        if row.status != "resolved":
            row.status = "closed"


async def apply_transitions(
    session: AsyncSession, transitions: Sequence[Transition]
) -> list[dict[str, Any]]:
    """Persist transitions in order as alert rows and events; the alerts touched, as JSON.

    One row per episode: the partial unique index on open alerts makes a second open for the
    same (drone, zone, kind) fail loudly rather than double an alert.
    """
    if not transitions:
        return []
    serials = {t.serial for t in transitions}
    drones = {s: await drone_body(session, s) for s in sorted(serials)}
    touched: dict[uuid.UUID, Alert] = {}
    for t in transitions:
        row = await _open_alert(session, t) if t.kind == "open" else await _find_open(session, t)
        if row is None:
            continue  # an update or close for an alert we never opened (state lost): skip
        if t.kind != "open":
            _follow(row, t)
        await session.flush()
        touched[row.id] = row
        body = alert_json(row, drones[row.serial])
        session.add(AlertEvent(alert_id=row.id, type=EVENT_TYPES[t.kind], body=body))
    await session.flush()
    await session.execute(NOTIFY)
    return [alert_json(row, drones[row.serial]) for row in touched.values()]
