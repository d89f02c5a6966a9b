"""Arm 1: the engine alone, through its public entry points, in a process of its own.

`ZoneIndex.build` over the workload's zones (timed apart), then the stream in order, in batches
of 1,000 reports, through `advance_all` with every drone's state carried from batch to batch.
Only `advance_all` is timed (wall and this process's CPU); building each batch's Report values
is not. Peak RSS (VmHWM) is reset once the zones are parsed and their Features dropped: it is
then the zone specs, the index, the drones' states and the stream's columns (8 numbers a
report). The transitions come back for the comparison with the oracle.

python -m skyguard.bench.ingest_engine WORKLOAD.pickle PREFIX BATCH OUT.pickle
"""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from skyguard.api.schemas.zones import ZoneFeatureIn, spec_from_feature
from skyguard.bench.ingest_proc import reset_peak, status_kib
from skyguard.bench.ingest_workload import Workload, drone_of, serial, zone_uuid
from skyguard.geofence.episodes import DroneState, Transition
from skyguard.geofence.fleet import advance_all
from skyguard.geofence.index import Exemption, IndexedZone, ZoneIndex
from skyguard.geofence.zones import ZoneSpec

Open = tuple[int, int, str, str, bool]  # drone, zone, alert kind, opened_at (ISO), by crossing


@dataclass
class EngineRun:
    """What the engine arm measured and the alerts it opened."""

    reports: int
    batch: int
    index_build_s: float
    wall_s: float
    cpu_s: float
    batch_ms: list[float]
    rss_loaded_kib: int | None
    peak_rss_kib: int | None
    opens: list[Open] = field(default_factory=list)
    closes: dict[str, int] = field(default_factory=dict)
    updates: int = 0


MAX_VERTICES = 10_000  # the service's default cap


def engine_spec(feature: dict[str, Any]) -> ZoneSpec:
    """The ZoneSpec of a zone Feature, parsed by the API's own code."""
    return spec_from_feature(ZoneFeatureIn.model_validate(feature), MAX_VERTICES)


def indexed_zones(workload: Workload, prefix: str) -> list[IndexedZone]:
    """The workload's zones with their exemptions granted to this arm's serials."""
    granted: dict[int, list[Exemption]] = {}
    for e in workload.exemptions:
        granted.setdefault(e.zone, []).append(
            Exemption(serial(prefix, e.drone), e.valid_from, e.valid_until, e.floor_m, e.ceiling_m)
        )
    return [
        IndexedZone(zone_uuid(i), 1, engine_spec(z.feature), tuple(granted.get(i, ())))
        for i, z in enumerate(workload.zones)
    ]


def collect(run: EngineRun, transitions: list[Transition], positions: dict[Any, int]) -> None:
    """Keep the opens (marking those a segment crossing opened) and count the rest."""
    crossed = {
        (t.serial, t.zone_id, t.alert_kind, t.opened_at)
        for t in transitions
        if t.kind == "close" and t.close_reason == "crossed"
    }
    for t in transitions:
        if t.kind == "open":
            by_crossing = (t.serial, t.zone_id, t.alert_kind, t.opened_at) in crossed
            zone = positions[t.zone_id]
            run.opens.append(
                (drone_of(t.serial), zone, t.alert_kind, t.opened_at.isoformat(), by_crossing)
            )
        elif t.kind == "close":
            reason = t.close_reason or "?"
            run.closes[reason] = run.closes.get(reason, 0) + 1
        else:
            run.updates += 1


def run_engine(workload: Workload, prefix: str, batch: int) -> EngineRun:
    """Build the index, then feed the stream through advance_all in batches."""
    zones = indexed_zones(workload, prefix)
    workload.zones.clear()  # the Features are parsed: what stays is what a server would hold
    gc.collect()
    reset_peak()
    loaded = status_kib("self", "VmRSS")
    began = time.perf_counter()
    index = ZoneIndex.build(zones)
    run = EngineRun(
        len(workload.stream), batch, time.perf_counter() - began, 0.0, 0.0, [], loaded, None
    )
    positions = {zone.id: i for i, zone in enumerate(zones)}
    states: dict[str, DroneState] = {}
    for start in range(0, len(workload.stream), batch):
        reports = [
            workload.report(prefix, i)
            for i in range(start, min(start + batch, len(workload.stream)))
        ]
        wall, cpu = time.perf_counter(), time.process_time()
        outcomes = advance_all(states, reports, index)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        run.wall_s += wall
        run.cpu_s += cpu
        run.batch_ms.append(wall * 1e3)
        states.update((s, o.state) for s, o in outcomes.items())
        collect(run, [t for o in outcomes.values() for t in o.transitions], positions)
    run.peak_rss_kib = status_kib("self", "VmHWM")
    return run


def run_in_subprocess(workload: Workload, prefix: str, batch: int, work_dir: Path) -> EngineRun:
    """run_engine in a fresh Python process, so that its peak RSS is its own."""
    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        given, taken = Path(tmp) / "workload.pickle", Path(tmp) / "engine.pickle"
        with given.open("wb") as f:
            pickle.dump(replace(workload, shapes=[]), f, protocol=pickle.HIGHEST_PROTOCOL)
        command = [
            sys.executable,
            "-m",
            "skyguard.bench.ingest_engine",
            str(given),
            prefix,
            str(batch),
            str(taken),
        ]
        subprocess.run(command, check=True)
        with taken.open("rb") as f:
            run: EngineRun = pickle.load(f)  # noqa: S301 (written just now by our own child)
    return run


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile, or None for no values."""
    return float(np.percentile(values, q)) if values else None


def main(argv: list[str]) -> int:
    """The subprocess: load the workload, reset the peak RSS, run, write the result."""
    given, prefix, batch, taken = argv
    with Path(given).open("rb") as f:
        workload: Workload = pickle.load(f)  # noqa: S301 (written by our parent)
    run = run_engine(workload, prefix, int(batch))
    with Path(taken).open("wb") as f:
        pickle.dump(run, f, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    # Run the module's own copy (not __main__'s), so the pickled result names its real class.
    from skyguard.bench.ingest_engine import main as module_main

    sys.exit(module_main(sys.argv[1:]))
