"""Repair source polygons that their publisher left invalid (a ring touching itself, say).

The zone API refuses invalid geometry; an importer may repair it first, and says so in the
zone's description so that the operator sees what changed.
"""

from __future__ import annotations

from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.polygon import orient

AREA_TOLERANCE = 0.001  # a repair may not change the area by more than 0.1 %


def repair_feature(feature: dict[str, Any]) -> dict[str, Any]:
    """The feature, with an invalid (Multi)Polygon made valid when that keeps its area."""
    geometry = feature.get("geometry") or {}
    if geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return feature
    original = shape(geometry)
    if original.is_valid:
        return feature
    reason = shapely.is_valid_reason(original)
    repaired = _polygonal(shapely.make_valid(original))
    if repaired is None or abs(repaired.area - original.area) > AREA_TOLERANCE * original.area:
        return feature
    properties = dict(feature.get("properties") or {})
    note = f"Geometry repaired on import ({reason})."
    properties["description"] = " ".join(p for p in (properties.get("description"), note) if p)
    return {**feature, "geometry": mapping(repaired), "properties": properties}


def _polygonal(geometry: Any) -> Polygon | MultiPolygon | None:
    """The polygonal part of a make_valid result, oriented as RFC 7946 wants."""
    parts = [g for g in getattr(geometry, "geoms", [geometry]) if isinstance(g, Polygon)]
    nested = [g for g in getattr(geometry, "geoms", []) if isinstance(g, MultiPolygon)]
    parts += [p for g in nested for p in g.geoms]
    parts = [orient(p, 1.0) for p in parts if not p.is_empty]
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)
