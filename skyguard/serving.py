"""`skyguard serve --workers N` with N > 1: N uvicorn workers forked from one process that has
built the zone index, each accepting on a listening socket of its own.

Each worker needs the whole zone index: at ten thousand zones, 1.8 million vertices with GEOS's
point locators and the metric frames for distances, about 130 MB beside some 120 MB of imports.
Built in each worker (uvicorn's own `--workers` spawns fresh interpreters), all of it is paid N
times. Here this process imports the app, builds and warms the index (`ZoneIndex.warm`) and
freezes it out of the garbage collector's passes (`settle_heap`, unless FREEZE_HEAP is off; a
full collection in a worker would touch every object's header, copying its page), then forks:
the workers start with the index in pages they share, and each one's own memory is what it
does with them. Everything else is per worker: the lifespan (database pool, background loops)
runs in each.

Each worker binds its own socket to the address with SO_REUSEPORT, so the kernel spreads new
connections over the workers. On one shared socket, the worker that wakes first accepts every
connection waiting: four keep-alive connections opened together all went to one worker (with
uvicorn's supervisor too), which then did all the work while the other idled.

A zone edit makes each worker build its next index itself; zones whose version did not change
keep their shapes (`load_indexed_zones`), and settling the heap then leaves what the worker
shares frozen (`settle_heap(unfreeze=False)`), so those pages stay shared. A worker that dies
is forked again; Ctrl-C or SIGTERM stops the workers (each finishes its requests, up to 5 s)
and then this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI

from skyguard.app import create_app
from skyguard.errors import SkyguardError
from skyguard.settings import Settings
from skyguard.store.db import Database
from skyguard.store.zone_index import ZoneIndexCache, settle_heap

log = logging.getLogger(__name__)

BACKLOG = 2048
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
# A worker that exits sooner than this after it was forked did not start (its port taken, say):
# the server stops rather than forking it again and again.
STARTUP_S = 5.0


def serve_forked(settings: Settings, host: str, port: int, workers: int, log_level: str) -> None:
    """Build the zone index here, fork the workers, and supervise them until told to stop."""
    try:  # before the index is built: a taken port fails at once, in a line. Bound alone, so
        # that a server already running here (its workers in their own SO_REUSEPORT group) is
        # refused too, instead of the two silently sharing the port's connections.
        listening_socket(host, port, shared=False).close()
    except OSError as error:
        raise SkyguardError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    config = uvicorn.Config(
        preloaded_app(settings),
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=5,  # open alert streams must not hold a shutdown
    )
    Supervisor(config, workers).run()


class Supervisor:
    """Forks the workers, forks again any that dies, stops them all on SIGINT or SIGTERM."""

    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self.config = config
        self.workers = workers
        self.children: dict[int, float] = {}  # pid -> when it was forked
        self.stopping = False

    def run(self) -> None:
        """Until every worker has exited after a stop (or one failed to start)."""
        before = {sig: signal.signal(sig, self._stop) for sig in STOP_SIGNALS}
        try:
            self._supervise()
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    def _supervise(self) -> None:
        for _ in range(self.workers):
            self._fork()
        while self.children:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            started = self.children.pop(pid, None)
            if started is None or self.stopping:
                continue
            code = os.waitstatus_to_exitcode(status)
            if time.monotonic() - started < STARTUP_S:
                self._stop(signal.SIGTERM, None)
                self._wait_all()
                raise SkyguardError(f"a worker exited with {code} as it started; see above")
            log.error("worker %d exited with %d; forking another", pid, code)
            self._fork()

    def _fork(self) -> None:
        # a stop signal waits until the new worker is on the list, so that it is stopped too
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                self._work()
            self.children[pid] = time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    def _work(self) -> None:
        """The forked worker: uvicorn on its own socket, then exit (never return)."""
        code = 1
        try:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)  # uvicorn installs its own
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            sock = listening_socket(self.config.host, self.config.port)
            server = uvicorn.Server(self.config)
            server.run(sockets=[sock])
            code = 0 if server.started else 3  # 3: uvicorn's own code for a failed start
        except BaseException:
            log.exception("worker failed")
        finally:
            logging.shutdown()
            os._exit(code)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        """Ask every worker to finish (uvicorn's graceful exit on SIGTERM)."""
        self.stopping = True
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    def _wait_all(self) -> None:
        while self.children:
            try:
                pid, _ = os.wait()
            except ChildProcessError:
                return
            self.children.pop(pid, None)


def listening_socket(host: str, port: int, *, shared: bool = True) -> socket.socket:
    """A worker's own socket on the server's address, in the kernel's SO_REUSEPORT group (or,
    not `shared`, one that only binds where nothing listens)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if shared:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(BACKLOG)
    sock.set_inheritable(False)
    return sock


def preloaded_app(settings: Settings) -> FastAPI:
    """The app with its zone index built, warmed and settled in this process."""
    try:
        built = asyncio.run(_built_index(settings))
    except Exception:  # the workers build it at their first report, as a lone worker does
        log.warning("zone index not built before forking: database unavailable", exc_info=True)
        return create_app(settings)
    built.index.warm()
    if settings.freeze_heap:
        settle_heap()
    zone_index = ZoneIndexCache(
        freeze_heap=settings.freeze_heap,
        index=built.index,
        revision=built.revision,
        forked=True,
    )
    return create_app(settings, zone_index)


async def _built_index(settings: Settings) -> ZoneIndexCache:
    """The zone index as of now, read on a connection closed before returning (no socket may
    be inherited by the workers)."""
    db = Database.connect(settings.sqlalchemy_url(), pool_size=1)
    try:
        built = ZoneIndexCache()
        async with db.session() as session:
            await built.current(session)
        return built
    finally:
        await db.dispose()
