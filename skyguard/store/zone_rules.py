"""A zone's rules besides its shape, as SQL: the engine's verdict (geofence.breach) in PostgreSQL.

A report counts in a zone when the zone covers its position and, as the engine decides:
- its altitude lies in the zone's band (AGL: `height_m`, AMSL: `alt_m`, ends included; a floor
  at or below 0 has no lower limit); an unknown altitude counts as inside;
- the zone applies at its time: its active window, then its weekly schedule in local time;
- the drone holds no exemption valid then (an exemption with a band exempts only an altitude
  known to lie in it).

The expressions take SQL for the time, the altitude in the zone's reference and the serial, so
they judge a stored report as well as a point interpolated along a segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skyguard.geofence.schedule import Schedule
from skyguard.geofence.zones import ZoneSpec

DAY_MIN = 24 * 60


@dataclass(frozen=True)
class ZoneRules:
    """SQL for one zone's band, time and exemption rules, with the parameters it binds."""

    spec: ZoneSpec
    params: dict[str, Any] = field(default_factory=dict)
    exempting: bool = True  # whether any exemption was ever granted in the zone

    @classmethod
    def of(cls, spec: ZoneSpec, *, exempting: bool = True) -> ZoneRules:
        """The rules of a zone version; `exempting=False` for a zone with no exemption at all
        (its reports then skip the exemption lookup)."""
        params: dict[str, Any] = {
            "rule_floor": spec.floor_m,
            "rule_ceiling": spec.ceiling_m,
            "rule_from": spec.active_from,
            "rule_until": spec.active_until,
        }
        if spec.schedule is not None:
            lows, highs = week_intervals(spec.schedule)
            params |= {"rule_tz": spec.schedule.timezone, "rule_lo": lows, "rule_hi": highs}
        return cls(spec, params, exempting)

    def altitude(self, row: str) -> str:
        """SQL: the altitude of a positions row (alias `row`) in the zone's reference."""
        return f"{row}.height_m" if self.spec.altitude_ref == "AGL" else f"{row}.alt_m"

    def eligible(self, time: str, altitude: str, serial: str) -> str:
        """SQL: whether a report at `time` and `altitude` of drone `serial` is in the zone's
        band and time and not exempted (its position aside)."""
        parts = [self._band(altitude), *self._time(time), self._not_exempt(time, altitude, serial)]
        return "(" + (" AND ".join(p for p in parts if p) or "true") + ")"

    def _band(self, altitude: str) -> str:
        spec = self.spec
        if spec.floor_m <= 0.0 and spec.ceiling_m is None:
            return ""
        bounds = []
        if spec.floor_m > 0.0:
            bounds.append(f"{altitude} >= CAST(:rule_floor AS float8)")
        if spec.ceiling_m is not None:
            bounds.append(f"{altitude} <= CAST(:rule_ceiling AS float8)")
        return f"({altitude} IS NULL OR ({' AND '.join(bounds)}))"

    def _time(self, time: str) -> list[str]:
        spec = self.spec
        out = []
        if spec.active_from is not None:
            out.append(f"{time} >= CAST(:rule_from AS timestamptz)")
        if spec.active_until is not None:
            out.append(f"{time} < CAST(:rule_until AS timestamptz)")
        if spec.schedule is not None:
            local = f"({time} AT TIME ZONE CAST(:rule_tz AS text))"
            minute = f"(extract(epoch FROM {local} - date_trunc('week', {local})) / 60)"
            out.append(
                "EXISTS (SELECT 1 FROM unnest(CAST(:rule_lo AS float8[]), "  # noqa: S608 - ours
                "CAST(:rule_hi AS float8[])) AS w(lo, hi) "
                f"WHERE {minute} >= w.lo AND {minute} < w.hi)"
            )
        return out

    def _not_exempt(self, time: str, altitude: str, serial: str) -> str:
        if not self.exempting:
            return ""
        in_band = (
            f"({altitude} IS NOT NULL AND (e.floor_m IS NULL OR {altitude} >= e.floor_m)"
            f" AND (e.ceiling_m IS NULL OR {altitude} <= e.ceiling_m))"
        )
        return (
            "NOT EXISTS (SELECT 1 FROM exemptions e WHERE e.zone_id = :zone_id"  # noqa: S608 - ours
            f" AND e.serial = {serial} AND {time} >= e.valid_from AND {time} < e.valid_until"
            f" AND (e.revoked_at IS NULL OR {time} < e.revoked_at)"
            f" AND ((e.floor_m IS NULL AND e.ceiling_m IS NULL) OR {in_band}))"
        )


def week_intervals(schedule: Schedule) -> tuple[list[float], list[float]]:
    """The schedule's open spans as [low, high) minutes after Monday 00:00 local time (an
    overnight window split at midnight, Sunday's running into Monday)."""
    lows: list[float] = []
    highs: list[float] = []
    for window in schedule.windows:
        for day in sorted(window.days):
            start = day * DAY_MIN + window.start_min
            if window.start_min < window.end_min:
                lows.append(start)
                highs.append(day * DAY_MIN + window.end_min)
                continue
            lows += [start, (day + 1) % 7 * DAY_MIN]
            highs += [(day + 1) * DAY_MIN, (day + 1) % 7 * DAY_MIN + window.end_min]
    return lows, highs
