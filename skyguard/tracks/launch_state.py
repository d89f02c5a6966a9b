"""The launch evidence of one flight as plain, bounded data, and how each fix updates it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from skyguard.tracks.launch_evidence import (
    BELOW_MIN_S,
    GLITCH_QUIET_S,
    GPS_ALT_DRIFT_MPS,
    GROUND_BELOW_M,
    HEAD_SAMPLES,
    MAX_LOITER_WEIGHT_S,
    MAX_SAMPLE_GAP_S,
    REANCHOR_FIXES,
    SAMPLE_STEP_S,
    SLOW_SPEED_MPS,
    SLOW_VSPEED_MPS,
    STILL_MIN_S,
    Loiter,
    Mean,
    Reading,
    StartCluster,
    StillRun,
    plausible,
    rounded,
)

FORMAT_VERSION = 1
ZRef = Literal["alt", "height"]


class Extras(NamedTuple):
    """What a fix says beside its position: heights, accuracy, the operator's position."""

    alt_m: float | None = None
    height_m: float | None = None
    accuracy_m: float | None = None
    operator: tuple[float, float] | None = None


class Climb(NamedTuple):
    """The climb-out velocity the head shows (None: no climb-out), once later samples no longer
    change it."""

    velocity: tuple[float, float, float] | None


