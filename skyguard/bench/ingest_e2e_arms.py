"""The end-to-end arms themselves: closed loop (batches, single reports) and open loop with an
SSE subscriber, each over lanes of drones (one lane a connection, so that a drone never has two
requests in flight and its reports arrive in order)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from skyguard.bench.ingest_compare import Comparison
from skyguard.bench.ingest_http import Connection
from skyguard.bench.ingest_latency import Latency, Subscriber, measure
from skyguard.bench.ingest_load import (
    Request,
    Sent,
    accepted_indexes,
    batches,
    closed_loop,
    lanes_of,
    open_loop,
    schedule_of,
)
from skyguard.bench.ingest_meter import PgWatch, Usage, idle_cores, metered
from skyguard.bench.ingest_server import Server
from skyguard.bench.ingest_workload import Workload

PREFIXES = {"batch": "HB", "single": "HS", "latency-single": "HL", "latency-batch": "HLB"}
TELEMETRY = "/v1/telemetry"


@dataclass(frozen=True)
class HttpPlan:
    """Which end-to-end arms to run and how hard."""

    arms: tuple[str, ...] = tuple(PREFIXES)
    workers: int = 2
    batch: int = 1_000
    batch_connections: int = 4
    single_connections: int = 32
    batch_cap_s: float = 60.0
    single_cap_s: float = 30.0
    latency_s: float = 20.0
    zone_connections: int = 8
    idle_s: float = 2.0  # the server's background load is read this long before each arm


@dataclass
class HttpArm:
    """One end-to-end arm's measurements."""

    name: str
    prefix: str
    loop: str  # closed or open
    batch: int
    connections: int
    requests: int
    reports_sent: int
    accepted: int
    wall_s: float
    usage: Usage
    intended_rate: float | None = None
    request_ms: dict[str, float | None] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latency: Latency | None = None
    comparison: Comparison | None = None
    server_idle_cores: float | None = None  # the server's CPU while no request came, just before
    retries: int = 0  # requests sent again after meeting a keep-alive connection closed
    accepted_indexes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def rate(self) -> float:
        """Accepted reports a second."""
        return self.accepted / self.wall_s if self.wall_s else 0.0

    @property
    def accepted_share(self) -> float:
        """Accepted reports over those sent."""
        return self.accepted / self.reports_sent if self.reports_sent else 0.0


@dataclass
class Context:
    """What the arms share: the workload, the server, keys, zone ids and the metering."""

    workload: Workload
    plan: HttpPlan
    server: Server
    keys: dict[str, str]
    watch: PgWatch
    zone_ids: list[str] = field(default_factory=list)

    def connections(self, count: int, role: str = "integrator") -> list[Connection]:
        """Keep-alive connections carrying a role's key."""
        headers = {"Authorization": f"Bearer {self.keys[role]}"}
        return [Connection(self.server.host, self.server.port, headers) for _ in range(count)]


def summarise(
    name: str,
    prefix: str,
    loop: str,
    plan: tuple[int, int],
    sent: list[Sent],
    wall_s: float,
    usage: Usage,
) -> HttpArm:
    """An arm's figures from its requests."""
    batch, connections = plan
    errors: dict[str, int] = {}
    for s in sent:
        if s.error:
            key = s.error[:120]
            errors[key] = errors.get(key, 0) + 1
    kept = accepted_indexes(sent)
    waits = np.array([s.done - s.intended for s in sent if s.done]) * 1e3
    percentiles = {
        f"p{q}": float(np.percentile(waits, q)) if len(waits) else None for q in (50, 99)
    }
    return HttpArm(
        name, prefix, loop, batch, connections, len(sent), int(sum(len(s.indexes) for s in sent)),
        len(kept), wall_s, usage, request_ms=percentiles, errors=errors, accepted_indexes=kept,
    )  # fmt: skip


def lane_requests(
    workload: Workload, prefix: str, lane: np.ndarray, batch: int
) -> Iterator[Request]:
    """A lane's requests, their bodies made as they are sent."""
    return ((i, workload.batch_body(prefix, i)) for i in batches(lane, batch))


async def closed_arm(
    ctx: Context, name: str, batch: int, connections: int, cap_s: float
) -> HttpArm:
    """Closed loop over the stream, one lane of drones per connection, until it ends or `cap_s`
    passed."""
    prefix, workload = PREFIXES[name], ctx.workload
    lanes = lanes_of(workload.stream.drone, connections)
    requests = [lane_requests(workload, prefix, lane, batch) for lane in lanes]
    pool = ctx.connections(connections)
    pids = ctx.server.pids()
    idle = await idle_cores(pids, ctx.plan.idle_s)
    async with metered(pids, ctx.watch) as usage:
        sent, wall_s = await closed_loop(pool, TELEMETRY, requests, cap_s)
    await close_all(pool)
    arm = summarise(name, prefix, "closed", (batch, connections), sent, wall_s, usage)
    arm.server_idle_cores, arm.retries = idle, sum(c.retries for c in pool)
    return arm


async def open_arm(ctx: Context, name: str, batch: int, connections: int, rate: float) -> HttpArm:
    """Open loop over the start of the stream at `rate` reports a second, one lane of drones
    per connection, with an SSE subscriber."""
    prefix, workload = PREFIXES[name], ctx.workload
    count = min(len(workload.stream), max(batch * connections, int(rate * ctx.plan.latency_s)))
    lanes = lanes_of(workload.stream.drone[:count], connections)
    plan = schedule_of([list(batches(lane, batch)) for lane in lanes], rate)
    schedule = [(t, lane, (i, workload.batch_body(prefix, i))) for t, lane, i in plan]
    subscriber = Subscriber(ctx.server.host, ctx.server.port, ctx.keys["reviewer"], prefix)
    await subscriber.start()
    pool = ctx.connections(connections)
    pids = ctx.server.pids()
    idle = await idle_cores(pids, ctx.plan.idle_s)
    async with metered(pids, ctx.watch) as usage:
        began = time.perf_counter()
        sent = await open_loop(pool, TELEMETRY, schedule, 3 * ctx.plan.latency_s + 30)
        wall_s = time.perf_counter() - began
    await subscriber.drain()
    await close_all(pool)
    arm = summarise(name, prefix, "open", (batch, connections), sent, wall_s, usage)
    arm.intended_rate, arm.server_idle_cores = rate, idle
    arm.retries = sum(c.retries for c in pool)
    arm.latency = measure(workload, sent, subscriber.events)
    return arm


async def close_all(pool: list[Connection]) -> None:
    """Close every connection of a pool."""
    for connection in pool:
        await connection.close()
