"""The `skyguard` command: serve, migrate, keys, fixtures, retention, db."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.errors import SkyguardError
from skyguard.settings import Settings
from skyguard.store.db import Database
from skyguard.store.embedded import EmbeddedPostgres

EPILOG = (
    "With SKYGUARD_DATABASE_URL unset, every command uses the embedded PostgreSQL + PostGIS "
    "cluster under SKYGUARD_DATA_DIR (default ./.skyguard), starting it when needed and "
    "stopping it again if it started it."
)


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    """The database URL for the duration of a command (embedded cluster started if needed)."""
    with database_started(settings) as (url, _):
        yield url


@contextmanager
def database_started(settings: Settings) -> Iterator[tuple[str, bool]]:
    """The database URL, and whether this command started the embedded cluster (and will
    stop it at the end)."""
    if settings.database_url:
        yield settings.database_url, False
        return
    cluster = EmbeddedPostgres(settings.data_dir)
    started = cluster.start()
    try:
        yield cluster.ensure_database("skyguard"), started
    finally:
        if started:
            cluster.stop()


def run_in_session(url: str, work: Callable[[AsyncSession], Coroutine[Any, Any, Any]]) -> Any:
    """Run `work` in one committed session."""

    async def main() -> Any:
        db = Database.connect(url, pool_size=1)
        try:
            async with db.session() as session:
                return await work(session)
        finally:
            await db.dispose()

    return asyncio.run(main())


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    """Migrate if asked, then serve the API: uvicorn, or with --workers N > 1, N uvicorn
    workers forked from this process once it has built the zone index."""
    import uvicorn

    from skyguard.store.migrate import is_at_head, upgrade

    with database_started(settings) as (url, cluster_started):
        if args.migrate or args.bootstrap:
            upgrade(url)
        elif not is_at_head(url):
            raise SkyguardError("the database is not migrated: run `skyguard migrate` first")
        if args.bootstrap:
            bootstrap(url)
        os.environ["SKYGUARD_DATABASE_URL"] = url
        print(f"skyguard serving on http://{args.host}:{args.port} (docs at /docs)", flush=True)
        if args.workers > 1:
            # Workers forked from this process once it has built the zone index (shared pages).
            from skyguard.serving import serve_forked

            serve_forked(Settings(), args.host, args.port, args.workers, args.log_level)
            return
        if not cluster_started:
            # Nothing to clean up afterwards: become uvicorn itself, so the serving process
            # does not keep this command's imports (about 100 MB).
            os.execv(sys.executable, uvicorn_argv(args))  # noqa: S606 - our own interpreter
        uvicorn.run(
            "skyguard.app:from_environment",
            factory=True,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            timeout_graceful_shutdown=5,  # open alert streams must not hold a shutdown
        )


def uvicorn_argv(args: argparse.Namespace) -> list[str]:
    """uvicorn's own command line for the app, as `serve` would run it in-process."""
    return [
        sys.executable, "-m", "uvicorn", "skyguard.app:from_environment", "--factory",
        "--host", str(args.host), "--port", str(args.port),
        "--log-level", str(args.log_level), "--timeout-graceful-shutdown", "5",
    ]  # fmt: skip


def bootstrap(url: str) -> None:
    """Load the demo fixtures and make sure an admin key exists (printed once when new)."""
    from skyguard.fixtures import load_fixtures, read_fixtures
    from skyguard.store.keys import count_keys, create_key

    data = read_fixtures()

    async def work(session: AsyncSession) -> tuple[dict[str, int], str | None]:
        counts = await load_fixtures(session, data)
        if await count_keys(session, "admin") > 0:
            return counts, None
        return counts, (await create_key(session, role="admin", name="make run")).secret

    counts, secret = run_in_session(url, work)
    print("fixtures loaded: " + ", ".join(f"{n} new {k}" for k, n in counts.items()))
    if secret:
        print(f"\nadmin API key (shown once, store it now):\n  {secret}\n", flush=True)
    else:
        print("an admin key exists already; `skyguard keys create --role admin` issues another")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    """Apply every pending migration."""
    from skyguard.store.migrate import head_revision, upgrade

    with database(settings) as url:
        upgrade(url)
        print(f"database at migration {head_revision()}")


def cmd_keys_create(args: argparse.Namespace, settings: Settings) -> None:
    """Issue an API key and print it once."""
    from skyguard.store.keys import count_keys, create_key

    async def work(session: AsyncSession) -> str | None:
        if args.if_none and await count_keys(session, args.role) > 0:
            return None
        issued = await create_key(session, role=args.role, name=args.name)
        return issued.secret

    with database(settings) as url:
        secret = run_in_session(url, work)
    if secret is None:
        print(f"an {args.role} key exists already; `skyguard keys create` issues another")
    else:
        print(f"{args.role} key {args.name!r} (shown once, store it now):\n  {secret}")


