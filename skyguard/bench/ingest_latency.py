"""Report-to-alert latency: from a report's intended send time to its alert's arrival on the
SSE stream.

Each `alert.opened` event names its drone and its opening time. The report that opened it is
the drone's first report sent at or after that time (the report itself, or for a segment
crossing the report that ended the segment); the latency is the event's arrival minus that
report's *intended* send time from the open-loop schedule. An event with no such report (opened
by the server's background tick at wall-clock time) is counted as unmatched.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from skyguard.bench.ingest_http import SseEvent, sse_events
from skyguard.bench.ingest_load import Sent
from skyguard.bench.ingest_workload import Workload, drone_of, micros

QUIET_S = 2.0  # the stream is drained when no event came for this long ...
DRAIN_MAX_S = 15.0  # ... or after this long


@dataclass
class Latency:
    """Latencies of the alerts opened during an open-loop run, in milliseconds."""

    opened: int
    matched: int
    p50_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    @property
    def unmatched(self) -> int:
        """Opened alerts not traced to a report sent in the run."""
        return self.opened - self.matched


class Subscriber:
    """An SSE subscriber keeping this arm's `alert.opened` events."""

    def __init__(self, host: str, port: int, key: str, prefix: str) -> None:
        self.events: list[SseEvent] = []
        self.ready = asyncio.Event()
        self._args = (host, port, "/v1/alerts/stream", {"Authorization": f"Bearer {key}"})
        self._prefix = prefix + "-"
        self._task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        async for event in sse_events(*self._args, self.ready):
            if event.type == "alert.opened" and event.data["serial"].startswith(self._prefix):
                self.events.append(event)

    async def start(self) -> None:
        """Subscribe, and return once the stream has begun."""
        self._task = asyncio.create_task(self._read())
        done, _ = await asyncio.wait(
            [self._task, asyncio.create_task(self.ready.wait())],
            timeout=30,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._task in done:
            self._task.result()  # raises what went wrong
        if not self.ready.is_set():
            raise RuntimeError("the alert stream did not start within 30 s")

    async def drain(self) -> None:
        """Wait for late events, then unsubscribe."""
        loop = asyncio.get_running_loop()
        began, seen, quiet_since = loop.time(), len(self.events), loop.time()
        while loop.time() - quiet_since < QUIET_S and loop.time() - began < DRAIN_MAX_S:
            await asyncio.sleep(0.2)
            if len(self.events) != seen:
                seen, quiet_since = len(self.events), loop.time()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await self._task


def measure(workload: Workload, sent: Sequence[Sent], events: Sequence[SseEvent]) -> Latency:
    """Match each opened alert to the report that opened it; the latency distribution."""
    stream = workload.stream
    intended = {}
    for request in sent:
        for index in request.indexes.tolist():
            intended[index] = request.intended
    indexes = np.array(sorted(intended), dtype=np.int64)
    order = np.lexsort((stream.t_us[indexes], stream.drone[indexes]))
    by_drone, times = stream.drone[indexes][order], stream.t_us[indexes][order]
    latencies = []
    for event in events:
        drone = drone_of(event.data["serial"])
        opened_us = micros(datetime.fromisoformat(event.data["opened_at"]) - workload.t0)
        low, high = np.searchsorted(by_drone, [drone, drone + 1])
        at = low + int(np.searchsorted(times[low:high], opened_us))
        if at < high:
            latencies.append(event.arrived - intended[int(indexes[order][at])])
    values = np.array(latencies) * 1e3
    pick = (lambda q: float(np.percentile(values, q))) if len(values) else (lambda q: None)
    return Latency(len(events), len(latencies), pick(50), pick(99), pick(100))
