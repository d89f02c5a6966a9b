"""The hourly district rollup: statistics read it for closed hours and give the answer the reports
give; a created district or a late report makes hours roll again; one worker rolls at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from skyguard.store.district_rollup import LOCK_KEY, RolledUp, due_hours, roll_up_once
from skyguard.store.district_stats import live_intervals
from tests.api.test_alerting import post
from tests.api.test_stats import get, square

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
H = NOW.replace(minute=0) - timedelta(hours=4)  # a closed hour; H + 1 h and H + 2 h are too
HOUR = timedelta(hours=1)


def at(minutes, lon, lat, serial):
    time = (H + timedelta(minutes=minutes)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": lat, "height_m": 50.0}


# SG-A flies once in One across H and H + 1 h (11 reports a minute apart); SG-B flies in Two in
# H + 2 h; SG-C flies outside every district.
REPORTS = [
    *(at(55 + k, 8.495 + k * 0.001, 47.305, "SG-A") for k in range(11)),
    at(130, 8.605, 47.305, "SG-B"),
    at(131, 8.606, 47.306, "SG-B"),
    at(90, 8.40, 47.40, "SG-C"),
]


async def add_district(client, headers, name, west, south):
    feature = {
        "type": "Feature",
        "geometry": {"type": "Polygon", "coordinates": square(west, south)},
        "properties": {"name": name},
    }
    r = await client.post("/v1/districts", json=feature, headers=headers["operator"])
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def setup_scene(client, headers):
    """Districts One and Two, and the reports above."""
    await add_district(client, headers, "One", 8.49, 47.30)
    await add_district(client, headers, "Two", 8.59, 47.30)
    await post(client, headers, *REPORTS)


async def counts(client, headers, since, until):
    body = await get(client, headers, "/v1/stats/districts", since=since, until=until)
    return {
        d["name"]: (d["flights"], d["drones"], d["unregistered_drones"]) for d in body["districts"]
    }


async def roll(app):
    return await roll_up_once(app.state.db, NOW, hours_per_tick=1000)


async def rows(app, sql, **params):
    async with app.state.db.session() as session:
        return (await session.execute(text(sql), params)).all()


WINDOWS = [
    (H - HOUR, NOW),  # whole hours and the current one
    (H + timedelta(minutes=58), H + timedelta(minutes=131)),  # partial hours at both edges
    (H, H + 3 * HOUR),
    (H + HOUR, H + 2 * HOUR),  # one rolled hour and nothing else
]


async def test_statistics_are_the_same_before_and_after_rolling_up(app, client, headers):
    await setup_scene(client, headers)
    before = [await counts(client, headers, *w) for w in WINDOWS]
    assert before[0] == {"One": (1, 1, 1), "Two": (1, 1, 1)}
    assert before[3] == {"One": (1, 1, 1), "Two": (0, 0, 0)}

    rolled = await roll(app)
    assert rolled.ran and {H, H + HOUR, H + 2 * HOUR} <= set(rolled.hours)
    assert all(hour + HOUR <= NOW for hour in rolled.hours)  # closed hours only
    assert rolled.hours == sorted(rolled.hours, reverse=True)  # newest first
    assert [await counts(client, headers, *w) for w in WINDOWS] == before

    held = await rows(
        app,
        "SELECT h.hour, d.name, h.serial, h.flight_id IS NOT NULL AS flown, h.reports "
        "FROM district_hours h JOIN districts d ON d.id = h.district_id ORDER BY 1, 2",
    )
    assert [(r.hour, r.name, r.serial, r.flown, r.reports) for r in held] == [
        (H, "One", "SG-A", True, 5),
        (H + HOUR, "One", "SG-A", True, 6),
        (H + 2 * HOUR, "Two", "SG-B", True, 2),
    ]
    assert (await roll(app)).hours == []  # nothing left to do


async def test_a_window_with_partial_hours_counts_rolled_and_live_parts_once(app, client, headers):
    await setup_scene(client, headers)
    await roll(app)
    since, until = WINDOWS[1]
    # SG-A's flight is live at 0:58 and 0:59 and rolled from 1:00: one flight, one drone
    assert await counts(client, headers, since, until) == {"One": (1, 1, 1), "Two": (1, 1, 1)}
    # the rolled hour is read from district_hours: another drone there shows up
    changed = await rows(
        app,
        "UPDATE district_hours SET serial = 'SG-Z', flight_id = NULL WHERE hour = :h RETURNING id",
        h=H + HOUR,
    )
    assert len(changed) == 1
    assert (await counts(client, headers, since, until))["One"] == (1, 2, 2)


def test_live_intervals_are_the_window_less_the_rolled_hours():
    since, until = H + timedelta(minutes=30), H + timedelta(hours=4, minutes=10)
    assert live_intervals(since, until, []) == [(since, until)]
    assert live_intervals(since, until, [H + 2 * HOUR, H + HOUR]) == [
        (since, H + HOUR),
        (H + 3 * HOUR, until),
    ]
    assert live_intervals(since, until, [H + HOUR, H + 3 * HOUR]) == [
        (since, H + HOUR),
        (H + 2 * HOUR, H + 3 * HOUR),
        (H + 4 * HOUR, until),
    ]
    assert live_intervals(H, H + 2 * HOUR, [H, H + HOUR]) == []


async def test_creating_a_district_rolls_its_hours_again(app, client, headers):
    await setup_scene(client, headers)
    await roll(app)
    await add_district(client, headers, "Four", 8.39, 47.39)  # around SG-C
    async with app.state.db.session() as session:
        assert {H, H + HOUR, H + 2 * HOUR} <= set(await due_hours(session, NOW, 1000))
    # until they are rolled again, those hours are counted from the reports
    assert (await counts(client, headers, H, NOW))["Four"] == (1, 1, 1)
    rolled = await roll(app)
    assert {H, H + HOUR, H + 2 * HOUR} <= set(rolled.hours)
    assert (await counts(client, headers, H, NOW))["Four"] == (1, 1, 1)
    four = await rows(
        app,
        "SELECT h.hour FROM district_hours h JOIN districts d ON d.id = h.district_id "
        "WHERE d.name = 'Four'",
    )
    assert [r.hour for r in four] == [H + HOUR]


async def test_deleting_a_district_takes_its_rolled_hours_with_it(app, client, headers):
    await setup_scene(client, headers)
    await roll(app)
    one = next(
        d["id"]
        for d in (await get(client, headers, "/v1/districts"))["features"]
        if d["properties"]["name"] == "One"
    )
    r = await client.delete(f"/v1/districts/{one}", headers=headers["operator"])
    assert r.status_code == 204
    assert await rows(app, "SELECT * FROM district_hours WHERE district_id = :d", d=one) == []
    assert (await roll(app)).hours == []  # the other districts' hours stay as they are
    assert await counts(client, headers, H, NOW) == {"Two": (1, 1, 1)}


async def test_a_late_report_rolls_its_hour_again(app, client, headers):
    await setup_scene(client, headers)
    await roll(app)
    await post(client, headers, at(95, 8.60, 47.31, "SG-D"))  # in Two, in H + 1 h, late
    assert (await roll(app)).hours == [H + HOUR]
    assert await counts(client, headers, H + HOUR, H + 2 * HOUR) == {
        "One": (1, 1, 1),
        "Two": (1, 1, 1),
    }


async def test_a_tick_does_nothing_while_another_worker_holds_the_lock(
    app, client, headers, engine
):
    await setup_scene(client, headers)
    async with engine.connect() as other, other.begin():
        await other.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        assert await roll(app) == RolledUp(ran=False)
    assert await rows(app, "SELECT * FROM district_rollup") == []
    assert (await roll(app)).ran
