"""The ingest benchmark's workload: zones, exemptions and a 1 Hz report stream, from a seed.

Everything is drawn from numpy Generators spawned from one SeedSequence (zones, tracks and
exemptions each from their own, so that changing one leaves the others as they were). Times are
offsets from the stream's start `t0`, which the caller picks a little before now (the server
refuses reports from the future); zone windows and schedules are placed relative to `t0` too,
so a seed gives the same verdicts whenever it runs. Each arm sends the same stream under its own
serial prefix (`PREFIX-00042`), so that arms never share a drone's state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from shapely.geometry import MultiPolygon

from skyguard.bench.ingest_tracks import Stream, fly, plan_fleet
from skyguard.bench.ingest_zones import ZonePlan, build_zones, iso, zone_shape
from skyguard.geofence.reports import Report

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXEMPT_SHARE = 0.10  # of the visiting drones, exempted in the zone they visit
BANDED_EXEMPTION_SHARE = 0.3


@dataclass(frozen=True)
class Size:
    """A workload size: zones, drones and reports (each drone reports reports/drones times)."""

    name: str
    zones: int
    drones: int
    reports: int

    @property
    def steps(self) -> int:
        """Reports per drone, one a second."""
        return self.reports // self.drones

    @classmethod
    def parse(cls, text: str) -> Size:
        """S, M, or NAME:ZONES:DRONES:REPORTS."""
        if text in SIZES:
            return SIZES[text]
        name, zones, drones, reports = text.split(":")
        return cls(name, int(zones), int(drones), int(reports))


SIZES = {
    "S": Size("S", 1_000, 1_000, 100_000),
    "M": Size("M", 10_000, 10_000, 1_000_000),
}


@dataclass(frozen=True)
class ExemptionPlan:
    """A drone's authorisation in a zone, in a window (and maybe a band)."""

    drone: int
    zone: int
    valid_from: datetime
    valid_until: datetime
    floor_m: float | None = None
    ceiling_m: float | None = None

    def body(self, serial: str) -> dict[str, Any]:
        """The body of POST /v1/zones/{id}/exemptions for this drone's serial."""
        return {
            "serial": serial,
            "valid_from": iso(self.valid_from),
            "valid_until": iso(self.valid_until),
            "floor_m": self.floor_m,
            "ceiling_m": self.ceiling_m,
            "reason": "bench",
        }


@dataclass
class Workload:
    """Zones, exemptions and the report stream of one size and seed."""

    size: Size
    seed: int
    t0: datetime
    zones: list[ZonePlan]
    exemptions: list[ExemptionPlan]
    stream: Stream
    target: np.ndarray  # per drone: the zone it visits, -1 for none
    shapes: list[MultiPolygon] = field(default_factory=list)

    @property
    def span_s(self) -> float:
        """Seconds from the first report to the last."""
        return (
            float(self.stream.t_us.max() - self.stream.t_us.min()) / 1e6
            if len(self.stream)
            else 0.0
        )

    def time_of(self, index: int) -> datetime:
        """The time of the report at `index` of the stream."""
        return self.t0 + timedelta(microseconds=int(self.stream.t_us[index]))

    def report(self, prefix: str, index: int) -> Report:
        """The report at `index` as the engine takes it."""
        s = self.stream
        height = float(s.height_m[index])
        return Report(
            serial=serial(prefix, int(s.drone[index])),
            time=self.time_of(index),
            lon=float(s.lon[index]),
            lat=float(s.lat[index]),
            alt_m=float(s.alt_m[index]),
            height_m=None if np.isnan(height) else height,
            speed_mps=float(s.speed_mps[index]),
            heading_deg=float(s.heading_deg[index]),
        )

    def report_json(self, prefix: str, indexes: np.ndarray) -> list[str]:
        """The reports at `indexes` as JSON objects (floats written to round-trip exactly)."""
        s = self.stream
        columns = [
            c[indexes].tolist()
            for c in (
                s.drone,
                s.t_us,
                s.lon,
                s.lat,
                s.alt_m,
                s.height_m,
                s.speed_mps,
                s.heading_deg,
            )
        ]
        out = []
        for drone, t_us, lon, lat, alt, height, speed, heading in zip(*columns, strict=True):
            when = (self.t0 + timedelta(microseconds=t_us)).isoformat()
            tail = "" if height != height else f',"height_m":{height!r}'  # NaN: not reported
            out.append(
                f'{{"serial":"{serial(prefix, drone)}","time":"{when}","lon":{lon!r},'
                f'"lat":{lat!r},"alt_m":{alt!r}{tail},"speed_mps":{speed!r},'
                f'"heading_deg":{heading!r}}}'
            )
        return out

    def batch_body(self, prefix: str, indexes: np.ndarray) -> bytes:
        """A POST /v1/telemetry body: one report, or {"reports": [...]} for several."""
        items = self.report_json(prefix, indexes)
        if len(items) == 1:
            return items[0].encode()
        return ('{"reports":[' + ",".join(items) + "]}").encode()


