"""The ingest benchmark's report written out: the header, the summary table, every arm's
details, and the same as JSON."""

from __future__ import annotations

import json
from typing import Any

from skyguard.bench.ingest_baseline import BaselineRun
from skyguard.bench.ingest_compare import Comparison
from skyguard.bench.ingest_e2e import HttpArm, HttpRun
from skyguard.bench.ingest_engine import EngineRun, percentile
from skyguard.bench.ingest_external import ExternalRun
from skyguard.bench.ingest_facts import YARDSTICK_STEPS
from skyguard.bench.ingest_meter import Usage
from skyguard.bench.ingest_report import BenchReport, SizeResult, mib, num, rows, summary

READING = [
    "How to read it: **reports/s** counts accepted reports over the wall time from the first "
    "request to the last answer. **CPU µs/report** is, for the engine, its process's CPU in "
    "`advance_all`; for HTTP, the server's processes plus PostgreSQL's (the bench database's "
    "backends and the cluster's WAL writer, checkpointer and background writer) per accepted "
    "report, the server's background loops included (each arm's idle load is in its details); "
    "for the baseline, PostgreSQL's plus the bench's own client process. **p50 / p99** is "
    "report-to-alert latency: an alert's arrival on the SSE stream minus the intended send "
    "time of the report that opened it, under open-loop load (coordinated omission corrected). "
    "**Peak memory**: the engine process's VmHWM; for HTTP the peak of the server processes' "
    "proportional set size (PSS) summed (sampled every second), with the peak of their RSS "
    "summed beside it (every 0.25 s). With several workers the supervising process builds the "
    "zone index and forks them: the pages they share are in each one's RSS, so summed RSS "
    "counts them once per process, while PSS divides each shared page among the processes that "
    "share it and sums to the memory the server occupies. **Alert mismatches**: (drone, zone) "
    "pairs breached by a report per the shapely oracle without a breach alert, and pairs with "
    "a breach alert opened by a report without the oracle's breach; for the baseline, (report, "
    "zone) pairs PostGIS `ST_Covers` and shapely `covers` disagree on."
]


def header(report: BenchReport) -> list[str]:
    """Title, run, machine and versions."""
    m, v = report.machine, report.versions
    run = next((r.http for r in report.sizes if r.http), None)
    f = run.facts if run else {}
    settings = ", ".join(f"{k}={val}" for k, val in run.server_env.items()) if run else ""
    return [
        "# Ingest benchmark: throughput, latency, memory",
        "",
        f"- Run: {report.started}, {report.wall_s / 60:,.1f} min, seed {report.seed}: "
        f"`{report.command}`",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, kernel {m['kernel']}; "
        f"load average {m['loadavg']} at the start, {m.get('loadavg_end', 'n/a')} at the end; "
        f"a {YARDSTICK_STEPS:,}-step Python loop took {m.get('python_loop_ms', 'n/a')} ms at "
        f"the start, {m.get('python_loop_ms_end', 'n/a')} ms at the end (its speed drifts: "
        "compare runs against it)",
        f"- Versions: Python {v['python']}, skyguard {v['skyguard']}, shapely {v['shapely']}, "
        f"pyproj {v['pyproj']}, numpy {v['numpy']}, uvicorn {v['uvicorn']}, "
        f"fastapi {v['fastapi']}, SQLAlchemy {v['sqlalchemy']}, psycopg {v['psycopg']}, "
        f"airportsdata {v['airportsdata']}",
        f"- PostgreSQL {f.get('server_version', 'n/a')}, {f.get('postgis', 'PostGIS n/a')}; "
        f"synchronous_commit {f.get('synchronous_commit', 'n/a')}, fsync {f.get('fsync', 'n/a')}, "
        f"shared_buffers {f.get('shared_buffers', 'n/a')}",
        f"- Server: `skyguard serve --workers {run.workers if run else 'n/a'}` with "
        f"{settings or 'default settings'} (replayed report times trail the wall clock: with the "
        "60 s default the background tick would close every drone's alerts and flights each "
        "second, to be reopened by its next report)",
        "",
    ]


