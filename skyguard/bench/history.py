"""Measure the reviewer's history queries on a database of many stored reports (issue 4).

python -m skyguard.bench.history [--reports 10000000] [--seed 7] [--keep] [--reuse]
                                 [--roll-up] [--out FILE.md] [--json FILE]

Generates drones, zones, districts, flights, reports and alerts in SQL on a fresh database
(`skyguard_bench` on the embedded cluster, or SKYGUARD_BENCH_DATABASE_URL), times each reviewer
request through the real app, catches the plans PostgreSQL ran, and writes a Markdown report.
With --roll-up, every closed hour is rolled up for the district statistics first, as the app's
background loop would have done by then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, pool, text

from skyguard.bench import history_facts as facts
from skyguard.bench.history_cases import cases, pick
from skyguard.bench.history_data import CITY_BOX, DataPlan, Progress, generate
from skyguard.bench.history_report import BenchReport, as_json, markdown
from skyguard.bench.history_timing import measure
from skyguard.settings import to_psycopg_url
from skyguard.store.db import Database
from skyguard.store.district_rollup import roll_up_once
from skyguard.store.embedded import EmbeddedPostgres
from skyguard.store.migrate import upgrade

DATABASE = "skyguard_bench"
URL_VARIABLE = "SKYGUARD_BENCH_DATABASE_URL"
GENERATED_BY = "skyguard.bench.history"
# The first drone's notes say how the data was generated (--reuse reads them).
READ_NOTES = text("SELECT notes FROM drones WHERE serial = 'BENCH-00000'")
WRITE_NOTES = text("UPDATE drones SET notes = :notes WHERE serial = 'BENCH-00000'")


class NotEmpty(RuntimeError):
    """The database already holds reports and --reuse was not given."""


@dataclass(frozen=True)
class Options:
    """How big a database to build and how often to time each request."""

    reports: int = 10_000_000
    seed: int = 7
    runs: int = 5
    reuse: bool = False
    roll_up: bool = False


Durations = dict[str, float | None]


def stored_plan(conn: Connection) -> tuple[DataPlan, Durations] | None:
    """The plan a previous run generated this database from, and how long that took."""
    if conn.execute(text("SELECT NOT EXISTS (SELECT FROM positions)")).scalar_one():
        return None
    notes = conn.execute(READ_NOTES).scalar()
    held = json.loads(notes) if notes and notes.startswith("{") else {}
    if held.get("generated_by") != GENERATED_BY:
        raise NotEmpty("the database holds reports this benchmark did not generate")
    plan = DataPlan(held["reports"], held["seed"], datetime.fromisoformat(held["end"]))
    return plan, {name: held.get(name) for name in ("generate_s", "vacuum_analyze_s")}


def describe(plan: DataPlan, durations: Durations | None = None) -> str:
    """The plan (and how long it took) as JSON, kept with the data for --reuse."""
    held = {"reports": plan.reports, "seed": plan.seed, "end": plan.end.isoformat()}
    return json.dumps({"generated_by": GENERATED_BY, **held, **(durations or {})})


def generate_fresh(
    engine: Engine, options: Options, progress: Progress
) -> tuple[DataPlan, Durations]:
    """Generate the data, then VACUUM ANALYZE; the plan and how long each took."""
    plan = DataPlan(options.reports, options.seed, datetime.now(UTC).replace(microsecond=0))
    began = time.perf_counter()
    with engine.connect() as conn:
        generate(conn, plan, progress, notes=describe(plan))
    durations: Durations = {"generate_s": time.perf_counter() - began}
    progress(f"generated in {durations['generate_s']:,.1f} s; VACUUM ANALYZE ...")
    began = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        durations["vacuum_analyze_s"] = time.perf_counter() - began
        conn.execute(WRITE_NOTES, {"notes": describe(plan, durations)})
    return plan, durations


def fill(engine_url: str, options: Options, progress: Progress) -> tuple[DataPlan, Durations, bool]:
    """Generate the data, or find it with --reuse; the plan, durations and whether reused."""
    engine = create_engine(engine_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            held = stored_plan(conn)
        if held is None:
            return (*generate_fresh(engine, options, progress), False)
        if not options.reuse:
            raise NotEmpty("the database holds reports: pass --reuse to time them again")
        progress(f"reusing {held[0].reports:,} reports generated with seed {held[0].seed}")
        return (*held, True)
    finally:
        engine.dispose()


async def roll_up_all(url: str) -> int:
    """Roll up every closed hour not rolled yet, in one tick; how many hours that was."""
    database = Database.connect(url, pool_size=1)
    try:
        done = await roll_up_once(database, datetime.now(UTC), hours_per_tick=1_000_000)
        async with database.session() as session:  # as autovacuum would, given the time
            await session.execute(text("ANALYZE district_hours, district_rollup"))
    finally:
        await database.dispose()
    return len(done.hours)


def run_bench(url: str, options: Options, progress: Progress) -> BenchReport:
    """Migrate, fill, time and explain on the database at `url`; the report."""
    began = time.perf_counter()
    upgrade(url)
    migrate_s = time.perf_counter() - began
    engine_url = to_psycopg_url(url)
    plan, generation, reused = fill(engine_url, options, progress)
    if options.roll_up:
        progress("rolling up the district statistics' hours ...")
        began = time.perf_counter()
        hours = asyncio.run(roll_up_all(url))
        generation["roll_up_s"] = time.perf_counter() - began
        progress(f"rolled up {hours:,} hour(s) in {generation['roll_up_s']:,.1f} s")
    engine = create_engine(engine_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            picks = pick(conn, plan.end)
            partitions = facts.partition_count(conn)
            server, sizes = facts.server(conn), facts.table_sizes(conn)
    finally:
        engine.dispose()
    progress("timing the requests ...")
    timings, server["app_connections"] = asyncio.run(
        measure(url, cases(picks), options.runs, partitions)
    )
    parameters = {
        "reports": plan.reports,
        "seed": plan.seed,
        "since": plan.start.isoformat(),
        "until": plan.end.isoformat(),
        "city_box": ",".join(str(v) for v in CITY_BOX),
        "runs": options.runs,
        "reused": reused,
    }
    generation["migrate_s"] = migrate_s
    return BenchReport(facts.machine(), server, parameters, generation, sizes, partitions, timings)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m skyguard.bench.history",
        description="Time the reviewer's history queries on a generated database "
        f"(`{DATABASE}` on the embedded cluster, or ${URL_VARIABLE}).",
    )
    parser.add_argument("--reports", type=int, default=10_000_000, help="reports to generate")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the data")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per request")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time data already generated")
    parser.add_argument(
        "--roll-up", action="store_true", help="roll up closed hours for district stats first"
    )
    parser.add_argument("--out", type=Path, help="Markdown report here (default: stdout)")
    parser.add_argument("--json", type=Path, help="JSON report here")
    return parser.parse_args(argv)


def write(report: BenchReport, out: Path | None, json_path: Path | None) -> None:
    """The Markdown to --out (or stdout) and the JSON to --json."""
    text_md = markdown(report)
    if out is None:
        print(text_md)
    else:
        out.write_text(text_md + "\n")
    if json_path is not None:
        json_path.write_text(as_json(report) + "\n")


def progress_line(line: str) -> None:
    """Progress goes to stderr, so stdout carries only the report."""
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark on the embedded cluster (or the URL given) and write the report."""
    args = parse_args(argv)
    options = Options(args.reports, args.seed, args.runs, args.reuse, args.roll_up)
    url = os.environ.get(URL_VARIABLE)
    cluster = None if url else EmbeddedPostgres(Path(".skyguard"))
    started = cluster.start() if cluster else False
    try:
        if cluster is not None:
            url = cluster.ensure_database(DATABASE, fresh=not args.reuse)
        assert url is not None
        write(run_bench(url, options, progress_line), args.out, args.json)
    except NotEmpty as error:
        progress_line(f"error: {error}")
        return 2
    finally:
        if cluster is not None and not args.keep:
            cluster.drop_database(DATABASE)
        if cluster is not None and started:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
