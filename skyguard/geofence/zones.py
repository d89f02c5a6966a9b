"""Zone values: what an operator draws, validated, independent of storage and HTTP."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from skyguard.errors import InvalidInput
from skyguard.geofence.schedule import Schedule
from skyguard.geofence.shapes import Area

CATEGORIES = ("prohibited", "restricted", "warning")
ALTITUDE_REFS = ("AGL", "AMSL")


@dataclass(frozen=True)
class ZoneSpec:
    """Everything that defines a zone in one version: area, band, time and category."""

    name: str
    area: Area
    category: str = "prohibited"
    floor_m: float = 0.0
    ceiling_m: float | None = None
    altitude_ref: str = "AGL"
    active_from: datetime | None = None
    active_until: datetime | None = None
    schedule: Schedule | None = None
    warning_buffer_m: float = 0.0
    authority: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        check_zone(self)

    def with_changes(self, **changes: Any) -> ZoneSpec:
        """A copy with some fields replaced, validated again."""
        return replace(self, **changes)

    def applies_at(self, at: datetime) -> bool:
        """Whether the zone is in force at `at` (its window, then its weekly schedule)."""
        if self.active_from is not None and at < self.active_from:
            return False
        if self.active_until is not None and at >= self.active_until:
            return False
        return self.schedule is None or self.schedule.applies_at(at)

    def applies_between(self, start: datetime, end: datetime) -> bool:
        """Whether the zone is in force at some instant from `start` to `end`, both included."""
        if self.active_from is not None and end < self.active_from:
            return False
        if self.active_until is not None and start >= self.active_until:
            return False
        if self.schedule is None:
            return True
        start = start if self.active_from is None else max(start, self.active_from)
        if self.active_until is not None and end >= self.active_until:
            end = self.active_until - timedelta(microseconds=1)
        return self.schedule.applies_between(start, end)


def check_zone(spec: ZoneSpec) -> None:
    """Raise InvalidInput, naming the property, for a zone that cannot make sense."""
    if not spec.name.strip():
        raise InvalidInput("name must not be empty", "/properties/name")
    if spec.category not in CATEGORIES:
        allowed = ", ".join(CATEGORIES)
        raise InvalidInput(f"category must be one of {allowed}", "/properties/category")
    if spec.altitude_ref not in ALTITUDE_REFS:
        raise InvalidInput("altitude_ref must be AGL or AMSL", "/properties/altitude_ref")
    _check_band(spec)
    _check_window(spec)


def _check_band(spec: ZoneSpec) -> None:
    for field in ("floor_m", "ceiling_m", "warning_buffer_m"):
        value = getattr(spec, field)
        if value is not None and not math.isfinite(value):
            raise InvalidInput(f"{field} must be a finite number", f"/properties/{field}")
    if spec.ceiling_m is not None and spec.ceiling_m <= spec.floor_m:
        raise InvalidInput("ceiling_m must be above floor_m", "/properties/ceiling_m")
    if spec.warning_buffer_m < 0:
        raise InvalidInput("warning_buffer_m must not be negative", "/properties/warning_buffer_m")


def _check_window(spec: ZoneSpec) -> None:
    for field in ("active_from", "active_until"):
        value = getattr(spec, field)
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"{field} needs a UTC offset (RFC 3339)", f"/properties/{field}")
    if spec.active_from and spec.active_until and spec.active_until <= spec.active_from:
        raise InvalidInput("active_until must be after active_from", "/properties/active_until")
