"""Weekly schedules: when a zone applies within its active window, in the zone's local time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from skyguard.errors import InvalidInput

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Window:
    """On these weekdays (0 = Monday), from start (inclusive) to end (exclusive), local time.

    An end before the start runs overnight: it ends on the next day.
    """

    days: frozenset[int]
    start_min: int
    end_min: int  # up to 1440: "24:00" is the end of the day

    def is_open(self, day: int, minute: float) -> bool:
        """Whether the window is open on weekday `day` at `minute` after local midnight."""
        if self.start_min < self.end_min:
            return day in self.days and self.start_min <= minute < self.end_min
        started_today = day in self.days and minute >= self.start_min
        started_yesterday = (day - 1) % 7 in self.days and minute < self.end_min
        return started_today or started_yesterday


@dataclass(frozen=True)
class Schedule:
    """A weekly schedule in an IANA time zone."""

    timezone: str
    windows: tuple[Window, ...]

    def applies_at(self, at: datetime) -> bool:
        """Whether some window is open at the UTC instant `at`."""
        local = at.astimezone(ZoneInfo(self.timezone))
        minute = local.hour * 60 + local.minute + local.second / 60
        day = local.weekday()
        return any(w.is_open(day, minute) for w in self.windows)

    def applies_between(self, start: datetime, end: datetime) -> bool:
        """Whether some window is open at an instant from `start` to `end`, both included.

        Windows open and close on whole local minutes, and time zones shift by whole minutes,
        so between the ends the schedule can only change at a whole UTC minute: the ends and
        the whole minutes between them decide. A span of more than a day is taken to apply.
        """
        if self.applies_at(start) or self.applies_at(end):
            return True
        if end - start > timedelta(days=1):
            return True
        minute = start.replace(second=0, microsecond=0) + timedelta(minutes=1)
        while minute < end:
            if self.applies_at(minute):
                return True
            minute += timedelta(minutes=1)
        return False

    def to_json(self) -> dict[str, Any]:
        """The JSON form clients send and get back."""
        return {
            "timezone": self.timezone,
            "windows": [
                {
                    "days": [DAYS[d] for d in sorted(w.days)],
                    "start": _hhmm(w.start_min),
                    "end": _hhmm(w.end_min),
                }
                for w in self.windows
            ],
        }


def parse_schedule(data: Any, pointer: str = "/properties/schedule") -> Schedule:
    """A Schedule from its JSON form, or InvalidInput naming the field at fault."""
    if not isinstance(data, dict):
        raise InvalidInput("schedule must be an object with timezone and windows", pointer)
    zone = data.get("timezone", "UTC")
    try:
        ZoneInfo(str(zone))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {zone!r}", f"{pointer}/timezone") from None
    windows = data.get("windows")
    if not isinstance(windows, list) or not windows:
        raise InvalidInput("windows must be a non-empty list", f"{pointer}/windows")
    parsed = tuple(_parse_window(w, f"{pointer}/windows/{i}") for i, w in enumerate(windows))
    return Schedule(str(zone), parsed)


def _parse_window(data: Any, pointer: str) -> Window:
    if not isinstance(data, dict):
        raise InvalidInput("a window is an object with days, start and end", pointer)
    days = data.get("days")
    if not isinstance(days, list) or not days or any(d not in DAYS for d in days):
        raise InvalidInput(f"days must be a non-empty list of {', '.join(DAYS)}", f"{pointer}/days")
    start = _minutes(data.get("start"), f"{pointer}/start")
    end = _minutes(data.get("end"), f"{pointer}/end")
    if end == start:
        raise InvalidInput(
            "end must differ from start (an end before start runs overnight)", f"{pointer}/end"
        )
    return Window(frozenset(DAYS.index(d) for d in days), start, end)


def _minutes(value: Any, pointer: str) -> int:
    if value == "24:00":
        return 24 * 60
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"{value!r} is not a time as HH:MM", pointer) from None
    return parsed.hour * 60 + parsed.minute


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
