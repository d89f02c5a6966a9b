"""The engine's per-drone memory in PostgreSQL: locked per batch, so workers keep drone order."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.episodes import DroneState, Episode
from skyguard.geofence.reports import Report

REPORT_FIELDS = [f.name for f in fields(Report)]

INSERT_MISSING = text("""
    INSERT INTO drone_engine_state (serial)
    SELECT unnest(CAST(:serials AS text[]))
    ON CONFLICT (serial) DO NOTHING
""")

LOCK = text("""
    SELECT serial, state FROM drone_engine_state
    WHERE serial = ANY(CAST(:serials AS text[]))
    ORDER BY serial
    FOR UPDATE
""")

SAVE = text("""
    UPDATE drone_engine_state AS d SET state = CAST(s.state AS jsonb), last_time = s.last_time
    FROM unnest(CAST(:serials AS text[]), CAST(:states AS text[]),
                CAST(:times AS timestamptz[])) AS s(serial, state, last_time)
    WHERE d.serial = s.serial
""")


def state_to_json(state: DroneState) -> dict[str, Any]:
    """A DroneState as JSON."""
    last = {name: getattr(state.last, name) for name in REPORT_FIELDS}
    last["time"] = state.last.time.isoformat()
    episodes = []
    for episode in state.episodes:
        item = asdict(episode)
        item["zone_id"] = str(episode.zone_id)
        for key in ("opened_at", "last_inside_at", "outside_since"):
            item[key] = item[key].isoformat() if item[key] is not None else None
        episodes.append(item)
    return {"last": last, "episodes": episodes}


def state_from_json(serial: str, data: dict[str, Any]) -> DroneState:
    """The DroneState kept as JSON."""
    last = dict(data["last"])
    last["time"] = datetime.fromisoformat(last["time"])
    episodes = []
    for item in data["episodes"]:
        item = dict(item)
        item["zone_id"] = uuid.UUID(item["zone_id"])
        item["entry"] = tuple(item["entry"])
        item["position"] = tuple(item["position"])
        for key in ("opened_at", "last_inside_at", "outside_since"):
            item[key] = datetime.fromisoformat(item[key]) if item[key] is not None else None
        episodes.append(Episode(**item))
    return DroneState(serial, Report(**last), tuple(episodes))


async def lock_states(session: AsyncSession, serials: Sequence[str]) -> dict[str, DroneState]:
    """Lock these drones' engine rows (creating missing ones) in one order; their known states.

    The row lock is what keeps one drone's reports in order when several workers ingest at once:
    a second batch for the same drone waits here until the first commits.
    """
    ordered = sorted(set(serials))
    await session.execute(INSERT_MISSING, {"serials": ordered})
    rows = await session.execute(LOCK, {"serials": ordered})
    return {serial: state_from_json(serial, state) for serial, state in rows if state is not None}


async def save_states(session: AsyncSession, states: dict[str, DroneState]) -> None:
    """Write the drones' new engine states (rows already locked by lock_states)."""
    ordered = sorted(states)
    await session.execute(
        SAVE,
        {
            "serials": ordered,
            "states": [json.dumps(state_to_json(states[s])) for s in ordered],
            "times": [states[s].last_time for s in ordered],
        },
    )
