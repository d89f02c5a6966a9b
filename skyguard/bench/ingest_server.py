"""The end-to-end arm's service: a fresh database, `skyguard migrate`, keys from `skyguard keys
create`, and `skyguard serve --workers N` as a subprocess, each through the real command line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from skyguard.bench.ingest_http import Connection
from skyguard.bench.ingest_proc import children, cpu_s
from skyguard.settings import to_psycopg_url

# Replayed report times trail the wall clock by minutes in later arms. With the default 60 s
# silence timeout (and 120 s flight gap) the background tick would close every drone's alerts
# and flights each second, to be reopened by its next report: work a live service never does.
# Neither setting changes a verdict on 1 Hz tracks, whose reports are 1 s apart.
SERVER_ENV = {"SKYGUARD_SILENCE_TIMEOUT_S": "3600", "SKYGUARD_FLIGHT_GAP_S": "3600"}
READY_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class DatabaseServer:
    """A PostgreSQL + PostGIS server the bench may create databases on."""

    url: str  # a SQLAlchemy URL of any database on it

    def url_of(self, database: str) -> str:
        """The SQLAlchemy (psycopg) URL of a database on this server."""
        url = make_url(to_psycopg_url(self.url)).set(database=database)
        return url.render_as_string(hide_password=False)

    def dsn_of(self, database: str) -> str:
        """A libpq connection string for a database on this server."""
        url = make_url(self.url).set(drivername="postgresql", database=database)
        return url.render_as_string(hide_password=False)

    def recreate(self, database: str) -> str:
        """Drop the database if it exists, create it with synchronous commit on; its URL."""
        with psycopg.connect(self.dsn_of("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{database}"')
            conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = on')
        return self.url_of(database)

    def drop(self, database: str) -> None:
        """Drop the database, ending its sessions."""
        with psycopg.connect(self.dsn_of("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def skyguard_command(url: str, *args: str) -> str:
    """Run `skyguard ARGS` against the database at `url`; its standard output."""
    env = {**os.environ, "SKYGUARD_DATABASE_URL": url}
    command = [sys.executable, "-m", "skyguard.cli", *args]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"skyguard {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout


def issue_key(url: str, role: str) -> str:
    """A new API key of a role, from `skyguard keys create` (it prints the secret last)."""
    out = skyguard_command(url, "keys", "create", "--role", role, "--name", f"bench {role}")
    return out.strip().splitlines()[-1].strip()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """`skyguard serve` running as our subprocess."""

    process: subprocess.Popen[bytes]
    port: int
    workers: int
    log: Path
    host: str = "127.0.0.1"
    started: float = field(default_factory=time.perf_counter)

    def pids(self) -> list[int]:
        """The serving process and all its descendants (its workers)."""
        return [self.process.pid, *children(self.process.pid)]

    def stop(self) -> None:
        """SIGINT (the server stops its workers and exits), then SIGKILL to each of our
        processes if needed."""
        pids = self.pids()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_server(url: str, workers: int, log: Path) -> Server:
    """`skyguard serve --workers N` on a free port, logging to `log`."""
    port = free_port()
    env = {**os.environ, "SKYGUARD_DATABASE_URL": url, **SERVER_ENV}
    command = [
        sys.executable, "-m", "skyguard.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--log-level", "warning",
    ]  # fmt: skip
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    return Server(process, port, workers, log)


async def wait_ready(server: Server, timeout_s: float = READY_TIMEOUT_S) -> float:
    """Until /readyz answers 200 and the workers are all up and idle (each builds the zone index
    before it serves); the seconds that took."""
    connection = Connection(server.host, server.port)
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"skyguard serve exited ({server.process.returncode}); see {server.log}"
            )
        try:
            if (await connection.request("GET", "/readyz")).status == 200 and await _idle(server):
                await connection.close()
                return time.perf_counter() - server.started
        except OSError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"skyguard serve not ready after {timeout_s:.0f} s; see {server.log}")


async def _idle(server: Server) -> bool:
    """All workers exist and used under 10 % of a core over the last half second."""
    pids = children(server.process.pid) if server.workers > 1 else [server.process.pid]
    if len(pids) < server.workers:
        return False
    before = [cpu_s(pid) or 0.0 for pid in pids]
    await asyncio.sleep(0.5)
    after = [cpu_s(pid) or 0.0 for pid in pids]
    return all(b - a < 0.05 for a, b in zip(before, after, strict=True))
