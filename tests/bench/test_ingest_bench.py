"""The ingest benchmark end to end on a tiny workload (20 zones, 10 drones, 2,000 reports) with
short caps, against the test server: every arm runs (the external one is skipped without its
URL), no alert mismatches, and the report renders with every arm in it."""

import json
import os

import pytest
from sqlalchemy.engine import make_url

from skyguard.bench.ingest import Options, run_bench
from skyguard.bench.ingest_e2e import PREFIXES, HttpPlan
from skyguard.bench.ingest_external import URL_VARIABLE
from skyguard.bench.ingest_report import rows
from skyguard.bench.ingest_report_text import as_json, markdown
from skyguard.bench.ingest_server import DatabaseServer
from skyguard.bench.ingest_workload import Size, build_workload, stream_t0

TINY = Size("T", 20, 10, 2_000)


@pytest.fixture
def options(tmp_path) -> Options:
    plan = HttpPlan(batch_cap_s=5, single_cap_s=2, latency_s=2, single_connections=8, idle_s=0.5)
    return Options(
        sizes=(TINY,),
        full_sizes=("T",),
        http=plan,
        baseline_connections=4,
        baseline_cap_s=3,
        external_cap_s=3,
        database=f"skyguard_bench_ingest_test_{os.getpid()}",
        work_dir=tmp_path,
    )


def test_workload_is_the_same_for_a_seed() -> None:
    t0 = stream_t0(TINY)
    first, second = build_workload(TINY, 7, t0, None), build_workload(TINY, 7, t0, None)

    assert [z.feature for z in first.zones] == [z.feature for z in second.zones]
    assert (first.stream.lon == second.stream.lon).all()
    assert (first.stream.t_us == second.stream.t_us).all()
    assert len(first.stream) == TINY.reports
    assert (first.stream.t_us[:-1] <= first.stream.t_us[1:]).all()  # in time order


async def test_tiny_run_has_every_arm_and_no_mismatch(database_url, options, monkeypatch):
    monkeypatch.delenv(URL_VARIABLE, raising=False)
    server = DatabaseServer(make_url(database_url).render_as_string(hide_password=False))

    report = await run_bench(options, server, lambda line: None, "test")

    (result,) = report.sizes
    assert result.engine is not None and result.engine.reports == TINY.reports
    assert result.engine_comparison is not None and result.engine_comparison.mismatches == 0
    assert result.engine_comparison.oracle_pairs > 0  # the tiny stream does breach
    rates = result.engine_rates  # a full size runs the engine three times, the median reported
    assert len(rates) == 3 and result.engine.reports / result.engine.wall_s == sorted(rates)[1]
    assert result.http is not None
    assert [arm.name for arm in result.http.arms] == list(PREFIXES)
    for arm in result.http.arms:
        assert arm.accepted > 0 and arm.accepted_share == 1.0, (arm.name, arm.errors)
        assert arm.comparison is not None and arm.comparison.mismatches == 0, arm.comparison
        pss, rss = arm.usage.server_peak_pss_kib, arm.usage.server_peak_rss_kib
        assert pss is not None and rss is not None and 0 < pss <= rss  # shared pages counted once
    latency = result.http.arms[2].latency
    assert latency is not None and latency.opened >= latency.matched
    assert result.baseline is not None and result.baseline.reports > 0
    assert result.baseline.covers is not None and result.baseline.covers.mismatches == 0
    assert result.external is not None and result.external.skipped

    # the machine's speed at the start and the end, to compare runs against
    assert report.machine["python_loop_ms"].isdigit()
    assert report.machine["python_loop_ms_end"].isdigit()
    assert "-step Python loop took " in markdown(report)

    table = [row.arm for row in rows(report)]
    assert table[0].startswith("1 engine") and table[-1] == "4 external engine"
    assert sum(1 for arm in table if arm.startswith("2 HTTP")) == 4
    assert any(arm.startswith("3 PostGIS baseline") for arm in table)
    assert "| 4 external engine | T | skipped:" in markdown(report)
    assert "**Engine, T**: the median of 3 runs (" in markdown(report)
    assert len(json.loads(as_json(report))["sizes"][0]["engine_runs_per_s"]) == 3
    assert json.loads(as_json(report))["sizes"][0]["http"]["arms"][0]["name"] == "batch"
