"""The ingest benchmark's findings: one table of every arm against its target, then details, as
Markdown for people and JSON for tools."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyguard.bench.ingest_baseline import BaselineRun
from skyguard.bench.ingest_compare import Comparison
from skyguard.bench.ingest_e2e import HttpArm, HttpRun
from skyguard.bench.ingest_engine import EngineRun
from skyguard.bench.ingest_external import ExternalRun
from skyguard.bench.ingest_workload import Size

ENGINE_TARGET = 1_000_000.0
BATCH_TARGET = 50_000.0
SINGLE_TARGET = 4_000.0
P99_TARGET_MS = 25.0
BASELINE_FACTOR = 15.0
MEMORY_TARGET_MB = 500.0  # the server at M, peak proportional set size summed
ACCEPTED_SHARE = 0.999


@dataclass
class SizeResult:
    """Every arm run on one workload size."""

    size: Size
    workload: dict[str, Any]
    engine: EngineRun | None = None
    engine_comparison: Comparison | None = None
    engine_rates: list[float] = field(default_factory=list)  # every engine run's reports/s
    http: HttpRun | None = None
    baseline: BaselineRun | None = None
    external: ExternalRun | None = None
    durations_s: dict[str, float] = field(default_factory=dict)


@dataclass
class BenchReport:
    """One run of the benchmark."""

    command: str
    seed: int
    started: str
    machine: dict[str, str]
    versions: dict[str, str]
    options: dict[str, Any]
    sizes: list[SizeResult]
    wall_s: float = 0.0


@dataclass(frozen=True)
class Row:
    """One line of the summary table."""

    arm: str
    workload: str
    reports: str
    rate: str
    cpu_us: str
    latency: str
    rss: str
    mismatches: str
    target: str = ""
    met: bool | None = None


def num(value: float | None, digits: int = 0) -> str:
    """A number with thousands separators, or n/a."""
    return "n/a" if value is None else f"{value:,.{digits}f}"


def mib(kib: int | None) -> str:
    """kB as MB."""
    return "n/a" if kib is None else f"{kib / 1024:,.0f} MB"


def verdict(met: bool | None) -> str:
    """yes, **no**, or blank where no target applies."""
    return "" if met is None else "yes" if met else "**no**"


def engine_row(result: SizeResult) -> Row | None:
    """Arm 1's line."""
    run, cmp = result.engine, result.engine_comparison
    if run is None:
        return None
    rate = run.reports / run.wall_s if run.wall_s else 0.0
    target = result.size.name == "S"
    return Row(
        f"1 engine: advance_all, batches of {run.batch:,}",
        result.size.name,
        f"{run.reports:,} (all)",
        num(rate),
        num(run.cpu_s * 1e6 / run.reports if run.reports else None, 1),
        "",
        mib(run.peak_rss_kib),
        num(cmp.mismatches if cmp else None),
        f"≥ {ENGINE_TARGET:,.0f}/s" if target else "",
        rate >= ENGINE_TARGET if target else None,
    )


def arm_target(arm: HttpArm, size: str) -> tuple[str, bool | None]:
    """The target an end-to-end arm is held to, and whether it met it."""
    accepted = arm.accepted_share >= ACCEPTED_SHARE
    if arm.name == "batch" and size == "S":
        return f"≥ {BATCH_TARGET:,.0f}/s", arm.rate >= BATCH_TARGET and accepted
    if arm.name == "single" and size == "S":
        return f"≥ {SINGLE_TARGET:,.0f}/s", arm.rate >= SINGLE_TARGET and accepted
    if arm.name == "latency-single" and size == "S":
        p99 = arm.latency.p99_ms if arm.latency else None
        return f"p99 ≤ {P99_TARGET_MS:.0f} ms", p99 is not None and p99 <= P99_TARGET_MS
    if arm.name == "batch" and size == "M":
        # PSS: the workers share the zone index with the process they are forked from, and
        # summed RSS would count those pages once per process
        peak = arm.usage.server_peak_pss_kib
        met = peak is not None and peak / 1024 <= MEMORY_TARGET_MB
        return f"memory ≤ {MEMORY_TARGET_MB:,.0f} MB", met
    return "", None


