"""What a benchmark report states about where it ran: the machine, the server, the tables."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, text

TABLES = ("positions", "flights", "alerts", "zones", "districts", "drones", "drone_latest")
SETTINGS = (
    "shared_buffers",
    "work_mem",
    "effective_cache_size",
    "random_page_cost",
    "max_parallel_workers_per_gather",
    "jit",
)

# A partitioned table has no storage of its own: sum its partitions (pg_partition_tree lists
# nothing for a plain table, hence the union with the table itself).
SIZE = text("""
SELECT coalesce(sum(pg_table_size(relid)), 0) AS table_bytes,
       coalesce(sum(pg_indexes_size(relid)), 0) AS index_bytes
FROM (SELECT relid FROM pg_partition_tree(CAST(:name AS regclass))
      UNION SELECT CAST(:name AS regclass)) AS tree
""")
PARTITIONS = text("""
SELECT count(*) FROM pg_inherits WHERE inhparent = CAST('positions' AS regclass)
""")


@dataclass(frozen=True)
class TableSize:
    """One table's rows and bytes on disk (heap with TOAST, and its indexes)."""

    table: str
    rows: int
    table_bytes: int
    index_bytes: int

    @property
    def total_bytes(self) -> int:
        """Heap and indexes together."""
        return self.table_bytes + self.index_bytes


def _proc_value(path: str, key: str) -> str:
    """A `key : value` line's value from a /proc file, or '?' off Linux."""
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == key:
                return value.strip()
    except OSError:
        pass
    return "?"


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, OS and Python."""
    mem_kib = _proc_value("/proc/meminfo", "MemTotal").split()[0]
    ram = f"{int(mem_kib) / 1024**2:.1f} GiB" if mem_kib.isdigit() else "?"
    return {
        "cpu": _proc_value("/proc/cpuinfo", "model name"),
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def server(conn: Connection) -> dict[str, str]:
    """PostgreSQL and PostGIS versions and the settings that shape plans."""
    facts = {
        "postgresql": str(conn.execute(text("SHOW server_version")).scalar_one()),
        "postgis": str(conn.execute(text("SELECT postgis_lib_version()")).scalar_one()),
    }
    for name in SETTINGS:
        facts[name] = str(conn.execute(text(f"SHOW {name}")).scalar_one())
    return facts


def table_sizes(conn: Connection) -> list[TableSize]:
    """Rows (counted) and bytes of each table the benchmark fills."""
    sizes = []
    for name in TABLES:
        rows = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()  # noqa: S608
        size = conn.execute(SIZE, {"name": name}).one()
        sizes.append(TableSize(name, int(rows), int(size.table_bytes), int(size.index_bytes)))
    return sizes


def partition_count(conn: Connection) -> int:
    """How many day partitions positions has."""
    return int(conn.execute(PARTITIONS).scalar_one())
