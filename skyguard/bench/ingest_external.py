"""Arm 4 (optional): an external engine at SKYGUARD_BENCH_EXTERNAL_URL, sent the same JSON batch
POSTs as skyguard's /v1/telemetry, closed loop; skipped when the variable is unset.

SKYGUARD_BENCH_EXTERNAL_TOKEN, if set, is sent as a bearer token. An answer with an `accepted`
count is read as skyguard's; any other 2xx counts the whole batch accepted. Its alerts are not
compared (nothing says where it keeps them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from skyguard.bench.ingest_http import Connection
from skyguard.bench.ingest_load import accepted_indexes, batches, closed_loop, lanes_of
from skyguard.bench.ingest_workload import Workload

URL_VARIABLE = "SKYGUARD_BENCH_EXTERNAL_URL"
TOKEN_VARIABLE = "SKYGUARD_BENCH_EXTERNAL_TOKEN"  # noqa: S105 (a variable name)
PREFIX = "EX"


@dataclass
class ExternalRun:
    """The external engine's throughput, or why it was not run."""

    url: str | None
    skipped: str | None = None
    reports_sent: int = 0
    accepted: int = 0
    wall_s: float = 0.0
    errors: int = 0

    @property
    def rate(self) -> float:
        """Accepted reports a second."""
        return self.accepted / self.wall_s if self.wall_s else 0.0


async def run_external(
    workload: Workload, batch: int, connections: int, cap_s: float
) -> ExternalRun:
    """POST the stream in batches to the external URL until it ends or the cap passes."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        return ExternalRun(None, skipped=f"{URL_VARIABLE} is not set")
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        return ExternalRun(url, skipped="only http:// URLs are supported")
    token = os.environ.get(TOKEN_VARIABLE)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    port = parts.port or 80
    pool = [Connection(parts.hostname, port, headers) for _ in range(connections)]
    lanes = lanes_of(workload.stream.drone, connections)
    requests = [
        ((i, workload.batch_body(PREFIX, i)) for i in batches(lane, batch)) for lane in lanes
    ]
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    sent, wall_s = await closed_loop(pool, path, requests, cap_s)
    for connection in pool:
        await connection.close()
    return ExternalRun(
        url,
        reports_sent=sum(len(s.indexes) for s in sent),
        accepted=len(accepted_indexes(sent)),
        wall_s=wall_s,
        errors=sum(1 for s in sent if s.error),
    )
