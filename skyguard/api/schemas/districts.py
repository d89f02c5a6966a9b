"""District bodies: a GeoJSON Feature validated as zones are, Polygon or MultiPolygon only."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from skyguard.api.schemas.zones import Strict
from skyguard.errors import InvalidGeometry
from skyguard.geofence.shapes import parse_area
from skyguard.store.districts import DistrictSpec


class DistrictProperties(Strict):
    """What a district is called."""

    name: str = Field(min_length=1, max_length=300, description="Unique.")
    code: str | None = Field(None, max_length=100, description="An official code, if any.")
    description: str | None = Field(None, max_length=4000)


class DistrictFeatureIn(Strict):
    """A district as a GeoJSON Feature: Polygon or MultiPolygon (holes allowed), lon/lat WGS84."""

    type: Literal["Feature"]
    geometry: dict[str, Any] = Field(description="RFC 7946 Polygon or MultiPolygon.")
    properties: DistrictProperties


def spec_from_feature(body: DistrictFeatureIn, max_vertices: int) -> DistrictSpec:
    """Validate the geometry with the zones' rules into a DistrictSpec."""
    kind = body.geometry.get("type")
    if kind not in ("Polygon", "MultiPolygon"):
        detail = f"unsupported geometry type {kind!r}: a district is a Polygon or MultiPolygon"
        raise InvalidGeometry(detail=detail, pointer="/geometry/type")
    p = body.properties
    area = parse_area(body.geometry, max_vertices=max_vertices)
    return DistrictSpec(name=p.name, code=p.code, description=p.description, area=area)
