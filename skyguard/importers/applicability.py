"""ED-318 / ED-269 time applicability -> skyguard ``active_from``/``active_until``/``schedule``.

The rules are listed in the `skyguard.importers.ed318` docstring (section "Time").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

Json = dict[str, Any]

WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


def timing_from_periods(periods: Sequence[Mapping[str, Any]] | None) -> Json:
    """``active_from``/``active_until``/``schedule`` from ED-318-shaped time periods."""
    if not periods:
        return {}
    timing: Json = {}
    starts = [_instant(p.get("startDateTime")) for p in periods]
    ends = [_instant(p.get("endDateTime")) for p in periods]
    if all(s is not None for s in starts):
        timing["active_from"] = min(s for s in starts if s is not None).isoformat()
    if all(e is not None for e in ends):
        timing["active_until"] = max(e for e in ends if e is not None).isoformat()
    dailies = [list(p.get("schedule") or []) for p in periods]
    if all(dailies):
        schedule = schedule_from_daily([d for daily in dailies for d in daily])
        if schedule is not None:
            timing["schedule"] = schedule
    return timing


def _instant(value: Any) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def schedule_from_daily(daily: Sequence[Mapping[str, Any]]) -> Json | None:
    """A skyguard schedule from daily periods; None when they cover the whole week."""
    windows: list[Json] = []
    zones: set[str] = set()
    for period in daily:
        start, start_zone = _clock(period.get("startTime"))
        end, end_zone = _clock(period.get("endTime"))
        zones.update(z for z in (start_zone, end_zone) if z)
        end = "24:00" if end == "00:00" else end
        windows.append({"days": _days(period.get("day")), "start": start, "end": end})
    if any(w["start"] == "00:00" and w["end"] == "24:00" and len(w["days"]) == 7 for w in windows):
        return None
    if len(zones) > 1:
        raise ValueError(f"schedule mixes UTC offsets {sorted(zones)}")
    return {"timezone": zones.pop() if zones else "UTC", "windows": windows}


def _clock(value: Any) -> tuple[str, str | None]:
    """``HH:MM`` (``00:00`` when absent, e.g. an event) and its fixed-offset zone name."""
    if not value:
        return "00:00", None
    match = _CLOCK.match(str(value).strip())
    if match is None:
        raise ValueError(f"unreadable time of day {value!r}")
    hours, minutes, offset = match.groups()
    return f"{hours}:{minutes}", _offset_zone(offset)


def _offset_zone(offset: str | None) -> str:
    if offset is None or offset in ("Z", "+00:00", "-00:00"):
        return "UTC"
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if minutes:
        raise ValueError(f"UTC offset {offset} has no fixed-offset time zone")
    # POSIX-style Etc zones invert the sign: UTC+01:00 is Etc/GMT-1.
    return f"Etc/GMT{'-' if offset[0] == '+' else '+'}{hours}"


def _days(codes: Any) -> list[str]:
    wanted: set[str] = set()
    for code in codes or ["ANY"]:
        day = str(code).lower()[:3]
        if day == "any":
            return list(WEEK)
        if day not in WEEK:
            raise ValueError(f"unknown day {code!r}")
        wanted.add(day)
    return [day for day in WEEK if day in wanted]
