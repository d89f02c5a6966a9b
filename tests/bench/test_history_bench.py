"""The history benchmark end to end at 20,000 reports on its own database of the test server:
data generated, every reviewer request timed through the app with a status, plans caught."""

import json
import os
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from skyguard.bench.history import NotEmpty, Options, run_bench
from skyguard.bench.history_report import as_json, markdown

EXPECTED = (
    "track, one drone, one day (GeoJSON)",
    "track, one drone, one day (CSV)",
    "flights of one drone",
    "one flight with its alerts",
    "intrusions, one zone, one day",
    "positions, 1 km box, one hour (limit 1000)",
    "positions, 10 km box, one day (first page of 100)",
    "district stats, one day",
    "trend per hour, 7 days",
    "heatmap 500 m, city, one hour",
    "heatmap 500 m, city, one day",
    "zone anomalies, last day vs 28 days",
)


@pytest.fixture
def bench_url(database_url: str) -> Iterator[str]:
    """A database of the bench's own beside the test database (the bench commits its data)."""
    url = make_url(database_url)
    name = f"skyguard_bench_test_{os.getpid()}"
    admin = url.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield url.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def is_superuser(url: str) -> bool:
    """auto_explain is loaded per connection, which only a superuser may do."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    return bool(row and row[0])


def test_small_run_times_every_request(bench_url: str) -> None:
    lines: list[str] = []
    report = run_bench(bench_url, Options(reports=20_000, seed=7, runs=1), lines.append)
    plans_expected = is_superuser(bench_url)

    assert report.parameters["reports"] == 20_000
    assert {t.table: t.rows for t in report.tables}["positions"] == 20_000
    assert report.generation["generate_s"] is not None
    assert [t.name for t in report.timings] == list(EXPECTED)
    for timing in report.timings:
        assert timing.status is not None, timing
        if timing.available:
            assert timing.median_ms is not None and timing.rows is not None
            assert timing.plan is not None or not plans_expected, timing.plan_error
            assert timing.plan is not None or timing.plan_error
        else:
            assert timing.error and timing.error.startswith("not available")

    text = markdown(report)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for name in EXPECTED:
        timing_row = next(r for r in rows if f"| {name} | " in r)  # the timings come first
        status = timing_row.split(" | ")[2]
        assert status.isdigit(), timing_row
    assert json.loads(as_json(report))["timings"][0]["name"] == EXPECTED[0]


def test_stored_data_is_timed_again_only_when_asked(bench_url: str) -> None:
    run_bench(bench_url, Options(reports=20_000, seed=3, runs=1), lambda _: None)

    with pytest.raises(NotEmpty):
        run_bench(bench_url, Options(reports=5, seed=9, runs=1), lambda _: None)
    again = run_bench(bench_url, Options(reports=5, seed=9, runs=1, reuse=True), lambda _: None)

    assert again.parameters["reused"] is True
    assert (again.parameters["reports"], again.parameters["seed"]) == (20_000, 3)
    assert again.generation["generate_s"] is not None  # as measured when generated
