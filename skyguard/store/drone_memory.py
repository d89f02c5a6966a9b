"""A drone's memory between batches as compact bytes: the engine's DroneState and the open flight.

Both are read and written for every drone of every batch, so they are fixed-layout little-endian
fields, not JSON (which cost a tenth of a millisecond a drone each way). None is NaN for a float
(validated reports hold no NaN), times are microseconds since the epoch, the first byte is the
format version. Rows written before migration 0009 hold JSON (UTF-8, starting with "{"): they
are read as such and written back as bytes.
"""

from __future__ import annotations

import json
import math
import struct
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from skyguard.geofence.episodes import DroneState, Episode
from skyguard.geofence.reports import Report
from skyguard.tracks.flights import FlightTrack
from skyguard.tracks.launch import LaunchEvidence

VERSION = 1
JSON_START = ord("{")
NAN = math.nan
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
NO_TIME = -(2**63)

# version; time; lon lat alt_m height_m speed_mps heading_deg vspeed_mps accuracy_m operator_lon
# operator_lat; length of the source's UTF-8 (-1: none), then the source; episode count
LAST = struct.Struct("<Bq10dh")
COUNT = struct.Struct("<H")
# zone_id zone_version opened_at; entry, position (lon lat); last_inside_at depth_m max_depth_m
# altitude_assumed outside_since; lengths of kind and severity, then both (ASCII)
EPISODE = struct.Struct("<16sqq4dqdd?qBB")
# version id started_at ended_at report_count distance_m; first (lon lat); last (lon lat alt_m);
# max_alt_m max_reported_height_m; then the launch evidence (LaunchEvidence.to_bytes)
FLIGHT = struct.Struct("<B16sqqqd2d3d2d")


def micros(at: datetime) -> int:
    """Microseconds since the epoch."""
    return (at - EPOCH) // MICROSECOND


def instant(us: int) -> datetime:
    """The UTC instant `us` microseconds after the epoch."""
    return EPOCH + timedelta(microseconds=us)


def _f(value: float | None) -> float:
    return NAN if value is None else value


def _o(value: float) -> float | None:
    return None if value != value else value  # NaN is the only value unequal to itself


def pack_state(state: DroneState) -> bytes:
    """The engine state as bytes (the serial is the row's key, not in them)."""
    last = state.last
    source = None if last.source is None else last.source.encode()
    parts = [
        LAST.pack(
            VERSION,
            micros(last.time),
            *(last.lon, last.lat, _f(last.alt_m), _f(last.height_m), _f(last.speed_mps)),
            *(_f(last.heading_deg), _f(last.vspeed_mps), _f(last.accuracy_m)),
            *(_f(last.operator_lon), _f(last.operator_lat)),
            -1 if source is None else len(source),
        ),
        source or b"",
        COUNT.pack(len(state.episodes)),
    ]
    for episode in state.episodes:
        kind, severity = episode.kind.encode(), episode.severity.encode()
        outside = NO_TIME if episode.outside_since is None else micros(episode.outside_since)
        parts += (
            EPISODE.pack(
                episode.zone_id.bytes,
                episode.zone_version,
                micros(episode.opened_at),
                *episode.entry,
                *episode.position,
                micros(episode.last_inside_at),
                episode.depth_m,
                episode.max_depth_m,
                episode.altitude_assumed,
                outside,
                len(kind),
                len(severity),
            ),
            kind,
            severity,
        )
    return b"".join(parts)


