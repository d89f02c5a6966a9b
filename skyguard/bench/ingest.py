"""Measure ingest throughput, report-to-alert latency and memory (issue 5): `make bench`.

python -m skyguard.bench.ingest [--sizes S,M] [--full-sizes S] [--seed 7] [--out FILE.md]
                                [--json FILE] [--workers 2] [caps ...] [--keep]

For each workload size (S: 1,000 zones, 1,000 drones, 100,000 reports; M: 10,000, 10,000 and
1,000,000; or NAME:ZONES:DRONES:REPORTS), from one seed: the workload and the oracle's verdicts,
then the arms on the same stream: (1) the engine alone, in a subprocess; (2) skyguard end to
end over HTTP on a fresh database (batches of 1,000; on the full sizes also single-report POSTs
and the open-loop latency runs); (3, full sizes) a PostGIS-only baseline; (4, full sizes) an
external engine at SKYGUARD_BENCH_EXTERNAL_URL, skipped when unset. The databases are created
on the server at SKYGUARD_BENCH_DATABASE_URL (else SKYGUARD_DATABASE_URL, else the embedded
cluster) and dropped afterwards. The report goes to .skyguard/bench/ingest.md and .json and to
stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from skyguard.bench.ingest_baseline import run_baseline
from skyguard.bench.ingest_compare import Comparison, OpenAlert, compare
from skyguard.bench.ingest_e2e import PREFIXES, HttpPlan, run_http
from skyguard.bench.ingest_engine import EngineRun, run_in_subprocess
from skyguard.bench.ingest_external import run_external
from skyguard.bench.ingest_facts import machine, versions
from skyguard.bench.ingest_oracle import Verdicts, breached_pairs, judge
from skyguard.bench.ingest_report import BenchReport, SizeResult
from skyguard.bench.ingest_report_text import as_json, markdown
from skyguard.bench.ingest_server import DatabaseServer
from skyguard.bench.ingest_workload import SIZES, Size, Workload, build_workload, stream_t0
from skyguard.bench.ingest_zones import SWISS_ZIP
from skyguard.store.embedded import EmbeddedPostgres

URL_VARIABLES = ("SKYGUARD_BENCH_DATABASE_URL", "SKYGUARD_DATABASE_URL")
DATABASE = "skyguard_bench_ingest"
OUT_DIR = Path(".skyguard/bench")
ENGINE_PREFIX = "EN"
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    """What to run, on what, how long."""

    sizes: tuple[Size, ...] = (SIZES["S"], SIZES["M"])
    full_sizes: tuple[str, ...] = ("S",)
    seed: int = 7
    http: HttpPlan = field(default_factory=HttpPlan)
    engine_batch: int = 1_000
    engine_runs: int = 3  # on the full sizes; the median run is reported, with the others' rates
    baseline_connections: int = 32
    baseline_cap_s: float = 30.0
    external_cap_s: float = 30.0
    swiss: Path | None = SWISS_ZIP
    database: str = DATABASE
    work_dir: Path = OUT_DIR
    keep: bool = False


def describe(workload: Workload, verdicts: Verdicts) -> dict[str, Any]:
    """The workload's make-up, for the report."""
    props = [z.feature["properties"] for z in workload.zones]
    kinds = Counter(z.kind for z in workload.zones)
    return {
        "zones": len(workload.zones),
        **{k: kinds.get(k, 0) for k in ("simple", "complex", "circle")},
        **{
            c: sum(1 for p in props if p["category"] == c)
            for c in ("prohibited", "restricted", "warning")
        },
        **{r: sum(1 for p in props if p["altitude_ref"] == r) for r in ("AGL", "AMSL")},
        "windows": sum(1 for p in props if "active_from" in p),
        "schedules": sum(1 for p in props if "schedule" in p),
        "buffers": sum(1 for p in props if p.get("warning_buffer_m")),
        "swiss_zones": sum(1 for z in workload.zones if z.source == "swiss"),
        "airport_zones": sum(1 for z in workload.zones if z.source == "airport"),
        "exemptions": len(workload.exemptions),
        "drones": workload.size.drones,
        "visiting_drones": int((workload.target >= 0).sum()),
        "reports": len(workload.stream),
        "span_s": workload.span_s,
        "t0": workload.t0.isoformat(),
        "near_share": verdicts.near_share,
        "inside_share": verdicts.inside_share,
        "breach_share": verdicts.breach_share,
    }


