"""Validate one raw position report on its own, so that a bad one never spoils its batch."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from skyguard.geofence.reports import Report

MAX_SERIAL_LENGTH = 200
MAX_SOURCE_LENGTH = 100
OPTIONAL_NUMBERS: dict[str, tuple[float, float]] = {
    "alt_m": (-1_000.0, 30_000.0),
    "height_m": (-1_000.0, 30_000.0),
    "speed_mps": (0.0, 1_000.0),
    "heading_deg": (0.0, 360.0),
    "vspeed_mps": (-1_000.0, 1_000.0),
    "accuracy_m": (0.0, 100_000.0),
}


@dataclass(frozen=True)
class Rejection:
    """Why the report at `index` of the batch was refused."""

    index: int
    detail: str
    pointer: str


class BadReport(ValueError):
    """One field of a report is wrong; the message says which and why."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field


def parse_report(raw: Any, *, now: datetime, future_tolerance: timedelta) -> Report:
    """A Report from its JSON form, or BadReport naming the field."""
    if not isinstance(raw, dict):
        raise BadReport("", "a report must be a JSON object")
    serial = raw.get("serial")
    if not isinstance(serial, str) or not serial.strip() or len(serial) > MAX_SERIAL_LENGTH:
        raise BadReport(
            "serial", f"serial must be a non-empty string of at most {MAX_SERIAL_LENGTH}"
        )
    time = _parse_time(raw.get("time"), now, future_tolerance)
    lon, lat = _position(raw, "lon", "lat")
    operator = None
    if raw.get("operator_lon") is not None or raw.get("operator_lat") is not None:
        operator = _position(raw, "operator_lon", "operator_lat")
    source = raw.get("source")
    if source is not None and (not isinstance(source, str) or len(source) > MAX_SOURCE_LENGTH):
        raise BadReport("source", f"source must be a string of at most {MAX_SOURCE_LENGTH}")
    return Report.checked(  # everything Report.__post_init__ would check is checked above
        serial.strip(),
        time,
        lon,
        lat,
        alt_m=_optional_number(raw, "alt_m"),
        height_m=_optional_number(raw, "height_m"),
        speed_mps=_optional_number(raw, "speed_mps"),
        heading_deg=_optional_number(raw, "heading_deg"),
        vspeed_mps=_optional_number(raw, "vspeed_mps"),
        accuracy_m=_optional_number(raw, "accuracy_m"),
        source=source,
        operator_lon=operator[0] if operator else None,
        operator_lat=operator[1] if operator else None,
    )


def _parse_time(value: Any, now: datetime, future_tolerance: timedelta) -> datetime:
    if not isinstance(value, str):
        raise BadReport("time", "time must be an RFC 3339 string with a UTC offset")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadReport("time", f"time {value!r} is not RFC 3339") from None
    if parsed.tzinfo is None:
        raise BadReport("time", "time needs a UTC offset (RFC 3339), e.g. 2026-11-22T10:00:00Z")
    parsed = parsed.astimezone(UTC)
    if parsed > now + future_tolerance:
        ahead = (parsed - now).total_seconds()
        raise BadReport(
            "time", f"time is {ahead:.0f} s in the future (tolerance {future_tolerance})"
        )
    return parsed


def _position(raw: dict[str, Any], lon_key: str, lat_key: str) -> tuple[float, float]:
    lon = _number(raw.get(lon_key), lon_key)
    lat = _number(raw.get(lat_key), lat_key)
    if not -90.0 <= lat <= 90.0:
        hint = f" (swapped? {lon_key}={lon} would be a latitude)" if abs(lon) <= 90 else ""
        raise BadReport(lat_key, f"{lat_key} {lat} is outside -90..90{hint}")
    if not -180.0 <= lon <= 180.0:
        raise BadReport(lon_key, f"{lon_key} {lon} is outside -180..180")
    return lon, lat


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadReport(field, f"{field} must be a number")
    if not math.isfinite(value):
        raise BadReport(field, f"{field} must be finite, not {value}")
    return float(value)


def _optional_number(raw: dict[str, Any], field: str) -> float | None:
    value = raw.get(field)
    if value is None:
        return None
    number = _number(value, field)
    low, high = OPTIONAL_NUMBERS[field]
    if not low <= number <= high:
        raise BadReport(field, f"{field} {number} is outside {low:g}..{high:g}")
    return number


def validate_batch(
    raws: list[Any], *, now: datetime, future_tolerance: timedelta
) -> tuple[list[tuple[int, Report]], list[Rejection]]:
    """The good reports with their batch index, and a Rejection for each bad one."""
    good: list[tuple[int, Report]] = []
    bad: list[Rejection] = []
    for index, raw in enumerate(raws):
        try:
            good.append((index, parse_report(raw, now=now, future_tolerance=future_tolerance)))
        except BadReport as exc:
            pointer = f"/reports/{index}/{exc.field}" if exc.field else f"/reports/{index}"
            bad.append(Rejection(index, str(exc), pointer))
    return good, bad
