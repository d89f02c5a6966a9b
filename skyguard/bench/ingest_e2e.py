"""Arm 2: skyguard end to end over HTTP, against real PostGIS with synchronous commit.

Set-up, through the real command line and API: a fresh database, `skyguard migrate`, keys from
`skyguard keys create`, `skyguard serve --workers N`, the zones and exemptions POSTed; then the
server is started afresh, so the zone index is built (by the process the workers are forked
from) before serving, and the peak memory counts from there. The arms, each under its own
serial prefix, in this order:

- batch: closed loop, batches of 1,000 reports on a few connections;
- single: closed loop, one report per POST on many connections;
- latency-single / latency-batch: open loop at half the rate the closed loop sustained, with an
  SSE subscriber on /v1/alerts/stream (see ingest_latency);

each over the stream split into lanes by drone, one lane a connection (ingest_e2e_arms).

Every alert the server opened is read back from the database and held against the oracle for
the reports that arm had accepted.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import psycopg

from skyguard.bench.ingest_compare import OpenAlert, Opening, compare
from skyguard.bench.ingest_e2e_arms import (
    PREFIXES,
    Context,
    HttpArm,
    HttpPlan,
    closed_arm,
    open_arm,
)
from skyguard.bench.ingest_http import Connection, Response
from skyguard.bench.ingest_meter import PgWatch, idle_cores
from skyguard.bench.ingest_oracle import Verdicts, breached_pairs
from skyguard.bench.ingest_server import (
    SERVER_ENV,
    DatabaseServer,
    issue_key,
    skyguard_command,
    start_server,
    wait_ready,
)
from skyguard.bench.ingest_workload import Workload, drone_of, micros, serial

Progress = Callable[[str], None]
__all__ = ["PREFIXES", "HttpArm", "HttpPlan", "HttpRun", "run_http"]


@dataclass
class HttpRun:
    """The end-to-end arms of one workload and how the service was set up."""

    database: str
    workers: int
    server_env: dict[str, str]
    facts: dict[str, str]
    setup_s: dict[str, float]
    arms: list[HttpArm]
    idle_after_cores: float | None = None  # the server's CPU with no request, after the arms
    drones_live: int = 0  # drones the arms reported (none silent yet: see SERVER_ENV)


async def post_many(ctx: Context, items: list[tuple[str, bytes]], role: str) -> list[Response]:
    """POST each (path, body), a few at a time; every answer must be 201."""
    answers: list[Response | None] = [None] * len(items)
    queue = iter(range(len(items)))

    async def worker(connection: Connection) -> None:
        for i in queue:
            answers[i] = response = await connection.request("POST", *items[i])
            if response.status != 201:
                raise RuntimeError(f"POST {items[i][0]}: {response.status} {response.body[:300]!r}")
        await connection.close()

    await asyncio.gather(*(worker(c) for c in ctx.connections(ctx.plan.zone_connections, role)))
    return [a for a in answers if a is not None]


async def load_zones(ctx: Context, prefixes: list[str]) -> None:
    """The zones, then each exemption for each arm's serial of its drone."""
    bodies = [("/v1/zones", json.dumps(z.feature).encode()) for z in ctx.workload.zones]
    ctx.zone_ids = [r.json()["id"] for r in await post_many(ctx, bodies, "operator")]
    grants = [
        (
            f"/v1/zones/{ctx.zone_ids[e.zone]}/exemptions",
            json.dumps(e.body(serial(p, e.drone))).encode(),
        )
        for e in ctx.workload.exemptions
        for p in prefixes
    ]
    await post_many(ctx, grants, "operator")


def database_facts(dsn: str) -> dict[str, str]:
    """Server version and the settings that make a commit durable."""
    names = ("server_version", "synchronous_commit", "fsync", "wal_sync_method", "shared_buffers")
    facts = {}
    with psycopg.connect(dsn) as conn:
        for name in (*names, "postgis_full_version()"):
            query = f"SELECT {name}" if name.endswith(")") else f"SHOW {name}"
            row = conn.execute(query).fetchone()
            facts[name.removesuffix("_full_version()")] = str(row[0]) if row else "?"
    return facts