def workload_lines(report: BenchReport) -> list[str]:
    """One line per workload."""
    lines = [
        "## Workloads",
        "",
        "| size | zones: simple / 500-1,000 vertices / circles | prohibited / restricted / warning "
        "| AGL / AMSL | windows / schedules / buffers | exemptions | drones | reports | near or in "
        "a zone | in a zone | breaching |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for result in report.sizes:
        w = result.workload
        lines.append(
            f"| {result.size.name} | {w['zones']:,}: {w['simple']:,} / {w['complex']:,} / "
            f"{w['circle']:,} | {w['prohibited']:,} / {w['restricted']:,} / {w['warning']:,} | "
            f"{w['AGL']:,} / {w['AMSL']:,} | {w['windows']:,} / {w['schedules']:,} / "
            f"{w['buffers']:,} | {w['exemptions']:,} | {w['drones']:,} | "
            f"{w['reports']:,} in {w['span_s']:,.0f} s "
            f"| {100 * w['near_share']:.1f} % | {100 * w['inside_share']:.1f} % | "
            f"{100 * w['breach_share']:.1f} % |"
        )
    lines += [
        "",
        "Zones: the Swiss ED-318 geozones (a seeded sample for S), then `airportsdata` airports; "
        "some drawn as circles or as generated 500-1,000-vertex polygons; windows and schedules "
        "placed relative to the stream's start. Drones: 1 Hz, 5-20 m/s, three in ten laid across "
        "a zone's boundary (straight or loitering), the rest 1.5-12 km from any zone; a tenth "
        "report no height. 'Near' is within 200 m.",
        "",
    ]
    return lines


def comparison_text(cmp: Comparison | None) -> str:
    """An alert comparison in words."""
    if cmp is None:
        return "not compared"
    text = (
        f"{cmp.breach_alerts:,} breach and {cmp.approach_alerts:,} approach alerts opened; "
        f"{cmp.alert_pairs:,} (drone, zone) pairs opened by a report against the oracle's "
        f"{cmp.oracle_pairs:,}: {cmp.missing} missing, {cmp.extra} extra, {cmp.by_clock} of "
        "the oracle's opened first by the background tick; "
        f"pairs opened only by a segment crossing {cmp.crossing_only}, only by the background tick "
        f"{cmp.clock_only}"
    )
    if cmp.missing_examples or cmp.extra_examples:
        text += f" (missing e.g. {cmp.missing_examples}, extra e.g. {cmp.extra_examples})"
    return text


def engine_lines(result: SizeResult, run: EngineRun) -> list[str]:
    """Arm 1's details."""
    closes = ", ".join(f"{n:,} {reason}" for reason, n in sorted(run.closes.items()))
    rates = result.engine_rates
    runs = (
        f"the median of {len(rates)} runs ({', '.join(f'{r:,.0f}' for r in rates)} reports/s); "
        if len(rates) > 1
        else ""
    )
    return [
        f"- **Engine, {result.size.name}**: {runs}index build {run.index_build_s:,.1f} s "
        f"(not in the rate); advance_all {run.wall_s:,.1f} s wall, {run.cpu_s:,.1f} s CPU over "
        f"{len(run.batch_ms):,} batches (p50 {num(percentile(run.batch_ms, 50), 1)} ms, p99 "
        f"{num(percentile(run.batch_ms, 99), 1)} ms); RSS {mib(run.rss_loaded_kib)} with the zones "
        f"parsed and the stream loaded, peak {mib(run.peak_rss_kib)}; {run.updates:,} updates, "
        f"closes: {closes or 'none'}; {comparison_text(result.engine_comparison)}.",
    ]


def stream_part(arm: HttpArm, result: SizeResult) -> str:
    """Which part of the stream an arm ran."""
    share = arm.reports_sent / max(1, result.workload["reports"])
    return (
        f"the first {arm.reports_sent:,} reports of the stream ({100 * share:.1f} %: about its "
        f"first {share * result.size.steps:,.0f} s for every drone)"
    )


def latency_text(arm: HttpArm) -> str:
    """An open-loop arm's latency in words."""
    if arm.latency is None:
        return ""
    lat = arm.latency
    return (
        f"; latency: {lat.opened:,} alerts opened, {lat.matched:,} traced to their report, "
        f"p50 {num(lat.p50_ms, 1)} / p99 {num(lat.p99_ms, 1)} / max {num(lat.max_ms, 1)} ms"
    )


def others_text(usage: Usage) -> str:
    """CPU that went elsewhere on the machine during an arm."""
    cores = usage.other_cores()
    if cores is None:
        return "CPU outside the measured processes: n/a"
    top = ", ".join(f"`{command}` {used:.2f}" for command, used in usage.others)
    text = f"CPU outside the measured processes (kernel, other processes): {cores:.2f} cores"
    return text + (f" (busiest other processes: {top})" if top else "")


def cpu_text(arm: HttpArm) -> str:
    """Where an arm's CPU went, per accepted report."""
    u = arm.usage

    def per(seconds: float | None) -> str:
        return num(u.per_report_us(seconds, arm.accepted))

    return (
        f"CPU µs/report: server {per(u.server_cpu_s)}, PostgreSQL {per(u.postgres_cpu_s)} "
        f"({u.postgres_processes} processes seen, {num(u.sessions_opened)} connections opened "
        f"during the arm), load generator {per(u.loadgen_cpu_s)}, whole "
        f"machine {per(u.system_busy_s)}; {others_text(u)}"
    )


def arm_line(arm: HttpArm, result: SizeResult) -> str:
    """One end-to-end arm in words."""
    u = arm.usage
    intended = f"intended {num(arm.intended_rate)}/s, " if arm.intended_rate else ""
    errors = "; ".join(f"{n}x {e}" for e, n in arm.errors.items()) or "none"
    per_process = ", ".join(mib(k) for k in u.server_hwm_kib)
    idle = f"{arm.server_idle_cores:.2f}" if arm.server_idle_cores is not None else "n/a"
    return (
        f"  - *{arm.name}* (prefix {arm.prefix}, {arm.loop} loop, {arm.connections} "
        f"connections, {arm.batch:,} per request): {stream_part(arm, result)}; "
        f"{arm.requests:,} requests, {100 * arm.accepted_share:.2f} % of reports accepted, "
        f"errors: {errors}, resent on a new connection: {arm.retries}; {arm.wall_s:,.1f} s, "
        f"{intended}{num(arm.rate)}/s; server busy {idle} cores just before, idle; answer from "
        f"intended send p50 {num(arm.request_ms.get('p50'), 1)} / p99 "
        f"{num(arm.request_ms.get('p99'), 1)} ms; {cpu_text(arm)}; PSS peak "
        f"{mib(u.server_peak_pss_kib)} summed, RSS peak {mib(u.server_peak_rss_kib)} summed, "
        f"per process {per_process}; load average after "
        f"{u.loadavg_after}{latency_text(arm)}; alerts: {comparison_text(arm.comparison)}."
    )


def http_lines(result: SizeResult, run: HttpRun) -> list[str]:
    """Arm 2's details."""
    setup = ", ".join(
        f"{k.removesuffix('_s').replace('_', ' ')} {v:,.1f} s" for k, v in run.setup_s.items()
    )
    title = f"- **End to end, {result.size.name}** (database `{run.database}`, "
    idle = "n/a" if run.idle_after_cores is None else f"{run.idle_after_cores:.2f}"
    after = (
        f"  - After the arms, with the {run.drones_live:,} drones they reported still live, the "
        f"server keeps {idle} cores busy with no request coming (its background loops)."
    )
    arms = [arm_line(a, result) for a in run.arms]
    return [f"{title}{run.workers} workers): {setup}.", *arms, after]


def baseline_lines(run: BaselineRun) -> list[str]:
    """Arm 3's details."""
    u, c = run.usage, run.covers
    covers = (
        f"{c.postgis_pairs:,} (report, zone) pairs from PostGIS, {c.shapely_pairs:,} from "
        f"shapely: {c.only_postgis} only in PostGIS, {c.only_shapely} only in shapely"
        if c
        else "not compared"
    )
    return [
        f"- **PostGIS baseline** (database `{run.database}`, {run.connections} connections): "
        f"{run.reports:,} reports in {run.wall_s:,.1f} s = {num(run.rate)}/s; {covers}; "
        f"{run.alerting_hits:,} hits within band and window; CPU µs/report: PostgreSQL "
        f"{num(u.per_report_us(u.postgres_cpu_s, run.reports))}, client "
        f"{num(u.per_report_us(u.loadgen_cpu_s, run.reports))}, whole machine "
        f"{num(u.per_report_us(u.system_busy_s, run.reports))}; {others_text(u)}.",
    ]


def external_lines(run: ExternalRun) -> list[str]:
    """Arm 4's details."""
    if run.skipped:
        return [f"- **External engine**: skipped ({run.skipped})."]
    return [
        f"- **External engine** at {run.url}: {run.accepted:,} of {run.reports_sent:,} reports "
        f"accepted in {run.wall_s:,.1f} s = {num(run.rate)}/s; {run.errors} failed requests."
    ]


def details(report: BenchReport) -> list[str]:
    """Everything below the table."""
    lines = [*READING, "", *workload_lines(report), "## Arms", ""]
    for result in report.sizes:
        if result.engine:
            lines += engine_lines(result, result.engine)
        if result.http:
            lines += http_lines(result, result.http)
        if result.baseline:
            lines += baseline_lines(result.baseline)
        if result.external:
            lines += external_lines(result.external)
        phases = ", ".join(f"{k} {v:,.0f} s" for k, v in result.durations_s.items())
        lines.append(f"- Time spent on {result.size.name}: {phases}.")
    return [*lines, ""]


def markdown(report: BenchReport) -> str:
    """The whole report as Markdown."""
    return "\n".join([*header(report), *summary(report), "", *details(report)])


def _usage(u: Any) -> dict[str, Any]:
    return dict(vars(u))


def _arm(arm: HttpArm) -> dict[str, Any]:
    body = {
        k: v
        for k, v in vars(arm).items()
        if k not in ("accepted_indexes", "usage", "latency", "comparison")
    }
    body |= {"rate": arm.rate, "accepted_share": arm.accepted_share, "usage": _usage(arm.usage)}
    body["latency"] = (
        vars(arm.latency) | {"unmatched": arm.latency.unmatched} if arm.latency else None
    )
    body["comparison"] = _comparison(arm.comparison)
    return body


def _comparison(cmp: Comparison | None) -> dict[str, Any] | None:
    return vars(cmp) | {"mismatches": cmp.mismatches} if cmp else None


def _engine(run: EngineRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    body = {k: v for k, v in vars(run).items() if k not in ("opens", "batch_ms")}
    body["reports_per_s"] = run.reports / run.wall_s if run.wall_s else None
    body["batch_ms_p50"], body["batch_ms_p99"] = (
        percentile(run.batch_ms, 50),
        percentile(run.batch_ms, 99),
    )
    body["opens"] = len(run.opens)
    return body


def _size(result: SizeResult) -> dict[str, Any]:
    http = result.http
    baseline = result.baseline
    return {
        "size": vars(result.size),
        "workload": result.workload,
        "durations_s": result.durations_s,
        "engine": _engine(result.engine),
        "engine_runs_per_s": result.engine_rates,
        "engine_comparison": _comparison(result.engine_comparison),
        "http": (vars(http) | {"arms": [_arm(a) for a in http.arms]}) if http else None,
        "baseline": (
            vars(baseline)
            | {
                "rate": baseline.rate,
                "usage": _usage(baseline.usage),
                "covers": vars(baseline.covers) if baseline.covers else None,
            }
            if baseline
            else None
        ),
        "external": (vars(result.external) | {"rate": result.external.rate})
        if result.external
        else None,
    }


def as_json(report: BenchReport) -> str:
    """The whole report as JSON, the summary table's rows included."""
    body = {k: v for k, v in vars(report).items() if k != "sizes"}
    body["sizes"] = [_size(r) for r in report.sizes]
    body["summary"] = [vars(r) for r in rows(report)]
    return json.dumps(body, indent=2, default=str)
