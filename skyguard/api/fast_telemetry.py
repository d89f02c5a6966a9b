"""POST /v1/telemetry's common case without the framework's routing in between.

A one-report POST is the service's hottest request, and the router, the request object and the
endpoint machinery cost several times what the route itself does. This pure ASGI middleware
answers the common case itself: an integrator's key, a JSON body of declared length up to
32 kB, no Idempotency-Key, few enough reports to join a group commit. It answers exactly as the
route does (skyguard.api.telemetry, which stays the one documented in OpenAPI). Anything else,
and any failure before the reports are handed over, goes on to the route with the body replayed,
so the route's errors (401, 403, 413, 422, 503) are the only ones a client sees; a group
commit that failed (rolled back) is tried once more by the route, which answers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skyguard.api.deps import bearer_secret
from skyguard.api.problems import problem, status_of
from skyguard.api.telemetry import answer_of, reports_of
from skyguard.errors import SkyguardError
from skyguard.ingest.coalesce import IngestQueue
from skyguard.settings import Settings
from skyguard.store.db import Database
from skyguard.store.keys import CallerCache

PATH = "/v1/telemetry"
ROLES = ("admin", "integrator")
# A larger body is a batch bound for the route (over SKYGUARD_GROUP_COMMIT_REPORTS reports, most
# likely): it goes there unread, rather than parsed here and again there.
SMALL_BODY_BYTES = 32_768


@dataclass
class FastPathCounts:
    """How many telemetry POSTs this process answered here, and how many it passed on."""

    answered: int = 0
    passed_on: int = 0


class TelemetryFastPath:
    """Pure ASGI middleware: the common telemetry POST answered here, all else passed on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: Settings = state.settings
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"")
        queue: IngestQueue | None = getattr(state, "ingest_queue", None)
        if (
            queue is None
            or b"idempotency-key" in headers
            or not length.isdigit()
            or int(length) > min(settings.max_body_bytes, SMALL_BODY_BYTES)
        ):
            if queue is not None:
                state.telemetry_fast_path.passed_on += 1
            await self.app(scope, receive, send)
            return
        counts: FastPathCounts = state.telemetry_fast_path
        body, more = await _read(receive, int(length))
        answer = None if more is not None else await _ingest(state, settings, queue, headers, body)
        if answer is None:
            counts.passed_on += 1
            await self.app(scope, _replay(body, more, receive), send)
            return
        counts.answered += 1
        await answer(scope, receive, send)


async def _read(receive: Receive, length: int) -> tuple[bytes, Message | None]:
    """The body, read up to its declared length; and the message that went past it, if any
    (a client sending more than it declared: the route deals with it)."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), message
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        if size > length:
            return b"".join(parts), {"type": "http.request", "body": b"", "more_body": False}
        if not message.get("more_body", False):
            return b"".join(parts), None


def _replay(body: bytes, more: Message | None, receive: Receive) -> Receive:
    """A receive() that gives the body read already, then carries on with the client's."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": more is not None}]
    if more is not None:
        pending.append(more)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _ingest(
    state: Any, settings: Settings, queue: IngestQueue, headers: dict[bytes, bytes], body: bytes
) -> JSONResponse | None:
    """The route's answer to this request, or None to leave the request to the route."""
    secret = bearer_secret(headers.get(b"authorization", b"").decode("latin-1"))
    if secret is None:
        return None
    callers: CallerCache = state.callers
    database: Database = state.db
    try:
        caller = await callers.find(database.session, secret)
        if caller is None or caller.role not in ROLES:
            return None
        raws, is_batch = reports_of(body, settings.max_batch_reports)
    except Exception:  # the route answers it, with its own error
        return None
    if len(raws) > settings.group_commit_reports:
        return None
    try:
        result = await queue.submit(raws)
    except Exception:  # its transaction rolled back: the route tries again, and answers
        return None
    try:
        return JSONResponse(answer_of(result, is_batch))
    except SkyguardError as error:
        status, kind = status_of(error)
        return problem(status, error.detail, kind=kind, pointer=error.pointer, **error.extra)
