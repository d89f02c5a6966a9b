"""create_app(settings) -> FastAPI; the lifespan opens the database and closes it."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI

from skyguard import __version__
from skyguard.alerts.delivery import deliver_forever
from skyguard.alerts.expiry import expire_forever
from skyguard.alerts.stream import AlertSignal
from skyguard.api import (
    alerts,
    districts,
    drones,
    health,
    history,
    keys,
    problems,
    stats,
    stream,
    telemetry,
    tracks,
    webhooks,
    zones,
)
from skyguard.api.fast_telemetry import FastPathCounts, TelemetryFastPath
from skyguard.api.limits import BodyLimit
from skyguard.ingest.batch import Engine
from skyguard.ingest.coalesce import IngestQueue
from skyguard.settings import Settings
from skyguard.store.db import Database
from skyguard.store.district_rollup import roll_up_forever
from skyguard.store.keys import CallerCache
from skyguard.store.migrate import head_revision
from skyguard.store.partitions import retain_forever
from skyguard.store.zone_index import ZoneIndexCache

log = logging.getLogger(__name__)

DESCRIPTION = """
Drone no-fly-zone geofence alerting.

Authenticate with `Authorization: Bearer <key>`. Roles: `admin` (everything, keys),
`operator` (zones, exemptions, drones, alerts), `integrator` (telemetry in, read drones),
`reviewer` (read everything). Errors are `application/problem+json` (RFC 9457) and name the
field at fault in `pointer`.

Coordinates are `[lon, lat]` in WGS84 (RFC 7946). A point on a zone's boundary counts as inside.
"""


def create_app(settings: Settings, zone_index: ZoneIndexCache | None = None) -> FastAPI:
    """The API; settings.database_url must be set (the CLI resolves the embedded default).
    `zone_index`: a zone index built already (by the process the workers are forked from)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tune_collector(settings)
        app.state.db = Database.connect(settings.sqlalchemy_url(), pool_size=settings.db_pool_size)
        app.state.engine = Engine(
            zone_index or ZoneIndexCache(freeze_heap=settings.freeze_heap),
            settings.engine_config(),
            timedelta(seconds=settings.flight_gap_s),
        )
        app.state.ingest_queue = IngestQueue(
            lambda: app.state.db,
            app.state.engine,
            future_tolerance=timedelta(seconds=settings.future_tolerance_s),
            max_reports=settings.group_commit_max,
        )
        app.state.alert_signal = AlertSignal(
            settings.sqlalchemy_url(), max_reads=settings.stream_max_reads
        )
        await prebuild_zone_index(app)
        tasks = start_background(app, settings) if settings.run_background_tasks else []
        try:
            yield
        finally:
            await stop_background(tasks)
            await app.state.db.dispose()

    app = FastAPI(title="skyguard", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    # The newest migration in migrations/: Alembic parses every script to find it (20 ms, the
    # first time 200 ms), too long to do on the event loop at each readiness probe.
    app.state.migration_head = head_revision()
    app.state.callers = CallerCache(settings.key_cache_s)
    app.state.telemetry_fast_path = FastPathCounts()
    problems.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(TelemetryFastPath)  # added last: outside the body limit and the router
    routers = (health, keys, zones, drones, tracks, history, districts, stats, telemetry, stream)
    for module in (*routers, alerts, webhooks):
        app.include_router(module.router)
    return app


def tune_collector(settings: Settings) -> None:
    """Let the garbage collector's youngest pass wait for more allocations (a serving process:
    most objects of a batch die by reference counting, and the passes walked them for nothing)."""
    if settings.gc_young_threshold:
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(settings.gc_young_threshold, middle, oldest)


async def prebuild_zone_index(app: FastAPI) -> None:
    """Build the zone index before the first report (or, if the database is down, at it)."""
    try:
        async with app.state.db.session() as session:
            await app.state.engine.zones.current(session)
    except Exception:  # readiness reports the database; serving must still start
        log.warning("zone index not built at start: database unavailable", exc_info=True)


def start_background(app: FastAPI, settings: Settings) -> list[asyncio.Task[None]]:
    """This worker's background work: the alert LISTEN connection, expiry ticks, webhooks, the
    district rollup and, with SKYGUARD_RETENTION_DAYS set, dropping old reports."""
    state = app.state
    retention = []
    if settings.retention_days is not None:
        days = timedelta(days=settings.retention_days)
        retention.append(
            asyncio.create_task(
                retain_forever(state.db, days, settings.retention_interval_s), name="retention"
            )
        )
    return [
        *retention,
        asyncio.create_task(state.alert_signal.listen(), name="alert-listen"),
        asyncio.create_task(
            expire_forever(state.db, state.engine, settings.expiry_interval_s), name="alert-expiry"
        ),
        asyncio.create_task(deliver_forever(state.db, settings), name="webhook-delivery"),
        asyncio.create_task(
            roll_up_forever(state.db, settings.rollup_interval_s, settings.rollup_hours_per_tick),
            name="district-rollup",
        ),
    ]


async def stop_background(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the background tasks and wait until they are gone."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def from_environment() -> FastAPI:
    """App factory for uvicorn workers: settings from SKYGUARD_* (the CLI sets the URL)."""
    return create_app(Settings())
