"""Load generation: closed-loop (N connections, each sends its next request when the last one is
answered) and open-loop (requests leave on a fixed schedule whatever the answers do).

Open loop corrects for coordinated omission: each request keeps its *intended* send time from
the schedule, and latencies count from it, so a request that waited for a free connection
because the server was slow is charged for the wait.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from skyguard.bench.ingest_http import Connection

REQUEST_TIMEOUT_S = 60.0
Request = tuple[np.ndarray, bytes]  # the stream indexes of its reports, and its body


@dataclass
class Sent:
    """One request: its reports, when it was meant to leave, left, and was answered."""

    indexes: np.ndarray
    intended: float
    sent: float
    done: float = 0.0
    status: int = 0  # 0: no answer (connection error or timeout)
    accepted: int = 0
    rejected: list[int] = field(default_factory=list)  # positions within the request
    error: str | None = None


def read_answer(sent: Sent, status: int, body: bytes) -> None:
    """Record the status and what the telemetry answer says was accepted or rejected."""
    sent.status = status
    if not 200 <= status < 300:
        sent.error = body[:300].decode(errors="replace")
        sent.rejected = list(range(len(sent.indexes)))
        return
    try:
        answer = json.loads(body)
    except ValueError:
        answer = {}
    if not isinstance(answer, dict) or "accepted" not in answer:  # an external engine's answer
        sent.accepted = len(sent.indexes)
        return
    sent.accepted = int(answer["accepted"])
    sent.rejected = [int(r["index"]) for r in answer.get("rejected", [])]


async def send(connection: Connection, path: str, request: Request, intended: float) -> Sent:
    """Send one request and read its answer; failures are recorded, not raised."""
    indexes, body = request
    sent = Sent(indexes, intended, time.perf_counter())
    try:
        response = await asyncio.wait_for(connection.request("POST", path, body), REQUEST_TIMEOUT_S)
        read_answer(sent, response.status, response.body)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        sent.error = f"{type(exc).__name__}: {exc}"
        sent.rejected = list(range(len(indexes)))
    sent.done = time.perf_counter()
    return sent


async def closed_loop(
    connections: Sequence[Connection], path: str, lanes: Sequence[Iterator[Request]], cap_s: float
) -> tuple[list[Sent], float]:
    """Connection k sends lane k's requests in order, each as soon as the last is answered,
    until its lane runs out or `cap_s` passed (requests in flight then are finished); all
    requests and the wall seconds from the first send to the last answer."""
    done: list[Sent] = []
    began = time.perf_counter()
    deadline = began + cap_s

    async def worker(connection: Connection, lane: Iterator[Request]) -> None:
        for request in lane:
            done.append(await send(connection, path, request, time.perf_counter()))
            if time.perf_counter() >= deadline:
                return

    await asyncio.gather(*(worker(c, lane) for c, lane in zip(connections, lanes, strict=True)))
    return done, time.perf_counter() - began


async def open_loop(
    connections: Sequence[Connection],
    path: str,
    schedule: Sequence[tuple[float, int, Request]],
    give_up_s: float,
) -> list[Sent]:
    """Send each (offset, lane, request) at its offset (seconds from now) on its lane's
    connection; a request whose lane is still busy waits, and its latency still counts from
    the plan. A request still waiting `give_up_s` after the start is not sent (it is listed,
    unanswered, with the error "not sent")."""
    queues: list[asyncio.Queue[tuple[float, Request] | None]] = [
        asyncio.Queue() for _ in connections
    ]
    done: list[Sent] = []

    async def worker(
        connection: Connection, queue: asyncio.Queue[tuple[float, Request] | None]
    ) -> None:
        while (item := await queue.get()) is not None:
            if time.perf_counter() - began > give_up_s:
                indexes = item[1][0]
                done.append(Sent(indexes, item[0], 0.0, rejected=list(range(len(indexes)))))
                done[-1].error = "not sent: the server fell too far behind the schedule"
                continue
            done.append(await send(connection, path, item[1], item[0]))

    began = time.perf_counter()
    workers = [asyncio.create_task(worker(c, q)) for c, q in zip(connections, queues, strict=True)]
    for offset, lane, request in schedule:
        delay = began + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queues[lane].put_nowait((began + offset, request))
    for queue in queues:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return done


def lanes_of(drones: np.ndarray, count: int) -> list[np.ndarray]:
    """The stream indexes split into `count` lanes by drone, each in stream order: every
    drone's reports go down one lane, so a drone never has two requests in flight."""
    return [np.flatnonzero(drones % count == lane) for lane in range(count)]


def schedule_of(
    lanes: Sequence[Sequence[np.ndarray]], rate: float
) -> list[tuple[float, int, np.ndarray]]:
    """An open-loop plan: every lane's requests (index arrays) in stream order of their first
    report, each due when the reports before it at `rate` a second have gone."""
    plan = sorted((int(r[0]), lane, r) for lane, requests in enumerate(lanes) for r in requests)
    out, sent = [], 0
    for _, lane, indexes in plan:
        out.append((sent / rate, lane, indexes))
        sent += len(indexes)
    return out


def accepted_indexes(sent: Sequence[Sent]) -> np.ndarray:
    """The stream indexes of every report the server accepted."""
    kept = [
        np.delete(s.indexes, s.rejected) if s.rejected else s.indexes
        for s in sent
        if s.accepted > 0
    ]
    return np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)


def batches(indexes: np.ndarray, size: int) -> Iterator[np.ndarray]:
    """Consecutive slices of `size` indexes."""
    for start in range(0, len(indexes), size):
        yield indexes[start : start + size]
