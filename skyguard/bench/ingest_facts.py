"""Where the ingest benchmark ran: the machine line and the versions of what it measured."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import numpy
import pyproj
import shapely

from skyguard.bench.history_facts import machine as history_machine
from skyguard.bench.ingest_proc import loadavg

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("uvicorn", "fastapi", "sqlalchemy", "psycopg", "airportsdata")
YARDSTICK_STEPS = 2_000_000


def python_loop_ms() -> str:
    """Milliseconds this machine takes now for a fixed pure-Python loop (the best of three): a
    yardstick for comparing runs, as a shared virtual machine's speed drifts. On one 2-core
    machine the engine arm, same code and workload, ran at 19,585 and at 40,691 reports/s within
    two hours."""
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        total = 0
        for step in range(YARDSTICK_STEPS):
            total += step & 7
        best = min(best, time.perf_counter() - began)
    return f"{best * 1e3:.0f}"


def machine() -> dict[str, str]:
    """CPU model, cores, RAM, kernel, OS, Python, the load average and the yardstick now."""
    facts = history_machine()
    facts["kernel"] = platform.release()
    facts["loadavg"] = loadavg()
    facts["python_loop_ms"] = python_loop_ms()
    return facts


def skyguard_commit() -> str:
    """The checked-out commit, with `+changes` when tracked files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}+changes" if changed else commit


def versions() -> dict[str, str]:
    """Python, skyguard's commit, the geometry stack and the serving stack."""
    found = {
        "python": platform.python_version(),
        "skyguard": skyguard_commit(),
        "shapely": f"{shapely.__version__} (GEOS {shapely.geos_version_string})",
        "pyproj": f"{pyproj.__version__} (PROJ {pyproj.proj_version_str})",
        "numpy": numpy.__version__,
    }
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found
