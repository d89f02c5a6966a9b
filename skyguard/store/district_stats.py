"""What is counted per district in a window, in one statement for all districts: closed hours
rolled up at the current districts revision come from district_hours (store/district_rollup.py),
the rest of the window (its partial edge hours, the current hour, hours not rolled yet) is
counted from the reports themselves."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

HOUR = timedelta(hours=1)

# The hours wholly inside [since, until) that are rolled as the districts stand now.
ROLLED = text("""
SELECT r.hour FROM district_rollup r
WHERE r.hour >= :since AND r.hour + interval '1 hour' <= :until
  AND r.revision = (SELECT revision FROM district_revision WHERE id = 1)
ORDER BY r.hour
""")

# Each source is boiled down to distinct (district, drone, flight) triples, so the counting
# sorts thousands of rows, not millions, and the UNION of them keeps a flight or a drone seen
# both in rolled hours and live once. Live reports are
# matched to districts on the GiST index of positions.geom (a nested loop over the few
# districts), each to its flight by serial and time. Alerts come by the index on opened_at,
# their entry point probing the districts' GiST index.
ROLLED_SEEN = """
    SELECT district_id, serial, flight_id FROM district_hours
    WHERE hour = ANY(CAST(:hours AS timestamptz[]))
"""
LIVE_SEEN = """
    SELECT d.id AS district_id, p.serial, f.id AS flight_id
    FROM districts d
    JOIN positions p ON ST_Covers(d.geom, p.geom)
    LEFT JOIN flights f
      ON f.serial = p.serial AND p.time BETWEEN f.started_at AND f.ended_at
     AND f.started_at < :until AND f.ended_at >= :since
    WHERE {live}
    GROUP BY 1, 2, 3
"""
COUNTED = """
WITH seen AS ({seen}),
counted AS (
    SELECT s.district_id, count(DISTINCT s.flight_id) AS flights,
           count(DISTINCT s.serial) AS drones,
           count(DISTINCT s.serial) FILTER (WHERE NOT coalesce(dr.registered, false))
               AS unregistered_drones
    FROM seen s LEFT JOIN drones dr ON dr.serial = s.serial
    GROUP BY s.district_id
),
alerted AS (
    SELECT d.id AS district_id, count(*) AS alerts
    FROM alerts a
    JOIN districts d
      ON ST_Covers(d.geom, ST_SetSRID(ST_MakePoint(a.entry_lon, a.entry_lat), 4326))
    WHERE a.opened_at >= :since AND a.opened_at < :until
    GROUP BY d.id
)
SELECT d.id, d.name, d.code,
       coalesce(c.flights, 0) AS flights,
       coalesce(c.drones, 0) AS drones,
       coalesce(c.unregistered_drones, 0) AS unregistered_drones,
       coalesce(a.alerts, 0) AS alerts
FROM districts d
LEFT JOIN counted c ON c.district_id = d.id
LEFT JOIN alerted a ON a.district_id = d.id
ORDER BY d.name
"""


def live_intervals(
    since: datetime, until: datetime, rolled: Iterable[datetime]
) -> list[tuple[datetime, datetime]]:
    """[since, until) less the rolled hours (each wholly inside it), as half-open intervals."""
    intervals = []
    start = since
    for hour in sorted(rolled):
        if start < hour:
            intervals.append((start, hour))
        start = max(start, hour + HOUR)
    if start < until:
        intervals.append((start, until))
    return intervals


def seen_sql(
    hours: list[datetime], live: list[tuple[datetime, datetime]]
) -> tuple[str, dict[str, Any]]:
    """The `seen` triples' SQL from the rolled hours and the live intervals, with parameters."""
    parts: list[str] = []
    params: dict[str, Any] = {}
    if hours:
        parts.append(ROLLED_SEEN)
        params["hours"] = hours
    if live:
        ranges = " OR ".join(f"(p.time >= :s{k} AND p.time < :e{k})" for k in range(len(live)))
        parts.append(LIVE_SEEN.format(live=ranges))
        for k, (start, end) in enumerate(live):
            params[f"s{k}"], params[f"e{k}"] = start, end
    return "\n    UNION\n".join(parts), params


async def district_stats(
    session: AsyncSession, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Flights, drones, unregistered drones and alerts per district in [since, until)."""
    window = {"since": since, "until": until}
    hours = list((await session.scalars(ROLLED, window)).all())
    seen, params = seen_sql(hours, live_intervals(since, until, hours))
    rows = await session.execute(text(COUNTED.format(seen=seen)), {**window, **params})
    return [{**row._mapping, "id": str(row.id)} for row in rows]
