"""What /proc says about processes: CPU time, resident memory and its peak, children.

Linux only; elsewhere each reading is None and the report says "n/a".
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
PROC = Path("/proc")


def cpu_s(pid: int | str) -> float | None:
    """User + system CPU seconds a process has used, or None if it is gone."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


def status_kib(pid: int | str, key: str) -> int | None:
    """A kB value of /proc/PID/status (VmRSS, VmHWM), or None."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def pss_kib(pid: int | str) -> int | None:
    """The process's proportional set size in kB (each shared page divided among the processes
    sharing it), or None."""
    try:
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def reset_peak(pid: int | str = "self") -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS; False where not allowed."""
    try:
        (PROC / str(pid) / "clear_refs").write_text("5")
    except OSError:
        return False
    return True


def children(pid: int) -> list[int]:
    """Every descendant of a process, found through each process's parent id."""
    parents: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def every_cpu_s() -> dict[int, float]:
    """CPU seconds of every process on the machine now."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (value := cpu_s(int(entry.name))) is not None:
            found[int(entry.name)] = value
    return found


def command_of(pid: int) -> str:
    """A process's command line, shortened (its name if that is unreadable)."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").strip()
        return raw.decode(errors="replace")[:80] or (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return "?"


def system_busy_s() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine since boot, all cores, from /proc/stat."""
    try:
        first = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    except (OSError, IndexError):
        return None
    ticks = [int(v) for v in first[:8]]  # user nice system idle iowait irq softirq steal
    busy = ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]  # steal is another guest's
    return busy / TICKS_PER_S, sum(ticks) / TICKS_PER_S


@dataclass
class CpuMeter:
    """CPU seconds of a set of processes between two readings (processes may come and go)."""

    start: dict[int, float]

    @classmethod
    def begin(cls, pids: Iterable[int]) -> CpuMeter:
        """Read the processes' CPU now."""
        return cls({pid: v for pid in pids if (v := cpu_s(pid)) is not None})

    def used_s(self, pids: Iterable[int]) -> float:
        """CPU seconds used since the start by these processes (new ones count in full)."""
        total = 0.0
        for pid in set(pids) | set(self.start):
            now = cpu_s(pid)
            if now is not None:
                total += now - self.start.get(pid, 0.0)
        return total


def loadavg() -> str:
    """The 1, 5 and 15-minute load averages."""
    try:
        return " ".join((PROC / "loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"
