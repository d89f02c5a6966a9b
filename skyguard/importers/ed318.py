"""EUROCAE ED-318 (UAS geographical zones, GeoJSON) -> skyguard zone Features.

Pure functions over parsed JSON (stdlib only); nothing here touches the network or a database.
The pieces shared with the ED-269 importer (`skyguard.importers.ed269`) live here too.

Mapping decisions:

- Category, from the zone ``type`` (ED-318) or ``restriction`` (ED-269):
  ``PROHIBITED`` -> ``prohibited``; ``REQ_AUTHORIZATION`` / ``REQ_AUTHORISATION`` (both
  spellings occur), ``CONDITIONAL`` and ``USPACE`` -> ``restricted`` (a flight is legal only
  with a permit or under conditions, which skyguard models as an exemption);
  ``NO_RESTRICTION`` and anything unknown -> ``warning`` (advisory).
- Name: a text without ``lang`` (language-neutral) if there is one, else the first text;
  the zone ``identifier`` when there is no name at all.
- Altitudes: ``uom`` ``m`` or ``ft`` (feet become metres); references ``AGL``/``SFC`` -> AGL,
  ``AMSL``/``MSL``/``WGS84``/``W84`` -> AMSL; a missing reference is read as AGL. A missing or
  huge upper limit (``UNL``, or 30 km and above, e.g. the 99999 "unlimited" marker) -> ceiling
  null. skyguard holds one reference per band: when the references differ the ceiling's wins if
  the floor is 0 (the surface, in either reference), the floor's if the ceiling is unlimited;
  any other mixed band is refused with ``ValueError``.
- Time: ``limitedApplicability`` periods -> ``active_from`` (earliest start) / ``active_until``
  (latest end), absent when any period is open on that side or there are none (permanent). Daily
  schedules become a skyguard ``schedule``; the union of several periods' windows is taken
  (conservative: the zone applies at least whenever the source says). Times carry a UTC offset,
  which becomes a fixed-offset zone (``+01:00`` -> ``Etc/GMT-1``); a window ending at midnight
  ends at ``24:00``; a window given by sunrise/sunset events only covers the whole day. A
  schedule that covers every hour of every day, or a period without one, drops the schedule.
- Geometry: Polygon and MultiPolygon (rings re-oriented per RFC 7946: exterior counter-clockwise,
  holes clockwise; a third coordinate dropped); a Point with a ``Circle`` extent (or an ED-269
  ``Circle``) -> Point with ``radius_m``. A GeometryCollection (or a list of geometry items) yields
  one skyguard Feature per item, each with its own altitude band, named ``name``,
  ``name (2)``, ``name (3)``...
- ``authority``: the first zone authority's name; ``description``: ``message`` and
  ``restrictionConditions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise
from typing import Any

from skyguard.importers.applicability import timing_from_periods

Json = dict[str, Any]
Part = tuple[Json, float | None, Json]
"""One horizontal geometry, its circle radius in metres (or None), its altitude band."""

FEET_TO_METRES = 0.3048
UNLIMITED_CEILING_M = 30_000.0

_CATEGORIES = {
    "PROHIBITED": "prohibited",
    "REQ_AUTHORIZATION": "restricted",
    "REQ_AUTHORISATION": "restricted",
    "CONDITIONAL": "restricted",
    "USPACE": "restricted",
}
_REFERENCES = {"AGL": "AGL", "SFC": "AGL", "AMSL": "AMSL", "MSL": "AMSL", "WGS84": "AMSL"}
_REFERENCES["W84"] = "AMSL"
_UNITS = {"M": 1.0, "FT": FEET_TO_METRES}


def features_from_ed318(document: Mapping[str, Any]) -> list[Json]:
    """Convert an ED-318 FeatureCollection into skyguard zone Features."""
    zones: list[Json] = []
    for feature in document.get("features") or []:
        zones.extend(_zones_of_feature(feature))
    return zones


def _zones_of_feature(feature: Mapping[str, Any]) -> list[Json]:
    props: Mapping[str, Any] = feature.get("properties") or {}
    authorities = props.get("zoneAuthority") or [{}]
    common = zone_properties(
        name=text_of(props.get("name")) or props.get("identifier"),
        category=category_for(props.get("type")),
        authority=text_of(authorities[0].get("name")),
        description=join_texts(props.get("message"), props.get("restrictionConditions")),
        timing=timing_from_periods(props.get("limitedApplicability")),
    )
    parts: list[Part] = []
    for item in _geometry_items(feature.get("geometry")):
        layer: Mapping[str, Any] = item.get("layer") or {}
        band = vertical_band(
            (layer.get("lower"), layer.get("lowerReference")),
            (layer.get("upper"), layer.get("upperReference")),
            layer.get("uom"),
        )
        parts.append((*horizontal_geometry(item, 1.0), band))
    return assemble_features(common, parts)


def _geometry_items(geometry: Any) -> list[Mapping[str, Any]]:
    if isinstance(geometry, list):
        return geometry
    if not isinstance(geometry, Mapping):
        raise ValueError("feature has no geometry")
    if geometry.get("type") == "GeometryCollection":
        return list(geometry.get("geometries") or [])
    return [geometry]


def text_of(value: Any) -> str | None:
    """The language-neutral (no ``lang``) text of an ED text list, else its first text."""
    if value is None or isinstance(value, str):
        return (value or "").strip() or None
    texts = [t for t in value if isinstance(t, Mapping) and t.get("text")]
    neutral = [t for t in texts if not t.get("lang")]
    chosen = neutral or texts
    return str(chosen[0]["text"]).strip() if chosen else None


def join_texts(*values: Any) -> str | None:
    """Join the distinct non-empty texts of several ED text fields with a space."""
    texts: list[str] = []
    for value in values:
        text = text_of(value)
        if text and text not in texts:
            texts.append(text)
    return " ".join(texts) or None


def category_for(restriction: Any) -> str:
    """Map an ED-318 type / ED-269 restriction to a skyguard category."""
    return _CATEGORIES.get(str(restriction or "").upper(), "warning")


def to_metres(value: Any, uom: Any) -> float | None:
    """A limit in metres (None when absent or unlimited); ``uom`` is m or ft (default m)."""
    if value is None or (isinstance(value, str) and value.strip().upper() in ("", "UNL")):
        return None
    return round(float(value) * metres_per(uom), 2)


def metres_per(uom: Any) -> float:
    """Metres in one ``uom`` (m or ft, any case; absent means metres)."""
    factor = _UNITS.get(str(uom or "m").upper())
    if factor is None:
        raise ValueError(f"unsupported unit of measure {uom!r}")
    return factor


def vertical_band(lower: tuple[Any, Any], upper: tuple[Any, Any], uom: Any) -> Json:
    """``floor_m``/``ceiling_m``/``altitude_ref`` from (value, reference) limits."""
    floor_m = to_metres(lower[0], uom) or 0.0
    ceiling_m = to_metres(upper[0], uom)
    if ceiling_m is not None and ceiling_m >= UNLIMITED_CEILING_M:
        ceiling_m = None
    lower_ref, upper_ref = _reference(lower[1]), _reference(upper[1])
    if lower_ref == upper_ref or ceiling_m is None:
        ref = lower_ref
    elif floor_m == 0:
        ref = upper_ref
    else:
        raise ValueError(f"cannot hold a {lower_ref} floor with an {upper_ref} ceiling")
    return {"floor_m": floor_m, "ceiling_m": ceiling_m, "altitude_ref": ref}


def _reference(code: Any) -> str:
    ref = _REFERENCES.get(str(code or "AGL").upper())
    if ref is None:
        raise ValueError(f"unsupported vertical reference {code!r}")
    return ref


def horizontal_geometry(item: Mapping[str, Any], radius_factor: float) -> tuple[Json, float | None]:
    """A 2D GeoJSON geometry and circle radius (source units x ``radius_factor`` = metres)."""
    kind = item.get("type")
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": _polygon(item["coordinates"])}, None
    if kind == "MultiPolygon":
        polygons = [_polygon(p) for p in item["coordinates"]]
        return {"type": "MultiPolygon", "coordinates": polygons}, None
    if kind == "Point" and (item.get("extent") or {}).get("subType") == "Circle":
        radius = float(item["extent"]["radius"]) * radius_factor
        return {"type": "Point", "coordinates": _position(item["coordinates"])}, radius
    if kind == "Circle":
        centre = item.get("center") or item["coordinates"]
        radius = float(item["radius"]) * radius_factor
        return {"type": "Point", "coordinates": _position(centre)}, radius
    raise ValueError(f"unsupported zone geometry {kind!r}")


def _position(position: Sequence[Any]) -> list[float]:
    return [float(position[0]), float(position[1])]


def _polygon(rings: Sequence[Sequence[Sequence[Any]]]) -> list[list[list[float]]]:
    polygon = []
    for index, ring in enumerate(rings):
        points = [_position(p) for p in ring]
        if points and points[0] != points[-1]:
            points.append(list(points[0]))
        if (_signed_area(points) > 0) != (index == 0):
            points.reverse()
        polygon.append(points)
    return polygon


def _signed_area(ring: Sequence[Sequence[float]]) -> float:
    """Shoelace area: positive for a counter-clockwise ring."""
    return sum(a[0] * b[1] - b[0] * a[1] for a, b in pairwise(ring)) / 2


def zone_properties(
    *, name: Any, category: str, authority: str | None, description: str | None, timing: Json
) -> Json:
    """The properties every part of one source zone shares."""
    if not name:
        raise ValueError("zone has neither a name nor an identifier")
    props: Json = {"name": str(name), "category": category, **timing}
    if authority:
        props["authority"] = authority
    if description:
        props["description"] = description
    return props


def assemble_features(common: Json, parts: Sequence[Part]) -> list[Json]:
    """One skyguard Feature per part; the second and later parts are named ``name (n)``."""
    features = []
    for number, (geometry, radius_m, band) in enumerate(parts, start=1):
        props = {**common, **band}
        if number > 1:
            props["name"] = f"{common['name']} ({number})"
        if radius_m is not None:
            props["radius_m"] = radius_m
        features.append({"type": "Feature", "geometry": geometry, "properties": props})
    return features
