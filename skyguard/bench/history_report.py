"""The history benchmark's findings as Markdown for people and JSON for tools."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from skyguard.bench.history_facts import TableSize
from skyguard.bench.history_timing import Timing


@dataclass
class BenchReport:
    """Everything one run measured."""

    machine: dict[str, str]
    server: dict[str, str]
    parameters: dict[str, Any]
    generation: dict[str, float | None]
    tables: list[TableSize]
    partitions: int
    timings: list[Timing]


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"


def _seconds(value: float | None) -> str:
    return "not recorded" if value is None else f"{value:,.1f} s"


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


def header(report: BenchReport) -> list[str]:
    """Title, machine, server, data and generation lines."""
    m, s, p, g = report.machine, report.server, report.parameters, report.generation
    own = ("postgresql", "postgis", "app_connections")
    settings = ", ".join(f"{k} {v}" for k, v in s.items() if k not in own)
    return [
        f"# History queries at {p['reports']:,} stored reports",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; {m['os']}; "
        f"Python {m['python']}",
        f"- PostgreSQL {s['postgresql']}, PostGIS {s['postgis']}; server defaults: {settings}; "
        f"the app's connections: {s.get('app_connections', '?')}",
        f"- Data: seed {p['seed']}, reports from {p['since']} to {p['until']} "
        f"(7 UTC days, {report.partitions} day partitions), city box {p['city_box']}",
        f"- Generation (SQL, indexes in place): {_seconds(g['generate_s'])}; "
        f"VACUUM ANALYZE: {_seconds(g['vacuum_analyze_s'])}"
        f"{' (when generated; this run reused the data)' if p['reused'] else ''}; "
        f"migrations: {_seconds(g['migrate_s'])}"
        f"{'; district roll-up: ' + _seconds(g['roll_up_s']) if 'roll_up_s' in g else ''}",
        f"- Timed: {p['runs']} runs after 1 warm-up per request, through the app over in-process "
        "HTTP (auth, routing, store, JSON); plans from auto_explain on one more run",
        "",
    ]


def tables(report: BenchReport) -> list[str]:
    """Row counts and sizes."""
    lines = [
        "## Tables",
        "",
        "| table | rows | heap | indexes | total |",
        "|---|---:|---:|---:|---:|",
    ]
    for t in report.tables:
        lines.append(
            f"| {t.table} | {t.rows:,} | {_bytes(t.table_bytes)} | {_bytes(t.index_bytes)} "
            f"| {_bytes(t.total_bytes)} |"
        )
    return [*lines, ""]


def timings(report: BenchReport) -> list[str]:
    """The timing table, then the exact requests."""
    lines = [
        "## Timings",
        "",
        "| # | request | status | median ms | max ms | returned |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for i, t in enumerate(report.timings, 1):
        returned = t.returned if t.available else (t.error or "")
        returned = returned.replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| {i} | {t.name} | {t.status if t.status is not None else 'error'} "
            f"| {_ms(t.median_ms)} | {_ms(t.max_ms)} | {returned} |"
        )
    lines += ["", "Requests:", ""]
    lines += [f"{i}. `{t.request}`" for i, t in enumerate(report.timings, 1)]
    return [*lines, ""]


def plans(report: BenchReport) -> list[str]:
    """Per request: its slowest statement's time, whether it is index-driven, its access paths."""
    lines = [
        "## Plans",
        "",
        "The slowest statement of each request (auto_explain, ANALYZE); the request's other "
        "statements (key lookup, drone or zone lookup) are listed in the JSON. Index-driven "
        "means no sequential scan of a positions partition, flights or alerts; one is expected "
        "where a request reads most of a table anyway (the city-wide heatmap of a day reads the "
        "whole day; the anomalies' 28-day baseline reads every alert stored here).",
        "",
        "| # | request | statement ms (under ANALYZE) | index-driven | access paths |",
        "|---:|---|---:|---|---|",
    ]
    for i, t in enumerate(report.timings, 1):
        if t.plan is None:
            reason = t.plan_error or (t.error or "not run")
            lines.append(f"| {i} | {t.name} | | | no plan: {reason[:200]} |")
            continue
        verdict = "yes" if t.plan.index_driven else "**no**"
        lines.append(
            f"| {i} | {t.name} | {t.plan.main.duration_ms:,.1f} | {verdict} | {t.plan.describe()} |"
        )
    return [*lines, ""]


def markdown(report: BenchReport) -> str:
    """The whole report as Markdown."""
    return "\n".join([*header(report), *tables(report), *timings(report), *plans(report)])


def as_json(report: BenchReport) -> str:
    """The whole report as JSON (plans of the slowest statements in full)."""
    body = dataclasses.asdict(report)
    for table, size in zip(body["tables"], report.tables, strict=True):
        table["total_bytes"] = size.total_bytes
    return json.dumps(body, indent=2, default=str)
