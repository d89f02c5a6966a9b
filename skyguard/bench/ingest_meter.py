"""What an arm cost: CPU of the server's processes, of PostgreSQL's, of the load generator and
of the whole machine; the server's resident memory, sampled, and each process's peak.

PostgreSQL's share is its processes serving our databases (found in pg_stat_activity) plus the
cluster's WAL writer, checkpointer and background writer, sampled every 0.25 s: a backend that
a connection pool opens and closes within the arm counts up to its last sample, one that lives
under 0.25 s not at all (`sessions_opened` says how many were opened; what they used shows as
other processes' CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psycopg

from skyguard.bench.ingest_proc import (
    CpuMeter,
    command_of,
    cpu_s,
    every_cpu_s,
    loadavg,
    pss_kib,
    reset_peak,
    status_kib,
    system_busy_s,
)

SAMPLE_S = 0.25
PSS_EVERY = 4  # samples: PSS is read once a second, RSS every sample
# The cluster's own processes do our WAL writing and checkpoints (shared with any other
# database on the server, which then counts here too).
POSTGRES_PIDS = """
SELECT pid FROM pg_stat_activity
WHERE datname = ANY(%s)
   OR backend_type IN ('checkpointer', 'walwriter', 'background writer', 'autovacuum launcher')
"""
SESSIONS = "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname = ANY(%s)"


@dataclass
class Usage:
    """CPU seconds and memory over one arm."""

    wall_s: float = 0.0
    server_cpu_s: float | None = None
    postgres_cpu_s: float | None = None
    postgres_processes: int = 0
    sessions_opened: int | None = None  # connections opened to our databases during the arm
    loadgen_cpu_s: float = 0.0
    system_busy_s: float | None = None
    server_peak_rss_kib: int | None = None  # peak of the sum over the server's processes
    server_peak_pss_kib: int | None = None  # the same for their proportional set sizes
    server_hwm_kib: list[int] = field(default_factory=list)  # each process's own peak
    loadavg_after: str = ""
    others: list[tuple[str, float]] = field(default_factory=list)  # busiest other processes

    def other_cores(self) -> float | None:
        """Cores that went to processes outside the measurement (other work on the machine,
        processes that came and went included)."""
        if self.system_busy_s is None or self.server_cpu_s is None or not self.wall_s:
            return None
        ours = self.server_cpu_s + (self.postgres_cpu_s or 0.0) + self.loadgen_cpu_s
        return max(0.0, self.system_busy_s - ours) / self.wall_s

    def per_report_us(self, seconds: float | None, reports: int) -> float | None:
        """CPU microseconds per report."""
        return None if seconds is None or reports == 0 else seconds * 1e6 / reports


class PgWatch:
    """Our databases' PostgreSQL processes, watched through a connection of the watch's own."""

    def __init__(self, dsn: str, databases: list[str]) -> None:
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._databases = databases
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}

    def pids(self) -> list[int]:
        """The processes serving our databases now, and the cluster's WAL and checkpoint ones,
        where they run on this machine (a remote server's do not)."""
        rows = self._conn.execute(POSTGRES_PIDS, (self._databases,)).fetchall()
        return [int(r[0]) for r in rows if int(r[0]) != self._conn.info.backend_pid]

    def sessions(self) -> int:
        """Connections ever opened to our databases (PostgreSQL 14+)."""
        row = self._conn.execute(SESSIONS, (self._databases,)).fetchone()
        return int(row[0]) if row else 0

    def sample(self) -> None:
        """Note each process's CPU now; the first sighting of a process before the arm is its
        start."""
        for pid in self.pids():
            if (used := cpu_s(pid)) is not None:
                self.last[pid] = used

    def begin(self) -> None:
        """Start counting."""
        self.last = {}
        self.sample()
        self.start = dict(self.last)

    def used_s(self) -> float | None:
        """CPU seconds since `begin`, or None when no process could be read."""
        if not self.last:
            return None
        return sum(used - self.start.get(pid, 0.0) for pid, used in self.last.items())

    def close(self) -> None:
        """Close the watch's connection."""
        self._conn.close()


def _busiest_others(
    before: dict[int, float], ours: set[int], wall_s: float
) -> list[tuple[str, float]]:
    """The three processes, not ours, that used the most CPU since `before`, in cores."""
    used = [
        (now - before.get(pid, 0.0), pid) for pid, now in every_cpu_s().items() if pid not in ours
    ]
    top = sorted(used, reverse=True)[:3]
    return [(command_of(pid), seconds / wall_s) for seconds, pid in top if seconds > 0 and wall_s]


@contextlib.asynccontextmanager
async def metered(server_pids: list[int], watch: PgWatch) -> AsyncIterator[Usage]:
    """Measure the block: fill the Usage it yields when it ends."""
    usage = Usage()
    for pid in server_pids:
        reset_peak(pid)
    watch.begin()
    sessions = watch.sessions()
    server_cpu, everyone = CpuMeter.begin(server_pids), every_cpu_s()
    system, own, wall = system_busy_s(), time.process_time(), time.perf_counter()
    sampler = asyncio.create_task(_sample(server_pids, watch, usage))
    try:
        yield usage
    finally:
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        usage.wall_s = time.perf_counter() - wall
        usage.loadgen_cpu_s = time.process_time() - own
        usage.server_cpu_s = server_cpu.used_s(server_pids)
        usage.server_hwm_kib = [v for p in server_pids if (v := status_kib(p, "VmHWM")) is not None]
        watch.sample()
        usage.postgres_cpu_s, usage.postgres_processes = watch.used_s(), len(watch.last)
        usage.sessions_opened = watch.sessions() - sessions
        after = system_busy_s()
        usage.system_busy_s = after[0] - system[0] if after and system else None
        usage.loadavg_after = loadavg()
        ours = {os.getpid(), *server_pids, *watch.last}
        usage.others = _busiest_others(everyone, ours, usage.wall_s)


async def _sample(server_pids: list[int], watch: PgWatch, usage: Usage) -> None:
    """Keep the peaks of the server processes' summed RSS and PSS, and PostgreSQL's CPU
    readings."""
    for tick in itertools.count():
        total = sum(status_kib(pid, "VmRSS") or 0 for pid in server_pids)
        usage.server_peak_rss_kib = max(usage.server_peak_rss_kib or 0, total)
        if tick % PSS_EVERY == 0:  # off the event loop: the load generator must not stall
            shared = await asyncio.to_thread(_summed_pss, server_pids)
            usage.server_peak_pss_kib = max(usage.server_peak_pss_kib or 0, shared)
        watch.sample()
        await asyncio.sleep(SAMPLE_S)


def _summed_pss(pids: list[int]) -> int:
    """The processes' PSS summed (the kernel walks each one's page tables: milliseconds)."""
    return sum(pss_kib(pid) or 0 for pid in pids)


async def idle_cores(pids: list[int], seconds: float = 2.0) -> float | None:
    """Cores the processes keep busy with no request coming (background loops)."""
    meter = CpuMeter.begin(pids)
    if not meter.start:
        return None
    await asyncio.sleep(seconds)
    return meter.used_s(pids) / seconds
