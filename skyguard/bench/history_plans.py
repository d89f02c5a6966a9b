"""The plans PostgreSQL ran for each timed request, caught with auto_explain and summed up.

auto_explain is loaded into the app's own engine (every new connection LOADs it, which takes a
superuser) and logs each statement's EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) at NOTICE level,
so the plans come back to this process on the connection that ran them: the exact SQL,
parameters and connection settings the app used, not a copy of them.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

AUTO_EXPLAIN = (
    "auto_explain.log_min_duration = 0",
    "auto_explain.log_analyze = on",
    "auto_explain.log_buffers = on",
    "auto_explain.log_format = json",
    "auto_explain.log_level = notice",
)
PARTITION = re.compile(r"positions_\d{8}")
LARGE = ("positions_<day>", "flights", "alerts")  # a sequential scan of these is not "indexed"


@asynccontextmanager
async def explaining(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """While open, the engine's fresh connections explain every statement into the list."""
    notices: list[str] = []

    def load(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("LOAD 'auto_explain'")
        for setting in AUTO_EXPLAIN:
            cursor.execute(f"SET {setting}")
        cursor.close()
        dbapi_connection.commit()  # a rolled-back SET would be undone
        dbapi_connection.driver_connection.add_notice_handler(
            lambda diagnostic: notices.append(diagnostic.message_primary or "")
        )

    event.listen(engine.sync_engine, "connect", load)
    await engine.dispose()  # pooled connections predate the listener
    try:
        yield notices
    finally:
        event.remove(engine.sync_engine, "connect", load)
        await engine.dispose()


@dataclass
class Statement:
    """One statement's plan, summed up."""

    duration_ms: float
    query: str
    rows: int
    index_scans: dict[str, list[int]] = field(default_factory=dict)  # name: [nodes, loops]
    seq_scans: dict[str, list[int]] = field(default_factory=dict)  # relation: [nodes, rows]
    partitions_planned: list[str] = field(default_factory=list)
    partitions_read: list[str] = field(default_factory=list)
    shared_hit_blocks: int = 0
    shared_read_blocks: int = 0
    jit_ms: float | None = None
    plan: dict[str, Any] | None = None


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _short(name: str) -> str:
    return PARTITION.sub("positions_<day>", name)


def _jit_ms(document: dict[str, Any]) -> float | None:
    jit = document.get("JIT")
    if not jit:
        return None
    total = jit.get("Timing", {}).get("Total")
    return float(total.get("Time", 0.0) if isinstance(total, dict) else total or 0.0)


def _scan(statement: Statement, node: dict[str, Any]) -> None:
    kind, index = node["Node Type"], node.get("Index Name")
    relation = node.get("Relation Name") or ""
    loops, rows = int(node.get("Actual Loops", 0)), int(node.get("Actual Rows", 0))
    for name in (relation, index or ""):
        if match := PARTITION.match(name):
            statement.partitions_planned.append(match.group(0))
            if loops:
                statement.partitions_read.append(match.group(0))
    if index:
        held = statement.index_scans.setdefault(f"{kind} {_short(index)}", [0, 0])
        held[0], held[1] = held[0] + 1, held[1] + loops
    elif kind == "Seq Scan":
        held = statement.seq_scans.setdefault(_short(relation), [0, 0])
        held[0], held[1] = held[0] + 1, held[1] + rows * max(loops, 1)


def parse_notice(message: str) -> Statement | None:
    """An auto_explain notice as a Statement; None for any other notice."""
    head, _, body = message.partition("plan:\n")
    found = re.match(r"duration: ([\d.]+) ms", head)
    if not found or not body:
        return None
    document = json.loads(body)
    top = document["Plan"]
    statement = Statement(
        duration_ms=float(found.group(1)),
        query=" ".join(document.get("Query Text", "").split())[:300],
        rows=int(top.get("Actual Rows", 0)),
        shared_hit_blocks=int(top.get("Shared Hit Blocks", 0)),
        shared_read_blocks=int(top.get("Shared Read Blocks", 0)),
        jit_ms=_jit_ms(document),
        plan=document,
    )
    for node in _nodes(top):
        _scan(statement, node)
    statement.partitions_planned = sorted(set(statement.partitions_planned))
    statement.partitions_read = sorted(set(statement.partitions_read))
    return statement


@dataclass
class PlanSummary:
    """The plans of one request: its slowest statement in full, the others in brief."""

    main: Statement
    others: list[Statement]
    positions_partitions: int
    index_driven: bool

    def describe(self) -> str:
        """The main statement's access paths in one line of Markdown."""
        main = self.main
        parts = [f"{name} x{n} ({loops:,} loops)" for name, (n, loops) in main.index_scans.items()]
        parts += [
            f"**Seq Scan {rel}** x{n} ({rows:,} rows)" for rel, (n, rows) in main.seq_scans.items()
        ]
        planned, read = len(main.partitions_planned), len(main.partitions_read)
        if planned:
            parts.append(
                f"positions: {read} of {self.positions_partitions} day partitions read "
                f"({self.positions_partitions - planned} pruned before execution, "
                f"{planned - read} never reached)"
            )
        if main.jit_ms is not None:
            parts.append(f"JIT {main.jit_ms:,.0f} ms")
        return "; ".join(parts) or "no table scans"


def summarise(notices: list[str], positions_partitions: int) -> PlanSummary | None:
    """The summary of one request's plans; None when no plan was caught."""
    statements = [s for s in (parse_notice(n) for n in notices) if s is not None]
    if not statements:
        return None
    statements.sort(key=lambda s: s.duration_ms, reverse=True)
    main, others = statements[0], statements[1:]
    for other in others:
        other.plan = None  # the slowest statement's plan is kept in full, the others in brief
    large_seq = [rel for rel in main.seq_scans if rel in LARGE]
    return PlanSummary(main, others, positions_partitions, index_driven=not large_seq)