def cmd_fixtures_load(args: argparse.Namespace, settings: Settings) -> None:
    """Load the demo fixtures (what is already there is kept)."""
    from skyguard.fixtures import load_fixtures, read_fixtures

    data = read_fixtures(Path(args.file))
    with database(settings) as url:
        counts = run_in_session(url, lambda s: load_fixtures(s, data))
    print("fixtures loaded: " + ", ".join(f"{n} {k}" for k, n in counts.items()))


def cmd_retention(args: argparse.Namespace, settings: Settings) -> None:
    """Drop the days of reports older than the retention."""
    from skyguard.store.partitions import apply_retention

    days = args.days if args.days is not None else settings.retention_days
    if days is None:
        print("no retention: set SKYGUARD_RETENTION_DAYS or pass --days")
        return

    async def work(url: str) -> list[str]:
        db = Database.connect(url, pool_size=1)
        try:
            return await apply_retention(db, timedelta(days=days), datetime.now(UTC))
        finally:
            await db.dispose()

    with database(settings) as url:
        dropped = asyncio.run(work(url))
    print(
        f"dropped {len(dropped)} day(s) of reports" + (f": {', '.join(dropped)}" if dropped else "")
    )


def cmd_db(args: argparse.Namespace, settings: Settings) -> None:
    """Start, stop or show the embedded cluster."""
    cluster = EmbeddedPostgres(settings.data_dir)
    if args.action == "start":
        cluster.start()
        print(cluster.ensure_database("skyguard"))
    elif args.action == "stop":
        cluster.stop()
        print("stopped")
    else:
        running = cluster.is_running()
        print(f"{'running' if running else 'stopped'}: {cluster.pgdata} ({cluster.url()})")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand and its --help."""
    from skyguard.fixtures import DEMO

    parser = argparse.ArgumentParser(
        prog="skyguard", description="Drone no-fly-zone geofence alerting.", epilog=EPILOG
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API", epilog=EPILOG)
    serve.add_argument(
        "--host", default=None, help="bind address (default SKYGUARD_HOST or 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=None, help="port (default SKYGUARD_PORT or 8000)"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes (default 1); with more, they are forked from this process once "
        "it has built the zone index, which they then share, and each accepts connections on "
        "its own socket (SO_REUSEPORT)",
    )
    serve.add_argument("--migrate", action="store_true", help="apply pending migrations first")
    serve.add_argument(
        "--bootstrap",
        action="store_true",
        help="migrate, load the demo fixtures and create an admin key if none exists (make run)",
    )
    serve.add_argument("--log-level", default="info", help="uvicorn log level")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply pending database migrations", epilog=EPILOG)
    migrate.set_defaults(func=cmd_migrate)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys", required=True)
    create = keys.add_parser("create", help="issue an API key and print it once", epilog=EPILOG)
    create.add_argument(
        "--role", required=True, choices=["admin", "operator", "integrator", "reviewer"]
    )
    create.add_argument("--name", required=True, help="who or what the key is for")
    create.add_argument(
        "--if-none", action="store_true", help="only if no key with this role exists"
    )
    create.set_defaults(func=cmd_keys_create)

    fixtures = sub.add_parser("fixtures", help="demo data").add_subparsers(
        dest="fixtures", required=True
    )
    load = fixtures.add_parser(
        "load", help="load the demo zones, exemption and drones", epilog=EPILOG
    )
    load.add_argument("--file", default=str(DEMO), help=f"fixture file (default {DEMO})")
    load.set_defaults(func=cmd_fixtures_load)

    retention = sub.add_parser(
        "retention",
        help="drop stored reports older than the retention, a whole UTC day at a time",
        epilog=EPILOG,
    )
    retention.add_argument(
        "--days",
        type=float,
        default=None,
        help="keep this many days (default SKYGUARD_RETENTION_DAYS)",
    )
    retention.set_defaults(func=cmd_retention)

    db = sub.add_parser("db", help="control the embedded PostgreSQL + PostGIS cluster")
    db.add_argument("action", choices=["start", "stop", "status"])
    db.set_defaults(func=cmd_db)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `skyguard` console script."""
    args = build_parser().parse_args(argv)
    settings = Settings()
    if getattr(args, "host", "unset") is None:
        args.host = settings.host
    if getattr(args, "port", "unset") is None:
        args.port = settings.port
    try:
        args.func(args, settings)
    except SkyguardError as exc:
        print(f"skyguard: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
