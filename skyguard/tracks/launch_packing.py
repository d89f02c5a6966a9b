"""A flight's launch evidence as compact bytes: what the service stores with the drone per batch.

JSON cost a tenth of a millisecond a flight each way (numbers to text and back, dicts to
dataclasses); these are fixed-layout little-endian fields, then the head's readings. None is
NaN for a float (no input is NaN: reports are validated finite) and a Reading is None when its
time is NaN. The first byte is the format version.
"""

from __future__ import annotations

import math
import struct

from skyguard.tracks.launch_evidence import (
    HEAD_SAMPLES,
    Loiter,
    Mean,
    Reading,
    StartCluster,
    StillRun,
)
from skyguard.tracks.launch_state import EvidenceState

VERSION = 1
NAN = math.nan
NO_READING = (NAN, NAN, NAN, NAN)
NO_STILL = (NAN, NAN, 0, 0.0, 0.0, 0, 0.0)

# version; lon0 lat0 t0_s; z_ref is "height"; fixes_n rejected_n pending_n; last_rejected_s
# below_since_s; began_airborne; last, pending, sample (4 each); start: open duration_s
# first_z_m, early (n sum_x sum_y nz sum_z); z_min_m z_max_m; still (t_start t_end, mean as
# early); still_floor_m still_floor_s; loiter (weight sum_x sum_y sum_r2); ground_sum_m
# ground_n; first_height_m last_height_m accuracy_m; operator (lon lat accuracy); head length
FIXED = struct.Struct("<B ddd ? qqq dd ? 4d4d4d ?dd qddqd dd ddqddqd dd dddd dq ddd ddd H")
READING = struct.Struct("<4d")
_new = tuple.__new__  # a Reading from its 4 values without NamedTuple's Python-level __new__


def _f(value: float | None) -> float:
    return NAN if value is None else value


def _o(value: float) -> float | None:
    return None if value != value else value  # NaN is the only value unequal to itself


def _reading(reading: Reading | None) -> tuple[float, float, float, float]:
    if reading is None:
        return NO_READING
    t_s, x_m, y_m, z_m = reading
    return (t_s, x_m, y_m, NAN if z_m is None else z_m)


def _unreading(t_s: float, x_m: float, y_m: float, z_m: float) -> Reading | None:
    if t_s != t_s:
        return None
    return Reading(t_s, x_m, y_m, None if z_m != z_m else z_m)


def pack_evidence(state: EvidenceState) -> bytes:
    """The evidence as bytes (unpack_evidence reads them back equal)."""
    start, early, still, loiter = state.start, state.start.early, state.still, state.loiter
    operator = state.operator or (NAN, NAN, None)
    head = state.head
    fixed = FIXED.pack(
        VERSION,
        *(state.lon0, state.lat0, state.t0_s, state.z_ref == "height"),
        *(state.fixes_n, state.rejected_n, state.pending_n),
        *(_f(state.last_rejected_s), _f(state.below_since_s), state.began_airborne),
        *_reading(state.last),
        *_reading(state.pending),
        *_reading(state.sample),
        *(start.open, start.duration_s, _f(start.first_z_m)),
        *(early.n, early.sum_x_m, early.sum_y_m, early.nz, early.sum_z_m),
        *(_f(state.z_min_m), _f(state.z_max_m)),
        *(NO_STILL if still is None else _still(still)),
        *(_f(state.still_floor_m), state.still_floor_s),
        *(loiter.weight_s, loiter.sum_x_m, loiter.sum_y_m, loiter.sum_r2_m2),
        *(state.ground_sum_m, state.ground_n),
        *(_f(state.first_height_m), _f(state.last_height_m), _f(state.accuracy_m)),
        *(operator[0], operator[1], _f(operator[2])),
        len(head),
    )
    if len(head) < HEAD_SAMPLES:
        return fixed + _pack_head(head)
    if state.packed_head is None:
        state.packed_head = _pack_head(head)
    return fixed + state.packed_head


def _pack_head(head: list[Reading]) -> bytes:
    flat = [NAN if v is None else v for reading in head for v in reading]
    return struct.pack(f"<{len(flat)}d", *flat)


def _still(still: StillRun) -> tuple[float, float, int, float, float, int, float]:
    mean = still.mean
    return (
        still.t_start_s,
        still.t_end_s,
        mean.n,
        mean.sum_x_m,
        mean.sum_y_m,
        mean.nz,
        mean.sum_z_m,
    )


def unpack_evidence(data: bytes | memoryview) -> EvidenceState:
    """The evidence pack_evidence wrote; ValueError for anything else."""
    if not data or data[0] != VERSION:
        raise ValueError(f"launch evidence bytes of format {data[0] if data else None!r}")
    try:
        v = FIXED.unpack_from(data)
        head = [
            _new(Reading, r) if r[3] == r[3] else Reading(r[0], r[1], r[2], None)
            for r in READING.iter_unpack(data[FIXED.size :])
        ]
    except struct.error as error:
        raise ValueError(f"malformed launch evidence bytes: {error}") from error
    if len(head) != v[-1]:
        raise ValueError(f"launch evidence bytes hold {len(head)} head readings, not {v[-1]}")
    packed_head = bytes(data[FIXED.size :]) if len(head) >= HEAD_SAMPLES else None
    return EvidenceState(
        lon0=v[1],
        lat0=v[2],
        t0_s=v[3],
        z_ref="height" if v[4] else "alt",
        fixes_n=v[5],
        rejected_n=v[6],
        pending_n=v[7],
        last_rejected_s=_o(v[8]),
        below_since_s=_o(v[9]),
        began_airborne=v[10],
        last=_unreading(*v[11:15]),
        pending=_unreading(*v[15:19]),
        sample=_unreading(*v[19:23]),
        start=StartCluster(v[23], v[24], _o(v[25]), Mean(*v[26:31])),
        z_min_m=_o(v[31]),
        z_max_m=_o(v[32]),
        still=None if v[33] != v[33] else StillRun(v[33], v[34], Mean(*v[35:40])),
        still_floor_m=_o(v[40]),
        still_floor_s=v[41],
        loiter=Loiter(*v[42:46]),
        ground_sum_m=v[46],
        ground_n=v[47],
        first_height_m=_o(v[48]),
        last_height_m=_o(v[49]),
        accuracy_m=_o(v[50]),
        operator=None if v[51] != v[51] else (v[51], v[52], _o(v[53])),
        head=head,
        packed_head=packed_head,
    )
