"""The history benchmark's data, generated in SQL: drones, zones, districts, flights flown as
circles or lines at 1 Hz over seven UTC days, their position reports, and alerts.

Every random number comes from random() after setseed() over generate_series in a fixed order
(parallel query off), and ids are md5 of the seed and a row number, so a seed gives the same
database every time. Reports are inserted with every index in place, in time order, a few hours
of flight starts per statement, as ingest would have written them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from skyguard.bench.history_sql import (
    ALERTS,
    DISTRICTS,
    DRONE_LATEST,
    DRONES,
    FLIGHTS,
    LENGTHS,
    PARTITIONS,
    PLAN,
    POSITIONS,
    ZONES,
)

CITY_BOX = (8.3, 47.25, 8.8, 47.5)  # west, south, east, north: around Zurich
ZONE_COUNT = 50
BURST_ZONES = 3
CHUNK = timedelta(hours=6)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DataPlan:
    """What to generate: how many reports, from which seed, over the days before `end`."""

    reports: int
    seed: int
    end: datetime
    days: int = 7

    @property
    def start(self) -> datetime:
        """The first instant of the generated window."""
        return self.end - timedelta(days=self.days)

    @property
    def drones(self) -> int:
        """About 2,000 drones at 10 million reports, fewer for small runs."""
        return min(2_000, max(10, self.reports // 5_000))

    @property
    def alerts(self) -> int:
        """Alerts spread over the window (a few thousand at 10 million reports)."""
        return max(50, self.reports // 2_000)

    @property
    def burst_per_zone(self) -> int:
        """Extra alerts in each burst zone on the last day."""
        return max(5, self.alerts // 100)


def _seeded(conn: Connection, plan: DataPlan, step: int) -> None:
    """Seed random() for one generation step, so each step is reproducible on its own."""
    conn.execute(
        text("SELECT setseed(:s)"), {"s": ((plan.seed * 7919 + step) % 20_000) / 10_000 - 1}
    )


def make_fixed_rows(conn: Connection, plan: DataPlan, notes: str) -> None:
    """Drones (their notes say how they were made), zones (with a zone revision bump, so the
    app reloads them) and districts."""
    west, south, east, north = CITY_BOX
    _seeded(conn, plan, 1)
    conn.execute(DRONES, {"drones": plan.drones, "start": plan.start, "notes": notes})
    _seeded(conn, plan, 2)
    conn.execute(ZONES, {"zones": ZONE_COUNT, "seed": plan.seed})
    conn.execute(text("UPDATE zone_revision SET revision = revision + 1 WHERE id = 1"))
    box = {"west": west, "south": south, "dlon": (east - west) / 4, "dlat": (north - south) / 2}
    conn.execute(DISTRICTS, box)
    conn.commit()


def make_plan(conn: Connection, plan: DataPlan) -> int:
    """The flights to fly, in a session-temporary table; how many there are."""
    _seeded(conn, plan, 3)
    conn.execute(LENGTHS, {"reports": plan.reports, "max_flights": plan.reports // 500 + 2})
    _seeded(conn, plan, 4)
    params = {
        "drones": plan.drones,
        "seed": plan.seed,
        "start": plan.start,
        "window_s": plan.days * 86_400.0,
    }
    conn.execute(PLAN, params)
    conn.execute(text("CREATE INDEX ON bench_plan (started_at)"))
    conn.execute(text("ANALYZE bench_plan"))
    flights = conn.execute(text("SELECT count(*) FROM bench_plan")).scalar_one()
    conn.execute(PARTITIONS, {"start": plan.start, "end": plan.end})
    conn.commit()
    return int(flights)


def insert_positions(conn: Connection, plan: DataPlan, progress: Progress) -> None:
    """The reports, CHUNK of flight starts per statement and commit, with progress lines."""
    began = time.perf_counter()
    done = 0
    chunk_start = plan.start
    while chunk_start < plan.end:
        chunk_end = min(chunk_start + CHUNK, plan.end)
        result = conn.execute(POSITIONS, {"chunk_start": chunk_start, "chunk_end": chunk_end})
        conn.commit()
        done += result.rowcount
        elapsed = time.perf_counter() - began
        progress(
            f"  reports {done:>11,} / {plan.reports:,}  ({done / max(elapsed, 1e-9):,.0f}/s, "
            f"flights starting {chunk_start:%Y-%m-%d %H:%M}Z)"
        )
        chunk_start = chunk_end


def make_flights_and_alerts(conn: Connection, plan: DataPlan) -> None:
    """Flight summaries, each drone's latest position, alerts and a last-day burst."""
    conn.execute(FLIGHTS)
    conn.execute(DRONE_LATEST)
    common = {"seed": plan.seed, "end": plan.end}
    _seeded(conn, plan, 5)
    spread = {"tag": "alert", "count": plan.alerts, "zone_count": ZONE_COUNT, "spread": True}
    conn.execute(ALERTS, {**common, **spread, "recent_since": plan.start})
    _seeded(conn, plan, 6)
    burst = {"tag": "burst", "count": plan.burst_per_zone * BURST_ZONES, "spread": False}
    recent = {"zone_count": BURST_ZONES, "recent_since": plan.end - timedelta(days=1)}
    conn.execute(ALERTS, {**common, **burst, **recent})
    conn.commit()


def generate(conn: Connection, plan: DataPlan, progress: Progress, notes: str) -> int:
    """Fill an empty, migrated database; the number of flights. The caller vacuums after."""
    conn.execute(text("SET max_parallel_workers_per_gather = 0"))  # keeps random() in order
    conn.execute(text("SET synchronous_commit = off"))  # a crash here just means run it again
    make_fixed_rows(conn, plan, notes)
    flights = make_plan(conn, plan)
    progress(f"  {plan.drones:,} drones, {ZONE_COUNT} zones, 8 districts, {flights:,} flights")
    insert_positions(conn, plan, progress)
    make_flights_and_alerts(conn, plan)
    return flights