@dataclass
class EvidenceState:
    """One flight's evidence; see launch_evidence for what each part is for."""

    lon0: float
    lat0: float
    t0_s: float
    z_ref: ZRef
    fixes_n: int = 0
    rejected_n: int = 0
    last_rejected_s: float | None = None
    below_since_s: float | None = None  # since when it has been well below where it began
    began_airborne: bool = False  # it stayed well below where it began: it began in the air
    last: Reading | None = None
    pending: Reading | None = None
    pending_n: int = 0
    start: StartCluster = field(default_factory=StartCluster)
    sample: Reading | None = None
    head: list[Reading] = field(default_factory=list)
    z_min_m: float | None = None
    z_max_m: float | None = None
    still: StillRun | None = None
    still_floor_m: float | None = None  # the lowest mean altitude of a still run
    still_floor_s: float = 0.0  # when that run began
    loiter: Loiter = field(default_factory=Loiter)
    ground_sum_m: float = 0.0  # alt_m - height_m summed over accepted fixes with both
    ground_n: int = 0
    first_height_m: float | None = None
    last_height_m: float | None = None
    accuracy_m: float | None = None
    operator: tuple[float, float, float | None] | None = None
    # worked out from the head once it can no longer change them (not stored: derived)
    packed_head: bytes | None = field(default=None, compare=False, repr=False)
    settled_climb: Climb | None = field(default=None, compare=False, repr=False)

    def absorb(self, reading: Reading, extras: Extras) -> None:
        """Take one fix (in time order, later than any before)."""
        reading = rounded(reading)
        self.fixes_n += 1
        if extras.operator is not None:
            self.operator = (*extras.operator, extras.accuracy_m)
        if not self._accept(reading):
            self.rejected_n += 1
            self.last_rejected_s = reading.t_s
            return
        self._note_heights(extras)
        self.start.add(reading)
        quiet = self.last_rejected_s is None or reading.t_s - self.last_rejected_s > GLITCH_QUIET_S
        due = self.sample is None or reading.t_s - self.sample.t_s >= SAMPLE_STEP_S
        if quiet and due:  # fixes amid glitches are left out even when they pass the filter
            self._sample(reading)

    def _accept(self, reading: Reading) -> bool:
        """The glitch filter: whether this fix is evidence."""
        if self.last is None or plausible(self.last, reading):
            self.last, self.pending, self.pending_n = reading, None, 0
            return True
        consistent = self.pending is not None and plausible(self.pending, reading)
        self.pending_n = self.pending_n + 1 if consistent else 1
        self.pending = reading
        if self.pending_n >= REANCHOR_FIXES:  # the receiver moved, or the anchor was the glitch
            self.last, self.pending, self.pending_n = reading, None, 0
            return True
        return False

    def _note_heights(self, extras: Extras) -> None:
        if extras.height_m is not None:
            if self.fixes_n == 1:
                self.first_height_m = extras.height_m
            self.last_height_m = extras.height_m
        if extras.accuracy_m is not None:
            self.accuracy_m = extras.accuracy_m
        if self.z_ref == "alt" and extras.alt_m is not None and extras.height_m is not None:
            self.ground_sum_m += extras.alt_m - extras.height_m
            self.ground_n += 1

    def _sample(self, reading: Reading) -> None:
        previous, self.sample = self.sample, reading
        if len(self.head) < HEAD_SAMPLES:
            self.head.append(reading)
        if reading.z_m is not None:
            self.z_min_m = min(reading.z_m, self.z_min_m if self.z_min_m is not None else math.inf)
            self.z_max_m = max(reading.z_m, self.z_max_m if self.z_max_m is not None else -math.inf)
        self._extend_still(reading)
        if previous is not None:
            slow = self._weigh_loiter(previous, reading)
            self._check_below_start(reading, slow=slow)

    def _check_below_start(self, reading: Reading, *, slow: bool) -> None:
        """Whether the drone hovered or stood well below where it began (so began airborne)."""
        start_z = self.start.early.z()
        if self.began_airborne or start_z is None or reading.z_m is None:
            return
        # GPS altitude wanders with time: later fixes may sit a little lower without descending
        limit_m = start_z - GROUND_BELOW_M - GPS_ALT_DRIFT_MPS * reading.t_s
        if reading.z_m > limit_m or not slow:
            self.below_since_s = None
        elif self.below_since_s is None:
            self.below_since_s = reading.t_s
        elif reading.t_s - self.below_since_s >= BELOW_MIN_S:
            self.began_airborne = True

    def _extend_still(self, reading: Reading) -> None:
        run = self.still
        if run is not None and run.holds(reading):
            run.t_end_s = reading.t_s
        else:
            run = self.still = StillRun(reading.t_s, reading.t_s)
        run.mean.add(reading)
        z_m = run.mean.z()
        floor_m = self.still_floor_m
        if run.duration_s >= STILL_MIN_S and z_m is not None and (floor_m is None or z_m < floor_m):
            self.still_floor_m, self.still_floor_s = z_m, run.t_start_s

    def _weigh_loiter(self, before: Reading, after: Reading) -> bool:
        """Count a sample in the loiter centroid if the drone moved slowly; whether it did."""
        dt_s = after.t_s - before.t_s
        if dt_s > MAX_SAMPLE_GAP_S:
            return False
        if math.hypot(after.x_m - before.x_m, after.y_m - before.y_m) >= SLOW_SPEED_MPS * dt_s:
            return False
        climb_m = 0.0
        if before.z_m is not None and after.z_m is not None:
            climb_m = abs(after.z_m - before.z_m)
        if climb_m >= SLOW_VSPEED_MPS * dt_s:
            return True  # slow over the ground, but climbing or descending: no loiter
        self.loiter.add(after, min(dt_s, MAX_LOITER_WEIGHT_S))
        return True

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-ready data (readings as [t, x, y, z] lists).

        Written field by field: it runs for every active drone on every batch, and
        dataclasses.asdict's deep copy cost a millisecond per flight."""
        data: dict[str, Any] = {k: getattr(self, k) for k in _PLAIN}
        still = self.still
        data.update(
            v=FORMAT_VERSION,
            last=_row(self.last),
            pending=_row(self.pending),
            sample=_row(self.sample),
            head=[list(r) for r in self.head],
            start={**vars(self.start), "early": vars(self.start.early).copy()},
            still=None
            if still is None
            else {
                "t_start_s": still.t_start_s,
                "t_end_s": still.t_end_s,
                "mean": vars(still.mean).copy(),
            },
            loiter=vars(self.loiter).copy(),
            operator=None if self.operator is None else list(self.operator),
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EvidenceState:
        """The state to_json wrote; ValueError for anything else."""
        if data.get("v") != FORMAT_VERSION:
            raise ValueError(f"launch evidence format {data.get('v')!r} is not {FORMAT_VERSION}")
        try:
            return cls._parse(data)
        except (KeyError, TypeError, IndexError) as error:
            raise ValueError(f"malformed launch evidence: {error!r}") from error

    @classmethod
    def _parse(cls, fields: dict[str, Any]) -> EvidenceState:
        still = fields["still"]
        operator = fields["operator"]
        return cls(
            **{k: fields[k] for k in _PLAIN},
            last=_reading(fields["last"]),
            pending=_reading(fields["pending"]),
            start=StartCluster(**{**fields["start"], "early": Mean(**fields["start"]["early"])}),
            sample=_reading(fields["sample"]),
            head=[Reading(*r) for r in fields["head"]],
            still=None
            if still is None
            else StillRun(still["t_start_s"], still["t_end_s"], Mean(**still["mean"])),
            loiter=Loiter(**fields["loiter"]),
            operator=None if operator is None else (operator[0], operator[1], operator[2]),
        )


_PLAIN = (
    "lon0",
    "lat0",
    "t0_s",
    "z_ref",
    "fixes_n",
    "rejected_n",
    "pending_n",
    "z_min_m",
    "z_max_m",
    "still_floor_m",
    "still_floor_s",
    "last_rejected_s",
    "below_since_s",
    "began_airborne",
    "first_height_m",
    "last_height_m",
    "accuracy_m",
    "ground_sum_m",
    "ground_n",
)


def _row(reading: Reading | None) -> list[float | None] | None:
    return None if reading is None else list(reading)


def _reading(value: list[Any] | None) -> Reading | None:
    return None if value is None else Reading(*value)