ARM_TITLES = {
    "batch": "2 HTTP: batches of {batch:,}, closed loop, {connections} conn.",
    "single": "2 HTTP: single-report POSTs, closed loop, {connections} conn.",
    "latency-single": "2 HTTP: single POSTs at half that rate, open loop + SSE",
    "latency-batch": "2 HTTP: batches at half that rate, open loop + SSE",
}


def http_row(arm: HttpArm, size: str) -> Row:
    """An end-to-end arm's line: CPU is the server's plus PostgreSQL's."""
    usage = arm.usage
    server = usage.per_report_us(usage.server_cpu_s, arm.accepted)
    postgres = usage.per_report_us(usage.postgres_cpu_s, arm.accepted)
    cpu = (
        "n/a"
        if server is None
        else f"{num(server + (postgres or 0))} ({num(server)} + {num(postgres)})"
    )
    latency = arm.latency
    target, met = arm_target(arm, size)
    return Row(
        ARM_TITLES[arm.name].format(batch=arm.batch, connections=arm.connections),
        size,
        f"{arm.accepted:,} ({100 * arm.accepted_share:.1f} % accepted)",
        num(arm.rate),
        cpu,
        f"{num(latency.p50_ms, 1)} / {num(latency.p99_ms, 1)}" if latency else "",
        f"{mib(usage.server_peak_pss_kib)} (RSS {mib(usage.server_peak_rss_kib)})",
        num(arm.comparison.mismatches if arm.comparison else None),
        target,
        met,
    )


def batch_rate(result: SizeResult) -> float | None:
    """The end-to-end batched rate of a size, if it ran."""
    arms = result.http.arms if result.http else []
    return next((a.rate for a in arms if a.name == "batch"), None)


def baseline_row(result: SizeResult) -> Row | None:
    """Arm 3's line; its target is skyguard's batched rate over its own."""
    run = result.baseline
    if run is None:
        return None
    usage, batched = run.usage, batch_rate(result)
    postgres = usage.per_report_us(usage.postgres_cpu_s, run.reports)
    client = usage.per_report_us(usage.loadgen_cpu_s, run.reports)
    factor = batched / run.rate if batched is not None and run.rate else None
    return Row(
        f"3 PostGIS baseline: INSERT + ST_Covers per report, {run.connections} conn.",
        result.size.name,
        f"{run.reports:,}",
        num(run.rate),
        f"{num((postgres or 0) + (client or 0))} ({num(postgres)} PG + {num(client)} client)",
        "",
        "",
        num(run.covers.mismatches if run.covers else None),
        f"HTTP batches ≥ {BASELINE_FACTOR:.0f}x this (now {num(factor, 1)}x)",
        factor is not None and factor >= BASELINE_FACTOR,
    )


def external_row(result: SizeResult) -> Row | None:
    """Arm 4's line."""
    run = result.external
    if run is None:
        return None
    if run.skipped:
        return Row(
            "4 external engine", result.size.name, f"skipped: {run.skipped}", "", "", "", "", ""
        )
    return Row(
        "4 external engine",
        result.size.name,
        f"{run.accepted:,}",
        num(run.rate),
        "n/a",
        "",
        "",
        "n/a",
    )


def rows(report: BenchReport) -> list[Row]:
    """Every line of the summary table, size by size, arm by arm."""
    out: list[Row] = []
    for result in report.sizes:
        out += [r for r in (engine_row(result),) if r]
        out += [
            http_row(arm, result.size.name) for arm in (result.http.arms if result.http else [])
        ]
        out += [r for r in (baseline_row(result), external_row(result)) if r]
    return out


def summary(report: BenchReport) -> list[str]:
    """The table."""
    lines = [
        "| arm | workload | reports | reports/s | CPU µs/report | p50 / p99 ms | peak memory | "
        "alert mismatches | target | met? |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows(report):
        lines.append(
            f"| {r.arm} | {r.workload} | {r.reports} | {r.rate} | {r.cpu_us} | {r.latency} "
            f"| {r.rss} | {r.mismatches} | {r.target} | {verdict(r.met)} |"
        )
    return lines
