"""A lean HTTP/1.1 keep-alive client over asyncio streams, and a Server-Sent Events reader.

httpx costs too much CPU per request to generate thousands of requests a second on the same
two cores as the server; this client writes a request as one buffer and reads the response by
Content-Length (or chunks), nothing more. Bodies are sent as given (bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

READ_LIMIT = 1 << 22  # header lines and SSE chunks up to 4 MiB


class HttpError(RuntimeError):
    """The server answered with something this client cannot read."""


@dataclass(frozen=True)
class Response:
    """A status code and body."""

    status: int
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def _headers(head: bytes) -> tuple[int, dict[str, str]]:
    """The status code and lower-cased headers of a response head."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise HttpError(f"bad status line {lines[0]!r}")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            fields[name.strip().lower()] = value.strip()
    return int(parts[1]), fields


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """One chunk of a chunked body (empty: the last one)."""
    size_line = await reader.readuntil(b"\r\n")
    size = int(size_line.split(b";", 1)[0], 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


class Connection:
    """One keep-alive connection; reconnects on its next request after a failure.

    A server closes keep-alive connections left idle (uvicorn after 5 s); a request that meets
    such a connection closed before any byte of an answer came is sent again, once, on a new
    connection (`retries` counts those), as HTTP clients do.
    """

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.retries = 0

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, limit=READ_LIMIT
            )
        return self._reader, self._writer

    async def request(self, method: str, path: str, body: bytes = b"") -> Response:
        """Send one request and read its response; the connection is dropped on any error."""
        if self._reader is not None and self._reader.at_eof():
            await self.close()
        reused = self._writer is not None
        try:
            return await self._exchange(method, path, body)
        except (ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError) as exc:
            stale = not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial
            if not (reused and stale):
                raise
        self.retries += 1
        return await self._exchange(method, path, body)

    async def _exchange(self, method: str, path: str, body: bytes) -> Response:
        """Write the request, read the answer."""
        try:
            reader, writer = await self._open()
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._fixed}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            status, fields = _headers(await reader.readuntil(b"\r\n\r\n"))
            content = await self._body(reader, fields)
            if fields.get("connection", "").lower() == "close":
                await self.close()
            return Response(status, content)
        except BaseException:
            await self.close()
            raise

    async def _body(self, reader: asyncio.StreamReader, fields: dict[str, str]) -> bytes:
        if "content-length" in fields:
            return await reader.readexactly(int(fields["content-length"]))
        if fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while chunk := await read_chunk(reader):
                parts.append(chunk)
            await reader.readuntil(b"\r\n")  # the trailer's end
            return b"".join(parts)
        return await reader.read()

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


@dataclass(frozen=True)
class SseEvent:
    """An event as it arrived: perf_counter time, its type and its data parsed as JSON."""

    arrived: float
    type: str
    data: Any


def _frames(buffer: str) -> tuple[list[str], str]:
    """Complete SSE frames in the buffer, and what is left after them."""
    *frames, rest = buffer.replace("\r\n", "\n").split("\n\n")
    return frames, rest


def _event(frame: str, arrived: float) -> SseEvent | None:
    """An event frame parsed, or None for a comment or retry frame."""
    kind, data = "message", []
    for line in frame.split("\n"):
        if line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return SseEvent(arrived, kind, json.loads("\n".join(data))) if data else None


async def sse_events(
    host: str, port: int, path: str, headers: dict[str, str], ready: asyncio.Event
) -> AsyncIterator[SseEvent]:
    """Events of a text/event-stream GET, stamped on arrival; `ready` is set once the stream's
    first bytes (its retry line) came, so the caller knows it is subscribed."""
    reader, writer = await asyncio.open_connection(host, port, limit=READ_LIMIT)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        accept = "Accept: text/event-stream\r\n"
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{accept}{extra}\r\n"
        writer.write(request.encode("latin-1"))
        status, fields = _headers(await reader.readuntil(b"\r\n\r\n"))
        if status != 200 or fields.get("transfer-encoding", "").lower() != "chunked":
            raise HttpError(f"alert stream answered {status} {fields}")
        buffer = ""
        while chunk := await read_chunk(reader):
            arrived = time.perf_counter()
            ready.set()
            frames, buffer = _frames(buffer + chunk.decode())
            for frame in frames:
                event = _event(frame, arrived)
                if event is not None:
                    yield event
    finally:
        writer.close()
