"""Alert rows as the ingest path reads and writes them: plain values, a statement per batch.

Applying a batch's transitions reads the open alerts they continue (locked) in one statement
and writes the changed rows, the new rows and one event per transition in three more, sent
together; the ORM spent half a millisecond an alert doing the same one row at a time.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from skyguard.geofence.episodes import Transition
from skyguard.store import driver


@dataclass
class AlertRow:
    """An alert as its row holds it."""

    id: uuid.UUID
    serial: str
    flight_id: uuid.UUID | None
    zone_id: uuid.UUID
    zone_version: int
    kind: str
    severity: str
    status: str
    opened_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    entry_lon: float
    entry_lat: float
    lon: float
    lat: float
    depth_m: float
    max_depth_m: float
    altitude_assumed: bool
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None


COLUMNS = [f.name for f in fields(AlertRow)]
TYPES = {
    "id": "uuid", "serial": "text", "flight_id": "uuid", "zone_id": "uuid", "zone_version": "int",
    "kind": "text", "severity": "text", "status": "text", "opened_at": "timestamptz",
    "last_seen_at": "timestamptz", "closed_at": "timestamptz", "close_reason": "text",
    "entry_lon": "float8", "entry_lat": "float8", "lon": "float8", "lat": "float8",
    "depth_m": "float8", "max_depth_m": "float8", "altitude_assumed": "bool",
    "acknowledged_at": "timestamptz", "acknowledged_by": "text", "resolved_at": "timestamptz",
    "resolved_by": "text", "note": "text",
}  # fmt: skip
# What a transition changes in an alert that is open already.
FOLLOWED = (
    "zone_version", "severity", "status", "last_seen_at", "closed_at", "close_reason", "lon",
    "lat", "depth_m", "max_depth_m", "altitude_assumed",
)  # fmt: skip

# Each episode's open alert looked up by the partial unique index, locked in key order.
OPEN = f"""
    SELECT a.* FROM unnest(%(serials)b::text[], %(zones)b::uuid[], %(kinds)b::text[])
        AS k(serial, zone_id, kind)
    CROSS JOIN LATERAL (
        SELECT {", ".join(COLUMNS)} FROM alerts
        WHERE serial = k.serial AND zone_id = k.zone_id AND kind = k.kind AND closed_at IS NULL
        LIMIT 1
        FOR UPDATE
    ) a
"""  # noqa: S608 - column names are constants, values are bound


def _unnest(names: Sequence[str]) -> str:
    return f"unnest({', '.join(f'%({n})b::{TYPES[n]}[]' for n in names)}) AS v({', '.join(names)})"


UPDATE = f"""
    UPDATE alerts AS a SET {", ".join(f"{n} = v.{n}" for n in FOLLOWED)}
    FROM {_unnest(("id", *FOLLOWED))}
    WHERE a.id = v.id
"""  # noqa: S608 - column names are constants, values are bound
INSERT = f"""
    INSERT INTO alerts ({", ".join(COLUMNS)}) SELECT * FROM {_unnest(COLUMNS)}
"""  # noqa: S608 - column names are constants, values are bound
# The events, and the alert stream woken (delivered at commit) in the same statement.
INSERT_EVENTS = """
    WITH added AS (
        INSERT INTO alert_events (alert_id, type, body)
        SELECT v.alert_id, v.type, CAST(v.body AS jsonb)
        FROM unnest(%(alert_ids)b::uuid[], %(types)b::text[], %(bodies)b::text[])
             AS v(alert_id, type, body)
        RETURNING 1
    )
    SELECT pg_notify('skyguard_alerts', '') WHERE EXISTS (SELECT FROM added)
"""

EpisodeOf = tuple[str, uuid.UUID, str]  # (serial, zone_id, kind): at most one open alert each


def _rows(rows: list[tuple[Any, ...]]) -> dict[EpisodeOf, AlertRow]:
    found = (AlertRow(*row) for row in rows)
    return {(row.serial, row.zone_id, row.kind): row for row in found}


async def send_open(
    connection: driver.Connection, transitions: Sequence[Transition]
) -> driver.Pending[dict[EpisodeOf, AlertRow]]:
    """The open alerts these transitions continue (updates and closes), locked: an ack or a
    resolve racing us waits; once read."""
    keys = sorted({(t.serial, t.zone_id, t.alert_kind) for t in transitions if t.kind != "open"})
    params = {
        "serials": [k[0] for k in keys],
        "zones": [k[1] for k in keys],
        "kinds": [k[2] for k in keys],
    }
    return await driver.query(connection, OPEN, params, _rows)


def opened(t: Transition, flight_id: uuid.UUID | None) -> AlertRow:
    """The alert an open transition makes."""
    return AlertRow(
        id=uuid.uuid4(),
        serial=t.serial,
        flight_id=flight_id,
        zone_id=t.zone_id,
        zone_version=t.zone_version,
        kind=t.alert_kind,
        severity=t.severity,
        status="open",
        opened_at=t.opened_at,
        last_seen_at=t.at,
        closed_at=None,
        close_reason=None,
        entry_lon=t.entry[0],
        entry_lat=t.entry[1],
        lon=t.position[0],
        lat=t.position[1],
        depth_m=t.depth_m,
        max_depth_m=t.max_depth_m,
        altitude_assumed=t.altitude_assumed,
    )


def follow(row: AlertRow, t: Transition) -> None:
    """The open alert after an update or close transition."""
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


def _columns(rows: Sequence[AlertRow], names: Sequence[str]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name in names:
        column = [getattr(row, name) for row in rows]
        columns[name] = driver.Floats(column) if TYPES[name] == "float8" else column
    return columns


async def send_writes(
    connection: driver.Connection,
    changed: Sequence[AlertRow],
    new: Sequence[AlertRow],
    events: Sequence[tuple[uuid.UUID, str, dict[str, Any]]],
) -> None:
    """Write the changed alerts, then the new ones (an episode closed and opened again in one
    batch: the partial unique index on open alerts sees the close first), then the events in
    order, waking the alert stream."""
    if changed:
        await driver.send(connection, UPDATE, _columns(changed, ("id", *FOLLOWED)))
    if new:
        await driver.send(connection, INSERT, _columns(new, COLUMNS))
    if events:
        params = {
            "alert_ids": [e[0] for e in events],
            "types": [e[1] for e in events],
            "bodies": [json.dumps(e[2]) for e in events],
        }
        await driver.send(connection, INSERT_EVENTS, params)