def serial(prefix: str, drone: int) -> str:
    """A drone's serial under an arm's prefix."""
    return f"{prefix}-{drone:05d}"


def drone_of(serial_text: str) -> int:
    """The drone number in a serial."""
    return int(serial_text.rsplit("-", 1)[1])


def micros(delta: timedelta) -> int:
    """A timedelta in whole microseconds, exactly."""
    return delta.days * 86_400_000_000 + delta.seconds * 1_000_000 + delta.microseconds


def zone_uuid(index: int) -> uuid.UUID:
    """A stable id for a workload zone in the engine arm."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"skyguard-bench-ingest/zone/{index}")


def stream_t0(size: Size, now: datetime | None = None) -> datetime:
    """A stream start on a whole minute that ends the stream at least a minute before now."""
    now = now or datetime.now(UTC)
    start = now - timedelta(seconds=size.steps + 60)
    return start.replace(second=0, microsecond=0)


def plan_exemptions(
    rng: np.random.Generator,
    workload_target: np.ndarray,
    zones: list[ZonePlan],
    t0: datetime,
    span_s: float,
) -> list[ExemptionPlan]:
    """Some visiting drones are exempt in their zone: throughout, from or until mid-stream, and
    some only below a band's ceiling."""
    plans = []
    for drone in np.flatnonzero(workload_target >= 0):
        if rng.random() >= EXEMPT_SHARE:
            continue
        zone = int(workload_target[drone])
        kind, middle = int(rng.integers(4)), timedelta(seconds=span_s * rng.uniform(0.2, 0.8))
        start = t0 + middle if kind == 2 else t0 - timedelta(hours=1)
        end = t0 + middle if kind == 3 else t0 + timedelta(hours=2)
        floor = ceiling = None
        if rng.random() < BANDED_EXEMPTION_SHARE:
            amsl = zones[zone].feature["properties"]["altitude_ref"] == "AMSL"
            floor, ceiling = None, round((zones[zone].ground_m if amsl else 0.0) + 80.0, 1)
        plans.append(ExemptionPlan(int(drone), zone, start, end, floor, ceiling))
    return plans


def build_workload(size: Size, seed: int, t0: datetime, swiss_path: Path | None) -> Workload:
    """Zones, tracks and exemptions of a size, all drawn from the seed."""
    zone_rng, track_rng, exemption_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    span_s = float(size.steps)
    zones = build_zones(zone_rng, size.zones, t0, span_s, swiss_path)
    shapes = [zone_shape(zone.feature) for zone in zones]
    fleet = plan_fleet(track_rng, zones, shapes, size.drones)
    stream = fly(track_rng, fleet, size.steps)
    exemptions = plan_exemptions(exemption_rng, fleet.target, zones, t0, span_s)
    return Workload(size, seed, t0, zones, exemptions, stream, fleet.target, shapes)
