"""EUROCAE ED-269 (UAS geographical zones, JSON ``UASZoneList``) -> skyguard zone Features.

Same mapping as `skyguard.importers.ed318` (see its docstring), with ED-269's field names:
``restriction`` for the category, ``name`` and ``message`` as plain strings, ``applicability``
periods (``permanent`` ``YES`` means no start/end; ``dailyPeriod`` for the schedule) and a
``geometry`` list whose items carry ``uomDimensions`` (``M``/``FT``, also the unit of a circle's
radius), ``lowerLimit``/``upperLimit`` with their vertical references, and a
``horizontalProjection`` that is a Polygon or a ``Circle`` (``center`` + ``radius``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skyguard.importers.applicability import timing_from_periods
from skyguard.importers.ed318 import (
    Json,
    Part,
    assemble_features,
    category_for,
    horizontal_geometry,
    join_texts,
    metres_per,
    text_of,
    vertical_band,
    zone_properties,
)


def features_from_ed269(document: Mapping[str, Any]) -> list[Json]:
    """Convert an ED-269 ``UASZoneList`` document into skyguard zone Features."""
    zones: list[Json] = []
    for zone in document.get("UASZoneList") or []:
        zones.extend(_zones_of_zone(zone))
    return zones


def _zones_of_zone(zone: Mapping[str, Any]) -> list[Json]:
    authorities = zone.get("zoneAuthority") or [{}]
    common = zone_properties(
        name=text_of(zone.get("name")) or zone.get("identifier"),
        category=category_for(zone.get("restriction")),
        authority=text_of(authorities[0].get("name")),
        description=join_texts(zone.get("message"), zone.get("restrictionConditions")),
        timing=timing_from_periods([_period(p) for p in zone.get("applicability") or []]),
    )
    return assemble_features(common, [_part(item) for item in zone.get("geometry") or []])


def _period(applicability: Mapping[str, Any]) -> Json:
    """An ED-269 applicability in the ED-318 time-period shape."""
    permanent = str(applicability.get("permanent") or "").upper() == "YES"
    return {
        "startDateTime": None if permanent else applicability.get("startDateTime"),
        "endDateTime": None if permanent else applicability.get("endDateTime"),
        "schedule": list(applicability.get("dailyPeriod") or []),
    }


def _part(item: Mapping[str, Any]) -> Part:
    uom = item.get("uomDimensions")
    band = vertical_band(
        (item.get("lowerLimit"), item.get("lowerVerticalReference")),
        (item.get("upperLimit"), item.get("upperVerticalReference")),
        uom,
    )
    projection = item.get("horizontalProjection")
    if not isinstance(projection, Mapping):
        raise ValueError("geometry item has no horizontalProjection")
    geometry, radius_m = horizontal_geometry(projection, metres_per(uom))
    return geometry, radius_m, band
