"""Migration 0009 on a database that has drones mid-flight: their JSON state and open flight move
into drone_engine_state, and the next batch carries on from them (and back down again)."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from alembic import command
from sqlalchemy.engine import make_url

from skyguard.geofence.episodes import EngineConfig
from skyguard.geofence.reports import Report
from skyguard.ingest.batch import Engine, ingest
from skyguard.store.db import Database
from skyguard.store.migrate import alembic_config
from skyguard.store.zone_index import ZoneIndexCache
from skyguard.tracks.flights import follow
from tests.alerts.test_stream import scratch_database

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
GAP = timedelta(seconds=120)


def before_0009(conn: psycopg.Connection) -> uuid.UUID:
    """A drone 30 s into a flight with one open episode, as the code before 0009 stored it."""
    reports = [
        Report("MIG-1", T0 + timedelta(seconds=s), 8.5 + s * 1e-5, 47.3, alt_m=420.0 + s)
        for s in range(30)
    ]
    [flight] = follow(None, reports, GAP)
    last = reports[-1]
    launch = flight.launch
    assert launch is not None
    state = {
        "last": {"serial": "MIG-1", "time": last.time.isoformat(), "lon": last.lon,
                 "lat": last.lat, "alt_m": last.alt_m},
        "episodes": [{
            "zone_id": str(uuid.uuid4()), "kind": "breach", "zone_version": 1,
            "severity": "high", "opened_at": T0.isoformat(), "entry": [8.5, 47.3],
            "position": [8.5, 47.3], "last_inside_at": T0.isoformat(), "depth_m": 1.0,
            "max_depth_m": 1.0, "altitude_assumed": False, "outside_since": None,
        }],
    }  # fmt: skip
    evidence = {"launch": flight.evidence.to_json(), "max_reported_height_m": None}
    conn.execute("INSERT INTO drones (serial, registered) VALUES ('MIG-1', false)")
    conn.execute(
        "INSERT INTO drone_engine_state (serial, state, last_time) VALUES ('MIG-1', %s, %s)",
        (json.dumps(state), last.time),
    )
    conn.execute(
        """INSERT INTO flights (id, serial, started_at, ended_at, report_count, distance_m,
               max_alt_m, first_lon, first_lat, last_lon, last_lat, last_alt_m, launch_lon,
               launch_lat, launch_radius_m, launch_method, launch_confidence, launch_basis,
               launch_ground_alt_m, launch_geom, evidence)
           VALUES (%s, 'MIG-1', %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                   %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326), %s)""",
        (
            flight.id,
            flight.started_at,
            flight.ended_at,
            flight.report_count,
            flight.distance_m,
            flight.max_alt_m,
            *flight.first,
            *flight.last,
            launch.lon,
            launch.lat,
            launch.radius_m,
            launch.method,
            launch.confidence,
            launch.basis,
            launch.ground_alt_m,
            launch.lon,
            launch.lat,
            json.dumps(evidence),
        ),
    )
    return flight.id


def row(conn: psycopg.Connection, query: str) -> tuple:
    found = conn.execute(query).fetchone()
    assert found is not None
    return found


async def test_drones_mid_flight_carry_on_across_migration_0009():
    with scratch_database(f"skyguard_memory_{os.getpid()}") as url:
        plain = make_url(url).set(drivername="postgresql").render_as_string(False)
        config = alembic_config(url)
        command.upgrade(config, "0008")
        with psycopg.connect(plain) as conn:
            flight_id = before_0009(conn)
        command.upgrade(config, "head")
        with psycopg.connect(plain) as conn:
            state, last_lon, episodes = row(
                conn, "SELECT state, last_lon, open_episodes FROM drone_engine_state"
            )
            assert bytes(state).startswith(b"{") and last_lon is not None and episodes == 1

        database = Database.connect(url, pool_size=1)
        engine = Engine(ZoneIndexCache(), EngineConfig(), GAP)
        report = {"serial": "MIG-1", "time": (T0 + timedelta(seconds=30)).isoformat(),
                  "lon": 8.5 + 30e-5, "lat": 47.3, "alt_m": 450.0}  # fmt: skip
        try:
            async with database.session() as session:
                result = await ingest(
                    session, [report], engine=engine, now=datetime.now(UTC),
                    future_tolerance=timedelta(seconds=5),
                )  # fmt: skip
        finally:
            await database.dispose()
        assert result.accepted == 1
        assert [a["close_reason"] for a in result.alerts] == []  # no alert row to close

        with psycopg.connect(plain) as conn:
            flights = conn.execute("SELECT id, report_count, evidence FROM flights").fetchall()
            assert flights == [(flight_id, 31, None)]  # the same flight, evidence with the drone
            state, flight, episodes = row(
                conn, "SELECT state, flight, open_episodes FROM drone_engine_state"
            )
            assert bytes(state)[0] < 0x20 and bytes(flight)[0] < 0x20 and episodes == 0
            (segment,) = row(conn, "SELECT ST_AsText(segment) FROM positions")
            assert segment is not None  # drawn from the last report the JSON state held

        command.downgrade(config, "0008")
        with psycopg.connect(plain) as conn:
            (evidence,) = row(conn, "SELECT evidence FROM flights")
            assert evidence == {"launch": {}}  # the binary evidence cannot go back
        command.upgrade(config, "head")
