"""The embedded default: a private PostgreSQL + PostGIS cluster under the data directory.

Started when SKYGUARD_DATABASE_URL is unset. It listens on a Unix socket only, is reused across
runs, and runs as an unprivileged system user when we are root (PostgreSQL refuses root).
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from skyguard.errors import DatabaseUnavailable

DB_ROLE = "skyguard"
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.5432"


def find_bindir() -> Path:
    """The newest PostgreSQL server binaries on this machine that have PostGIS beside them."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    for pg_ctl in candidates:
        major = Path(pg_ctl).parts[-3]
        if Path(f"/usr/share/postgresql/{major}/extension/postgis.control").exists():
            return Path(pg_ctl).parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise DatabaseUnavailable(
        "no PostgreSQL server with PostGIS found: install postgresql and postgis "
        "(make run does), or set SKYGUARD_DATABASE_URL"
    )


@dataclass(frozen=True)
class RunAs:
    """The system user that owns and runs the cluster."""

    name: str
    uid: int
    gid: int


def database_user() -> RunAs | None:
    """None when we are not root; otherwise postgres, or a skyguard system user we create."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "skyguard"):
        try:
            entry = pwd.getpwnam(name)
            return RunAs(name, entry.pw_uid, entry.pw_gid)
        except KeyError:
            continue
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "skyguard"],
        check=True,
    )
    entry = pwd.getpwnam("skyguard")
    return RunAs("skyguard", entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    """A cluster in `data_dir`, started on demand and stopped by whoever started it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.bindir = find_bindir()
        self.user = database_user()
        self.home = self._cluster_home()
        self.pgdata = self.home / "pgdata"
        self.socket_dir = self._socket_dir()
        self.logfile = self.home / "postgres.log"

    def _cluster_home(self) -> Path:
        """The data dir itself, unless the database user cannot reach it (say, under /root)."""
        if self.user is None or _reachable_by(self.data_dir, self.user):
            return self.data_dir
        digest = hashlib.sha1(str(self.data_dir).encode()).hexdigest()[:12]  # noqa: S324
        return Path(f"/var/tmp/skyguard-{digest}")  # noqa: S108

    def _socket_dir(self) -> Path:
        run = self.home / "run"
        if len(str(run)) <= SOCKET_PATH_MAX:
            return run
        digest = hashlib.sha1(str(run).encode()).hexdigest()[:12]  # noqa: S324
        return Path(f"/tmp/skyguard-{digest}")  # noqa: S108

    def url(self, database: str = "skyguard") -> str:
        """The SQLAlchemy URL of a database in this cluster."""
        return f"postgresql+psycopg://{DB_ROLE}@/{database}?host={self.socket_dir}"

    def is_running(self) -> bool:
        """Whether a postmaster serves this cluster now."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        status = self._run(["pg_ctl", "status", "-D", str(self.pgdata)], check=False)
        return status.returncode == 0

    def start(self) -> bool:
        """Initialise if needed and start; True when this call started it."""
        self._prepare_dirs()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        if self.is_running():
            return False
        options = f"-c listen_addresses='' -c unix_socket_directories='{self.socket_dir}'"
        self._run(
            [
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.logfile),
                "-o",
                options,
            ]
        )
        return True

    def stop(self) -> None:
        """Stop the cluster cleanly (fast shutdown: sessions end, data is flushed)."""
        if self.is_running():
            self._run(["pg_ctl", "stop", "-w", "-m", "fast", "-D", str(self.pgdata)])

    def ensure_database(self, name: str, *, fresh: bool = False) -> str:
        """Create the database (dropping it first when fresh) and return its URL."""
        import psycopg

        dsn = f"host={self.socket_dir} user={DB_ROLE} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            if fresh:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database of this cluster, ending its sessions."""
        import psycopg

        dsn = f"host={self.socket_dir} user={DB_ROLE} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _prepare_dirs(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for directory in (self.home, self.socket_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if self.user is not None:
                os.chown(directory, self.user.uid, self.user.gid)

    def _initdb(self) -> None:
        self._run(
            [
                "initdb",
                "-D",
                str(self.pgdata),
                "-U",
                DB_ROLE,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )

    def _run(self, argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.uid, "group": self.user.gid, "extra_groups": []}
        result = subprocess.run(  # type: ignore[call-overload]
            command, capture_output=True, text=True, cwd="/", check=False, **kwargs
        )
        if check and result.returncode != 0:
            raise DatabaseUnavailable(
                f"{argv[0]} failed ({result.returncode}): {result.stderr.strip() or result.stdout}"
                f"; see {self.logfile}"
            )
        return result  # type: ignore[no-any-return]


def _reachable_by(path: Path, user: RunAs) -> bool:
    """Whether every existing ancestor of path lets the user traverse it."""
    for ancestor in [path, *path.parents]:
        if not ancestor.exists():
            continue
        info = ancestor.stat()
        if info.st_uid == user.uid:
            mode_ok = info.st_mode & 0o100
        elif info.st_gid == user.gid:
            mode_ok = info.st_mode & 0o010
        else:
            mode_ok = info.st_mode & 0o001
        if not mode_ok:
            return False
    return True