def unpack_state(serial: str, data: bytes) -> DroneState:
    """The engine state pack_state wrote (or a row's JSON from before migration 0009)."""
    if data[0] == JSON_START:
        return state_from_json(serial, json.loads(data))
    if data[0] != VERSION:
        raise ValueError(f"drone state bytes of format {data[0]!r}")
    v = LAST.unpack_from(data)
    offset = LAST.size + max(v[12], 0)
    source = None if v[12] < 0 else data[LAST.size : offset].decode()
    last = Report.checked(  # what pack_state wrote of a report that was checked
        serial, instant(v[1]), v[2], v[3], _o(v[4]), _o(v[5]), _o(v[6]), _o(v[7]), _o(v[8]),
        _o(v[9]), source, _o(v[10]), _o(v[11]),
    )  # fmt: skip
    (count,) = COUNT.unpack_from(data, offset)
    offset += COUNT.size
    episodes = []
    for _ in range(count):
        e = EPISODE.unpack_from(data, offset)
        offset += EPISODE.size
        kind = data[offset : offset + e[12]].decode()
        offset += e[12]
        severity = data[offset : offset + e[13]].decode()
        offset += e[13]
        episodes.append(
            Episode(
                zone_id=uuid.UUID(bytes=e[0]),
                kind=kind,  # type: ignore[arg-type]  # written from an Episode's kind
                zone_version=e[1],
                severity=severity,  # type: ignore[arg-type]  # likewise
                opened_at=instant(e[2]),
                entry=(e[3], e[4]),
                position=(e[5], e[6]),
                last_inside_at=instant(e[7]),
                depth_m=e[8],
                max_depth_m=e[9],
                altitude_assumed=e[10],
                outside_since=None if e[11] == NO_TIME else instant(e[11]),
            )
        )
    return DroneState(serial, last, tuple(episodes))


def pack_flight(flight: FlightTrack) -> bytes:
    """An open flight, with its launch evidence, as bytes."""
    return (
        FLIGHT.pack(
            VERSION,
            flight.id.bytes,
            micros(flight.started_at),
            micros(flight.ended_at),
            flight.report_count,
            flight.distance_m,
            *flight.first,
            flight.last[0],
            flight.last[1],
            _f(flight.last[2]),
            _f(flight.max_alt_m),
            _f(flight.max_reported_height_m),
        )
        + flight.evidence.to_bytes()
    )


def unpack_flight(serial: str, data: bytes) -> FlightTrack:
    """The open flight pack_flight wrote (or a row's JSON from before migration 0009)."""
    if data[0] == JSON_START:
        return flight_from_json(serial, json.loads(data))
    if data[0] != VERSION:
        raise ValueError(f"flight bytes of format {data[0]!r}")
    v = FLIGHT.unpack_from(data)
    return FlightTrack(
        id=uuid.UUID(bytes=v[1]),
        serial=serial,
        started_at=instant(v[2]),
        ended_at=instant(v[3]),
        report_count=v[4],
        distance_m=v[5],
        first=(v[6], v[7]),
        last=(v[8], v[9], _o(v[10])),
        evidence=LaunchEvidence.from_bytes(memoryview(data)[FLIGHT.size :]),
        max_alt_m=_o(v[11]),
        max_reported_height_m=_o(v[12]),
    )


def flight_from_json(serial: str, data: dict[str, Any]) -> FlightTrack:
    """An open flight as migration 0009 moved it from the flights table (columns and evidence)."""
    evidence = data["evidence"] or {}
    return FlightTrack(
        id=uuid.UUID(data["id"]),
        serial=serial,
        started_at=datetime.fromisoformat(data["started_at"]),
        ended_at=datetime.fromisoformat(data["ended_at"]),
        report_count=data["report_count"],
        distance_m=data["distance_m"],
        first=(data["first_lon"], data["first_lat"]),
        last=(data["last_lon"], data["last_lat"], data["last_alt_m"]),
        evidence=LaunchEvidence.from_json(evidence.get("launch") or {}),
        max_alt_m=data["max_alt_m"],
        max_reported_height_m=evidence.get("max_reported_height_m"),
    )


REPORT_FIELDS = (
    "time", "lon", "lat", "alt_m", "height_m", "speed_mps", "heading_deg", "vspeed_mps",
    "accuracy_m", "source", "operator_lon", "operator_lat",
)  # fmt: skip


def state_from_json(serial: str, data: dict[str, Any]) -> DroneState:
    """The DroneState kept as JSON before migration 0009."""
    last = {name: data["last"].get(name) for name in REPORT_FIELDS}
    last["time"] = datetime.fromisoformat(last["time"])
    episodes = []
    for item in data["episodes"]:
        item = dict(item)
        item["zone_id"] = uuid.UUID(item["zone_id"])
        item["entry"] = tuple(item["entry"])
        item["position"] = tuple(item["position"])
        for key in ("opened_at", "last_inside_at", "outside_since"):
            item[key] = datetime.fromisoformat(item[key]) if item[key] is not None else None
        episodes.append(Episode(**item))
    return DroneState(serial, Report(serial=serial, **last), tuple(episodes))
