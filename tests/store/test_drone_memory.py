"""A drone's memory as bytes: engine state and open flight read back equal, old JSON rows read too.
Pure: no database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from skyguard.geofence.episodes import DroneState, Episode
from skyguard.geofence.reports import Report
from skyguard.store.drone_memory import pack_flight, pack_state, unpack_flight, unpack_state
from skyguard.store.engine_state import Memory, MemoryCache
from skyguard.tracks.evaluation import DEFAULT_DATA, cut_track, read_flight
from skyguard.tracks.flights import follow
from skyguard.tracks.launch import LaunchEvidence
from skyguard.tracks.launch_evidence import HEAD_SAMPLES
from skyguard.tracks.launch_packing import pack_evidence, unpack_evidence

T0 = datetime(2026, 5, 1, 12, 0, 0, 250_001, tzinfo=UTC)


def episode(**changes) -> Episode:
    values = dict(
        zone_id=uuid.uuid4(),
        kind="breach",
        zone_version=3,
        severity="critical",
        opened_at=T0,
        entry=(8.5, 47.3),
        position=(8.501, 47.301),
        last_inside_at=T0 + timedelta(seconds=4),
        depth_m=12.5,
        max_depth_m=20.25,
        altitude_assumed=True,
    )
    return Episode(**{**values, **changes})


@pytest.mark.parametrize(
    "state",
    [
        DroneState("SN-1", Report("SN-1", T0, 8.5, 47.3)),
        DroneState(
            "SN-2",
            Report(
                "SN-2",
                T0,
                -179.9,
                -89.5,
                alt_m=512.3,
                height_m=0.0,
                speed_mps=12.0,
                heading_deg=359.9,
                vspeed_mps=-1.5,
                accuracy_m=3.0,
                source="réseau 5",
                operator_lon=-179.8,
                operator_lat=-89.4,
            ),
            (episode(), episode(kind="approach", outside_since=T0 + timedelta(seconds=9))),
        ),
    ],
)
def test_an_engine_state_reads_back_equal(state: DroneState):
    data = pack_state(state)
    assert data[0] < 0x20  # never mistaken for JSON
    assert unpack_state(state.serial, data) == state


def test_a_state_kept_as_json_before_migration_0009_reads_too():
    state = DroneState("SN-3", Report("SN-3", T0, 8.5, 47.3, alt_m=400.0), (episode(),))
    e = state.episodes[0]
    legacy = {
        "last": {"serial": "SN-3", "time": T0.isoformat(), "lon": 8.5, "lat": 47.3, "alt_m": 400.0},
        "episodes": [
            {
                **{k: getattr(e, k) for k in ("kind", "zone_version", "severity", "depth_m")},
                "zone_id": str(e.zone_id),
                "entry": list(e.entry),
                "position": list(e.position),
                "opened_at": e.opened_at.isoformat(),
                "last_inside_at": e.last_inside_at.isoformat(),
                "outside_since": None,
                "max_depth_m": e.max_depth_m,
                "altitude_assumed": e.altitude_assumed,
            }
        ],
    }
    assert unpack_state("SN-3", json.dumps(legacy).encode()) == state


def flight_after(seconds: int):
    reports = [
        Report("SN-4", T0 + timedelta(seconds=s), 8.5 + s * 1e-5, 47.3, alt_m=400.0 + s)
        for s in range(seconds)
    ]
    *_, flight = follow(None, reports, timedelta(seconds=120))
    return flight


@pytest.mark.parametrize("seconds", [1, 12, HEAD_SAMPLES + 5])
def test_an_open_flight_reads_back_with_its_evidence(seconds: int):
    flight = flight_after(seconds)
    back = unpack_flight("SN-4", pack_flight(flight))
    assert back.evidence.state == flight.evidence.state
    for name in ("id", "started_at", "ended_at", "report_count", "distance_m", "first", "last"):
        assert getattr(back, name) == getattr(flight, name)
    assert back.evidence.estimate(ended=False) == flight.evidence.estimate(ended=False)


def test_a_flight_moved_by_migration_0009_reads_from_its_json():
    flight = flight_after(20)
    legacy = {
        "id": str(flight.id),
        "started_at": flight.started_at.isoformat(),
        "ended_at": flight.ended_at.isoformat(),
        "report_count": flight.report_count,
        "distance_m": flight.distance_m,
        "max_alt_m": flight.max_alt_m,
        "first_lon": flight.first[0],
        "first_lat": flight.first[1],
        "last_lon": flight.last[0],
        "last_lat": flight.last[1],
        "last_alt_m": flight.last[2],
        "evidence": {"launch": flight.evidence.to_json(), "max_reported_height_m": None},
    }
    back = unpack_flight("SN-4", json.dumps(legacy).encode())
    assert back.id == flight.id and back.ended_at == flight.ended_at
    assert back.evidence.state == flight.evidence.state


def test_real_flights_evidence_reads_back_equal_batch_after_batch():
    paths = sorted(DEFAULT_DATA.glob("*.csv"))[:6]
    assert paths, "the flight logs in shared/data/flights/erle are missing"
    for path in paths:
        fixes = read_flight(path)
        for track in (fixes, cut_track(fixes) or []):
            evidence = LaunchEvidence.empty()
            for start in range(0, len(track), 50):
                evidence.add(track[start : start + 50])
                state = evidence.state
                assert state is not None
                assert unpack_evidence(pack_evidence(state)) == state


def test_bytes_not_written_by_us_are_refused():
    with pytest.raises(ValueError, match="format"):
        unpack_state("SN-5", b"\x07rest")
    with pytest.raises(ValueError, match="format"):
        unpack_evidence(b"\x09")


def test_the_cache_hands_back_only_what_the_row_still_holds():
    cache = MemoryCache(size=2)
    state = DroneState("SN-6", Report("SN-6", T0, 8.5, 47.3))
    row = (pack_state(state), None)
    kept = Memory(state, None)
    cache.put("SN-6", row, kept)
    assert cache.take("SN-6", row) is kept
    # taken out: a second batch (or one after a rollback) decodes the row again
    again = cache.take("SN-6", row)
    assert again is not kept and again == kept
    cache.put("SN-6", row, kept)
    other = DroneState("SN-6", Report("SN-6", T0 + timedelta(seconds=1), 8.5, 47.3))
    assert cache.take("SN-6", (pack_state(other), None)).state == other
    for serial in ("A", "B", "C"):  # the least recently written go first
        cache.put(serial, row, kept)
    assert cache.take("A", row) is not kept and cache.take("C", row) is kept