class Phases:
    """Wall time per phase of one size, with a progress line at each start."""

    def __init__(self, size: Size, progress: Progress) -> None:
        self.size, self.progress = size, progress
        self.durations_s: dict[str, float] = {}
        self._name, self._began = "", 0.0

    def next(self, name: str) -> None:
        """Close the running phase and start the next."""
        self.stop()
        self._name, self._began = name, time.perf_counter()
        self.progress(f"[{self.size.name}] {name} ...")

    def stop(self) -> None:
        """Close the running phase."""
        if self._name:
            self.durations_s[self._name] = time.perf_counter() - self._began
            self._name = ""


def plan_for(options: Options, size: Size) -> HttpPlan:
    """Every end-to-end arm on the full sizes, only the batched one on the others."""
    arms = tuple(PREFIXES) if size.name in options.full_sizes else ("batch",)
    return HttpPlan(**{**asdict(options.http), "arms": arms})


def engine_arm(
    options: Options, workload: Workload, verdicts: Verdicts, runs: int = 1
) -> tuple[EngineRun, Comparison, list[float]]:
    """Arm 1 in a subprocess, `runs` times: the run of median rate, its alerts against the
    oracle on every report, and every run's rate (reports/s) in the order run."""
    done = [
        run_in_subprocess(workload, ENGINE_PREFIX, options.engine_batch, options.work_dir)
        for _ in range(max(1, runs))
    ]
    rates = [r.reports / r.wall_s if r.wall_s else 0.0 for r in done]
    run = done[int(np.argsort(rates)[(len(done) - 1) // 2])]
    opens: list[OpenAlert] = [
        (d, z, kind, "crossing" if crossing else "report") for d, z, kind, _, crossing in run.opens
    ]
    everything = np.ones(len(workload.stream), dtype=np.bool_)
    return run, compare(breached_pairs(verdicts, workload, everything), opens), rates


async def run_size(
    options: Options, size: Size, db: DatabaseServer, progress: Progress
) -> SizeResult:
    """Every arm on one workload size."""
    phases = Phases(size, progress)
    phases.next("workload")
    workload = build_workload(size, options.seed, stream_t0(size), options.swiss)
    phases.next("oracle")
    verdicts = judge(workload)
    result = SizeResult(size, describe(workload, verdicts), durations_s=phases.durations_s)
    progress(
        f"    {len(workload.stream):,} reports, {100 * verdicts.near_share:.1f} % near or in a zone"
    )
    phases.next("engine")
    runs = options.engine_runs if size.name in options.full_sizes else 1
    result.engine, result.engine_comparison, result.engine_rates = engine_arm(
        options, workload, verdicts, runs
    )
    rates = ", ".join(f"{rate:,.0f}" for rate in result.engine_rates)
    progress(f"    engine: {result.engine.reports / result.engine.wall_s:,.0f} reports/s ({rates})")
    phases.next("end to end")
    log = options.work_dir / f"server-{size.name}.log"
    name = f"{options.database}_{size.name.lower()}"
    try:
        result.http = await run_http(
            workload, verdicts, plan_for(options, size), db, name, log, progress
        )
    finally:
        if not options.keep:
            db.drop(name)
    if size.name in options.full_sizes:
        await run_full_extras(options, workload, verdicts, db, phases, result)
    phases.stop()
    return result


async def run_full_extras(
    options: Options,
    workload: Workload,
    verdicts: Verdicts,
    db: DatabaseServer,
    phases: Phases,
    result: SizeResult,
) -> None:
    """The baseline and the external engine."""
    phases.next("baseline")
    name = f"{options.database}_baseline"
    try:
        result.baseline = await run_baseline(
            workload, verdicts, db, name, options.baseline_connections, options.baseline_cap_s
        )
    finally:
        if not options.keep:
            db.drop(name)
    phases.progress(f"    baseline: {result.baseline.rate:,.0f} reports/s")
    phases.next("external")
    plan = options.http
    result.external = await run_external(
        workload, plan.batch, plan.batch_connections, options.external_cap_s
    )


async def run_bench(
    options: Options, db: DatabaseServer, progress: Progress, command: str = ""
) -> BenchReport:
    """Every size in turn; the report."""
    began = time.perf_counter()
    started = datetime.now(UTC).replace(microsecond=0).isoformat()
    report = BenchReport(
        command, options.seed, started, machine(), versions(), _options(options), []
    )
    for size in options.sizes:
        report.sizes.append(await run_size(options, size, db, progress))
    report.wall_s = time.perf_counter() - began
    end = machine()
    report.machine["loadavg_end"] = end["loadavg"]
    report.machine["python_loop_ms_end"] = end["python_loop_ms"]
    return report


def _options(options: Options) -> dict[str, Any]:
    body = asdict(options)
    body["sizes"] = [s.name for s in options.sizes]
    return body


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m skyguard.bench.ingest",
        description="Ingest throughput, report-to-alert latency and memory: the engine alone, "
        "skyguard over HTTP, a PostGIS-only baseline, an optional external engine.",
    )
    add = parser.add_argument
    add("--sizes", default="S,M", help="workloads: S, M or NAME:ZONES:DRONES:REPORTS (default S,M)")
    add("--full-sizes", default="S", help="sizes that get every arm; others: engine + HTTP batches")
    add("--seed", type=int, default=7, help="random seed of the workload (default 7)")
    add("--workers", type=int, default=2, help="skyguard serve --workers (default 2)")
    add(
        "--engine-runs",
        type=int,
        default=3,
        help="runs of the engine arm on the full sizes, the median reported (default 3)",
    )
    add("--batch-seconds", type=float, default=60.0, help="cap of the closed-loop batch arm")
    add("--single-seconds", type=float, default=30.0, help="cap of the closed-loop single-POST arm")
    add("--latency-seconds", type=float, default=20.0, help="length of each open-loop arm")
    add("--baseline-seconds", type=float, default=30.0, help="cap of the PostGIS baseline")
    add("--external-seconds", type=float, default=30.0, help="cap of the external engine arm")
    add("--batch-connections", type=int, default=4, help="connections posting batches")
    add("--single-connections", type=int, default=32, help="connections posting single reports")
    add("--baseline-connections", type=int, default=32, help="connections of the baseline")
    add(
        "--swiss", type=Path, default=SWISS_ZIP, help="the Swiss ED-318 zip (absent: airports only)"
    )
    add(
        "--database",
        default=DATABASE,
        help=f"name prefix of the databases made (default {DATABASE})",
    )
    add("--keep", action="store_true", help="keep the databases afterwards")
    add("--out", type=Path, default=OUT_DIR / "ingest.md", help="Markdown report")
    add("--json", type=Path, default=OUT_DIR / "ingest.json", help="JSON report")
    return parser.parse_args(argv)


def options_of(args: argparse.Namespace) -> Options:
    """Options from the command line."""
    http = HttpPlan(
        workers=args.workers,
        batch_connections=args.batch_connections,
        single_connections=args.single_connections,
        batch_cap_s=args.batch_seconds,
        single_cap_s=args.single_seconds,
        latency_s=args.latency_seconds,
    )
    return Options(
        sizes=tuple(Size.parse(s) for s in args.sizes.split(",") if s),
        full_sizes=tuple(s.split(":")[0] for s in args.full_sizes.split(",") if s),
        seed=args.seed,
        http=http,
        engine_runs=args.engine_runs,
        baseline_connections=args.baseline_connections,
        baseline_cap_s=args.baseline_seconds,
        external_cap_s=args.external_seconds,
        swiss=args.swiss,
        database=args.database,
        work_dir=args.out.parent,
        keep=args.keep,
    )


def progress_line(line: str, began: float = time.perf_counter()) -> None:
    """Progress to stderr, stamped with the minutes since start; stdout carries the report."""
    print(f"{(time.perf_counter() - began) / 60:5.1f} min  {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run on the database server given (or the embedded cluster) and write the report."""
    args = parse_args(argv)
    options = options_of(args)
    command = "python -m skyguard.bench.ingest " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    url = next((os.environ[v] for v in URL_VARIABLES if os.environ.get(v)), None)
    cluster = None if url else EmbeddedPostgres(Path(".skyguard"))
    started = cluster.start() if cluster else False
    try:
        db = DatabaseServer(url or cluster.url("postgres"))  # type: ignore[union-attr]
        report = asyncio.run(run_bench(options, db, progress_line, command.strip()))
    finally:
        if cluster is not None and started:
            cluster.stop()
    text = markdown(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(as_json(report) + "\n")
    print(text)
    progress_line(f"report written to {args.out} and {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
