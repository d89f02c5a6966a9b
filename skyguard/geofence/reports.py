"""Position reports as the engine sees them: one drone's fix at one instant, already validated."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.intp]


_new = object.__new__
_set = object.__setattr__


@dataclass(frozen=True)
class Report:
    """A drone's position at a UTC instant; altitudes AMSL (alt_m) and above ground (height_m)."""

    serial: str
    time: datetime
    lon: float
    lat: float
    alt_m: float | None = None
    height_m: float | None = None
    speed_mps: float | None = None
    heading_deg: float | None = None
    vspeed_mps: float | None = None
    accuracy_m: float | None = None
    source: str | None = None
    operator_lon: float | None = None
    operator_lat: float | None = None

    def __post_init__(self) -> None:
        """Refuse a naive time or an impossible position; keep the time in UTC."""
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("a report time must be timezone-aware")
        if self.time.tzinfo is not UTC:
            object.__setattr__(self, "time", self.time.astimezone(UTC))
        if not (math.isfinite(self.lon) and math.isfinite(self.lat)):
            raise ValueError("lon and lat must be finite numbers")
        if not (-180.0 <= self.lon <= 180.0 and -90.0 <= self.lat <= 90.0):
            raise ValueError(f"position {self.lon}, {self.lat} is outside WGS84 ranges")

    @classmethod
    def checked(
        cls,
        serial: str,
        time: datetime,
        lon: float,
        lat: float,
        alt_m: float | None = None,
        height_m: float | None = None,
        speed_mps: float | None = None,
        heading_deg: float | None = None,
        vspeed_mps: float | None = None,
        accuracy_m: float | None = None,
        source: str | None = None,
        operator_lon: float | None = None,
        operator_lat: float | None = None,
    ) -> Report:
        """A report from values already held to what __post_init__ checks (time in UTC, lon
        and lat finite and in range): by the ingest validation, or read back from what was
        stored. The frozen __init__ sets the 13 fields one object.__setattr__ at a time, 4 of
        the 20 µs a report took to validate; this sets them at once, and equals Report(...)."""
        report = _new(cls)
        _set(
            report,
            "__dict__",
            {
                "serial": serial,
                "time": time,
                "lon": lon,
                "lat": lat,
                "alt_m": alt_m,
                "height_m": height_m,
                "speed_mps": speed_mps,
                "heading_deg": heading_deg,
                "vspeed_mps": vspeed_mps,
                "accuracy_m": accuracy_m,
                "source": source,
                "operator_lon": operator_lon,
                "operator_lat": operator_lat,
            },
        )
        return report

    @property
    def position(self) -> tuple[float, float]:
        """(lon, lat) of the report."""
        return (self.lon, self.lat)


def coordinates(reports: Sequence[Report]) -> tuple[FloatArray, FloatArray]:
    """The longitudes and latitudes of some reports as two float arrays."""
    count = len(reports)
    lons = np.fromiter((r.lon for r in reports), dtype=np.float64, count=count)
    lats = np.fromiter((r.lat for r in reports), dtype=np.float64, count=count)
    return lons, lats
