"""Time the reviewer requests through the real app (lifespan, auth, routers, store) over HTTP
in-process, then run each once more with auto_explain on to catch the plans behind it."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from skyguard.app import create_app
from skyguard.bench.history_cases import Case, count
from skyguard.bench.history_plans import PlanSummary, explaining, summarise
from skyguard.settings import Settings
from skyguard.store.keys import create_key

BODY_SHOWN = 600  # characters of an error body kept in the report
REQUEST_TIMEOUT_S = 900.0
APP_SETTINGS = ("jit", "work_mem", "max_parallel_workers_per_gather", "synchronous_commit")


@dataclass
class Timing:
    """One request's timed runs, what it returned and the plans behind it."""

    name: str
    request: str
    status: int | None
    runs_ms: list[float]
    median_ms: float | None = None
    max_ms: float | None = None
    rows: int | None = None
    returned: str = ""
    error: str | None = None
    plan: PlanSummary | None = None
    plan_error: str | None = None

    @property
    def available(self) -> bool:
        """Whether the endpoint answered 200."""
        return self.status == 200


def request_line(case: Case) -> str:
    """The request as one line: GET path?query."""
    query = f"?{urlencode(case.params)}" if case.params else ""
    return f"GET {case.path}{query}"


async def reviewer_headers(app: FastAPI) -> dict[str, str]:
    """A fresh reviewer key's Authorization header."""
    async with app.state.db.session() as session:
        issued = await create_key(session, role="reviewer", name="history benchmark")
    return {"Authorization": f"Bearer {issued.secret}"}


async def time_case(
    client: httpx.AsyncClient, case: Case, headers: dict[str, str], runs: int
) -> Timing:
    """One warm-up, then `runs` timed requests; a failing endpoint is recorded, not raised."""
    timing = Timing(case.name, request_line(case), None, [])
    try:
        response = await client.get(case.path, params=case.params, headers=headers)
        timing.status = response.status_code
        if response.status_code != 200:
            timing.error = f"not available: {response.status_code} {response.text[:BODY_SHOWN]}"
            return timing
        for _ in range(runs):
            began = time.perf_counter()
            response = await client.get(case.path, params=case.params, headers=headers)
            timing.runs_ms.append((time.perf_counter() - began) * 1000.0)
            timing.status = response.status_code
        timing.rows, timing.returned = count(case, response)
    except Exception as error:  # a broken endpoint must not stop the other measurements
        timing.error = f"not available: {type(error).__name__}: {error}"[:BODY_SHOWN]
        return timing
    timing.median_ms = statistics.median(timing.runs_ms)
    timing.max_ms = max(timing.runs_ms)
    return timing


async def capture_plans(
    app: FastAPI,
    client: httpx.AsyncClient,
    requests: list[tuple[Case, Timing]],
    headers: dict[str, str],
    partitions: int,
) -> None:
    """Run each available request once more with auto_explain on; keep its plans."""
    try:
        async with explaining(app.state.db.engine) as notices:
            for case, timing in requests:
                if not timing.available:
                    continue
                notices.clear()
                response = await client.get(case.path, params=case.params, headers=headers)
                timing.plan = summarise(list(notices), partitions)
                if timing.plan is None:
                    detail = response.text[:BODY_SHOWN] if response.status_code != 200 else ""
                    timing.plan_error = f"no plan caught ({response.status_code} {detail})"
    except Exception as error:  # e.g. a role that may not LOAD auto_explain
        for _, timing in requests:
            timing.plan_error = timing.plan_error or f"{type(error).__name__}: {error}"[:BODY_SHOWN]


async def connection_settings(app: FastAPI) -> str:
    """The settings the app's own connections run with (its connect options may override the
    server's defaults)."""
    async with app.state.db.session() as session:
        shown = [
            f"{name} {(await session.execute(text(f'SHOW {name}'))).scalar_one()}"
            for name in APP_SETTINGS
        ]
    return ", ".join(shown)


async def measure(
    url: str, cases: list[Case], runs: int, partitions: int
) -> tuple[list[Timing], str]:
    """Time every case through the app on `url`, then catch each one's plans; the timings and
    the app's connection settings."""
    app = create_app(Settings(database_url=url, run_background_tasks=False))
    async with app.router.lifespan_context(app):
        headers = await reviewer_headers(app)
        settings = await connection_settings(app)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://skyguard.bench", timeout=REQUEST_TIMEOUT_S
        ) as client:
            timings = [await time_case(client, case, headers, runs) for case in cases]
            pairs = list(zip(cases, timings, strict=True))
            await capture_plans(app, client, pairs, headers, partitions)
    return timings, settings
