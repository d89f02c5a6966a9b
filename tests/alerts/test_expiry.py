"""Alerts that change with time alone: expire_once on the test database, and its loop."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from skyguard.alerts.expiry import LOCK_KEY, expire_forever, expire_locked, expire_once
from tests.api.test_alerting import draw

NOW = datetime.now(UTC).replace(microsecond=0)
INSIDE, OUTSIDE = 8.505, 8.49


def report(seconds: float, lon: float = INSIDE, serial: str = "EXP-1") -> dict[str, Any]:
    """A report `seconds` after NOW (negative: before), inside the test zone by default."""
    time = (NOW + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": 47.305, "height_m": 50.0}


async def post(client, headers, *reports) -> list[dict[str, Any]]:
    r = await client.post(
        "/v1/telemetry", json={"reports": list(reports)}, headers=headers["integrator"]
    )
    assert r.status_code == 200, r.text
    return r.json()["alerts"]


async def expire(app, seconds: float):
    return await expire_once(app.state.db, app.state.engine, NOW + timedelta(seconds=seconds))


async def event_types(connection, alert_id: str) -> list[str]:
    rows = await connection.execute(
        text("SELECT type FROM alert_events WHERE alert_id = CAST(:id AS uuid) ORDER BY id"),
        {"id": alert_id},
    )
    return [t for (t,) in rows]


async def test_silence_closes_as_lost_contact_at_the_deadline(app, client, headers, connection):
    await draw(client, headers)
    [opened] = await post(client, headers, report(-120))
    assert (await expire(app, -61)).alerts == []  # 59 s of silence: not yet
    tick = await expire(app, 0)
    assert tick.ran and tick.drones == 1
    [closed] = tick.alerts
    assert closed["id"] == opened["id"]
    assert closed["status"] == "closed" and closed["close_reason"] == "lost_contact"
    assert closed["closed_at"] == (NOW - timedelta(seconds=60)).isoformat().replace("+00:00", "Z")
    assert await event_types(connection, opened["id"]) == ["alert.opened", "alert.closed"]
    again = await expire(app, 1)
    assert again.ran and again.drones == 0 and again.alerts == []  # silent, nothing open: skipped


async def test_a_drone_still_reporting_keeps_its_alert(app, client, headers):
    await draw(client, headers)
    [opened] = await post(client, headers, report(-10))
    tick = await expire(app, 0)
    assert tick.drones == 1 and tick.alerts == []
    r = await client.get(f"/v1/alerts/{opened['id']}", headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["closed_at"] is None


async def test_a_temporary_zone_starting_over_a_drone_opens_an_alert(app, client, headers):
    zone_id = await draw(client, headers, active_from=(NOW + timedelta(seconds=30)).isoformat())
    assert await post(client, headers, report(-5)) == []
    assert (await expire(app, 20)).alerts == []
    [opened] = (await expire(app, 40)).alerts
    assert opened["zone_id"] == zone_id and opened["status"] == "open"
    assert opened["opened_at"] == (NOW + timedelta(seconds=40)).isoformat().replace("+00:00", "Z")
    assert (await expire(app, 41)).alerts == []  # one alert per episode, not per tick


async def test_archiving_the_zone_closes_its_alerts(app, client, headers):
    zone_id = await draw(client, headers)
    await post(client, headers, report(-5))
    r = await client.delete(f"/v1/zones/{zone_id}", headers=headers["operator"])
    assert r.status_code in (200, 204), r.text
    [closed] = (await expire(app, 0)).alerts
    assert closed["close_reason"] == "zone_ended"


async def test_an_exemption_starting_closes_the_alert(app, client, headers):
    zone_id = await draw(client, headers)
    await post(client, headers, report(-5))
    window = {
        "valid_from": (NOW + timedelta(seconds=10)).isoformat(),
        "valid_until": (NOW + timedelta(hours=1)).isoformat(),
    }
    r = await client.post(
        f"/v1/zones/{zone_id}/exemptions",
        json={"serial": "EXP-1", **window},
        headers=headers["operator"],
    )
    assert r.status_code == 201, r.text
    assert (await expire(app, 5)).alerts == []
    [closed] = (await expire(app, 15)).alerts
    assert closed["close_reason"] == "exempted"


async def test_a_tick_is_skipped_while_another_worker_holds_the_lock(app, client, headers, engine):
    await draw(client, headers)
    await post(client, headers, report(-120))
    async with engine.connect() as other, other.begin():
        await other.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        skipped = await expire(app, 0)
    assert not skipped.ran and skipped.alerts == []
    [closed] = (await expire(app, 0)).alerts  # the lock is free again: the next tick does it
    assert closed["close_reason"] == "lost_contact"


class FailingDatabase:
    """A database whose every session fails: the loop must log it and carry on."""

    def __init__(self) -> None:
        self.attempts = 0

    @asynccontextmanager
    async def session(self):
        self.attempts += 1
        raise RuntimeError("database gone")
        yield


async def test_the_loop_survives_failed_ticks_and_stops_when_cancelled(app, caplog):
    database = FailingDatabase()
    with caplog.at_level(logging.ERROR, logger="skyguard.alerts.expiry"):
        task = asyncio.create_task(expire_forever(database, app.state.engine, 0.01))  # type: ignore[arg-type]
        await asyncio.sleep(0.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
    assert database.attempts >= 3
    assert "alert expiry tick failed" in caplog.text


async def test_the_tick_leaves_drones_away_from_every_zone_alone(app, client, headers):
    """A live drone with nothing open and no zone or buffer around it can change only with its
    next report: the tick neither locks nor judges it."""
    await draw(client, headers, active_from=(NOW + timedelta(seconds=30)).isoformat())
    assert await post(client, headers, report(-5), report(-5, lon=8.30, serial="EXP-FAR")) == []
    tick = await expire(app, 40)
    assert tick.drones == 1, "only the drone inside the zone that starts"
    assert [a["serial"] for a in tick.alerts] == ["EXP-1"]


async def test_between_sweeps_the_tick_judges_only_the_drones_due(app, client, headers, connection):
    """Each state is written with when time may next change it; a tick that is not a full
    sweep (the first one, one after a zone edit, one every 30 s) reads only the drones due."""
    await draw(client, headers)
    await post(client, headers, report(-50), report(-5, serial="EXP-2"))
    await post(client, headers, report(-5, lon=8.30, serial="EXP-FAR"))
    rows = await connection.execute(
        text("SELECT serial, due_at FROM drone_engine_state WHERE serial LIKE 'EXP-%'")
    )
    assert dict(rows.all()) == {
        "EXP-1": NOW + timedelta(seconds=10),  # its silence closes the open alert
        "EXP-2": NOW + timedelta(seconds=55),
        "EXP-FAR": None,  # nothing but its next report can change it
    }
    sweep = await expire(app, 0)
    assert sweep.drones == 2 and sweep.alerts == []
    due = await expire(app, 11)
    assert due.drones == 1, "only EXP-1 is due"
    [closed] = due.alerts
    assert closed["serial"] == "EXP-1" and closed["close_reason"] == "lost_contact"
    assert (await expire(app, 12)).drones == 0


async def test_a_tick_judges_its_drones_a_chunk_at_a_time_and_misses_none(app, client, headers):
    """The tick returns to the event loop between chunks of drones (requests wait for it
    otherwise); every drone of every chunk is still moved on, in the one transaction."""
    await draw(client, headers)
    serials = [f"EXP-C{i}" for i in range(5)]
    opened = await post(client, headers, *(report(-120, serial=s) for s in serials))
    assert sorted(a["serial"] for a in opened) == serials
    async with app.state.db.session() as session:
        tick = await expire_locked(session, app.state.engine, NOW, chunk=2)
        await session.commit()
    assert tick.drones == 5
    assert sorted(a["serial"] for a in tick.alerts) == serials
    assert {a["close_reason"] for a in tick.alerts} == {"lost_contact"}
    assert (await expire(app, 1)).alerts == []  # committed: nothing is left open