def opened_alerts(dsn: str, prefix: str) -> list[tuple[str, str, str, datetime, str | None]]:
    """Every alert the server opened for an arm's drones: serial, zone, kind, opened, reason."""
    query = (
        "SELECT serial, zone_id::text, kind, opened_at, close_reason FROM alerts "
        "WHERE serial LIKE %s"
    )
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(query, (prefix + "-%",)).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def classify(ctx: Context, arm: HttpArm, dsn: str) -> list[OpenAlert]:
    """The arm's alerts as (drone, zone, kind, what opened it)."""
    stream, t0 = ctx.workload.stream, ctx.workload.t0
    reported = set(
        zip(
            stream.drone[arm.accepted_indexes].tolist(),
            stream.t_us[arm.accepted_indexes].tolist(),
            strict=True,
        )
    )
    zone_of = {zone_id: i for i, zone_id in enumerate(ctx.zone_ids)}
    opens: list[OpenAlert] = []
    for serial_text, zone_id, kind, opened_at, reason in opened_alerts(dsn, arm.prefix):
        drone = drone_of(serial_text)
        opening: Opening = "clock"
        if reason == "crossed":
            opening = "crossing"
        elif (drone, micros(opened_at - t0)) in reported:
            opening = "report"
        opens.append((drone, zone_of[zone_id], kind, opening))
    return opens


async def run_arms(ctx: Context, progress: Progress) -> list[HttpArm]:
    """The planned arms in order; the open-loop ones at half the closed-loop rates."""
    plan, done = ctx.plan, {}
    if "batch" in plan.arms:
        done["batch"] = await closed_arm(
            ctx, "batch", plan.batch, plan.batch_connections, plan.batch_cap_s
        )
        progress(f"    batch: {done['batch'].rate:,.0f} reports/s")
    if "single" in plan.arms:
        done["single"] = await closed_arm(
            ctx, "single", 1, plan.single_connections, plan.single_cap_s
        )
        progress(f"    single: {done['single'].rate:,.0f} reports/s")
    for name, base, batch, connections in (
        ("latency-single", "single", 1, plan.single_connections),
        ("latency-batch", "batch", plan.batch, plan.batch_connections),
    ):
        if name in plan.arms and base in done and done[base].rate > 0:
            done[name] = await open_arm(ctx, name, batch, connections, done[base].rate / 2)
            latency = done[name].latency
            p99 = f"{latency.p99_ms:,.1f}" if latency and latency.p99_ms is not None else "n/a"
            progress(f"    {name}: report-to-alert p99 {p99} ms")
    return list(done.values())


async def set_up(ctx: Context, url: str, log: Path, progress: Progress) -> dict[str, float]:
    """Load zones and exemptions through a first server, then start the measured one."""
    began = time.perf_counter()
    await wait_ready(ctx.server)
    await load_zones(ctx, [PREFIXES[a] for a in ctx.plan.arms])
    loaded = time.perf_counter() - began
    progress(f"    {len(ctx.zone_ids):,} zones and their exemptions loaded in {loaded:,.1f} s")
    ctx.server.stop()
    ctx.server = start_server(url, ctx.plan.workers, log)
    ready = await wait_ready(ctx.server)
    progress(f"    server ready in {ready:,.1f} s ({ctx.plan.workers} workers, zone index built)")
    return {"zones_and_exemptions_s": loaded, "server_ready_s": ready}


async def run_http(
    workload: Workload,
    verdicts: Verdicts,
    plan: HttpPlan,
    db: DatabaseServer,
    name: str,
    log: Path,
    progress: Progress,
) -> HttpRun:
    """Set up the service on a fresh database, run the arms, compare their alerts."""
    url, began = db.recreate(name), time.perf_counter()
    skyguard_command(url, "migrate")
    keys = {role: issue_key(url, role) for role in ("operator", "integrator", "reviewer")}
    setup_s = {"migrate_and_keys_s": time.perf_counter() - began}
    dsn = db.dsn_of(name)
    watch = PgWatch(db.dsn_of("postgres"), [name])
    ctx = Context(workload, plan, start_server(url, plan.workers, log), keys, watch)
    try:
        timings = await set_up(ctx, url, log, progress)
        arms = await run_arms(ctx, progress)
        idle_after = await idle_cores(ctx.server.pids(), plan.idle_s)
    finally:
        ctx.server.stop()
        watch.close()
    for arm in arms:
        oracle = breached_pairs(
            verdicts, workload, _mask(len(workload.stream), arm.accepted_indexes)
        )
        arm.comparison = compare(oracle, classify(ctx, arm, dsn))
    facts = database_facts(dsn)
    return HttpRun(
        name, plan.workers, dict(SERVER_ENV), facts, setup_s | timings, arms, idle_after,
        sum(len(np.unique(workload.stream.drone[a.accepted_indexes])) for a in arms),
    )  # fmt: skip


def _mask(size: int, indexes: np.ndarray) -> np.ndarray:
    mask = np.zeros(size, dtype=np.bool_)
    mask[indexes] = True
    return mask
