"""Zone and exemption bodies, and their conversion to domain values."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from skyguard.geofence.schedule import parse_schedule
from skyguard.geofence.shapes import Area, area_to_geojson, parse_area
from skyguard.geofence.zones import ZoneSpec

Category = Literal["prohibited", "restricted", "warning"]
AltitudeRef = Literal["AGL", "AMSL"]


class Strict(BaseModel):
    """Finite numbers only; unknown fields ignored."""

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")


class ZoneProperties(Strict):
    """What a zone is: its name, category, altitude band and when it applies."""

    name: str = Field(min_length=1, max_length=300)
    category: Category = Field("prohibited", description="ED-269 restriction level.")
    floor_m: float = Field(0.0, description="Bottom of the band in metres (see altitude_ref).")
    ceiling_m: float | None = Field(None, description="Top of the band in metres; null: unlimited.")
    altitude_ref: AltitudeRef = Field(
        "AGL", description="AGL: above ground; AMSL: above sea level."
    )
    active_from: AwareDatetime | None = Field(None, description="RFC 3339; absent: permanent.")
    active_until: AwareDatetime | None = Field(None, description="RFC 3339, exclusive.")
    schedule: dict[str, Any] | None = Field(
        None,
        description='Weekly schedule: {"timezone": "Europe/Zurich", "windows": '
        '[{"days": ["sat", "sun"], "start": "08:00", "end": "18:00"}]}',
    )
    warning_buffer_m: float = Field(0.0, ge=0, description="Approach alerts this far outside.")
    radius_m: float | None = Field(None, description="Circle radius; only with a Point geometry.")
    authority: str | None = None
    description: str | None = None


class ZoneFeatureIn(Strict):
    """A zone as a GeoJSON Feature: Polygon, MultiPolygon, or Point with properties.radius_m."""

    type: Literal["Feature"]
    geometry: dict[str, Any] = Field(description="RFC 7946 geometry, lon/lat WGS84.")
    properties: ZoneProperties


class ZonePropertiesPatch(Strict):
    """Any subset of the properties; null clears a nullable one."""

    name: str | None = Field(None, min_length=1, max_length=300)
    category: Category | None = None
    floor_m: float | None = None
    ceiling_m: float | None = None
    altitude_ref: AltitudeRef | None = None
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None
    schedule: dict[str, Any] | None = None
    warning_buffer_m: float | None = Field(None, ge=0)
    radius_m: float | None = None
    authority: str | None = None
    description: str | None = None


class ZonePatch(Strict):
    """A partial edit: a new geometry, some properties, or both."""

    type: Literal["Feature"] = "Feature"
    geometry: dict[str, Any] | None = None
    properties: ZonePropertiesPatch = Field(default_factory=ZonePropertiesPatch)


def spec_from_feature(body: ZoneFeatureIn, max_vertices: int) -> ZoneSpec:
    """Validate the geometry and properties together into a ZoneSpec."""
    p = body.properties
    area = parse_area(body.geometry, radius_m=p.radius_m, max_vertices=max_vertices)
    return ZoneSpec(
        name=p.name,
        area=area,
        category=p.category,
        floor_m=p.floor_m,
        ceiling_m=p.ceiling_m,
        altitude_ref=p.altitude_ref,
        active_from=p.active_from,
        active_until=p.active_until,
        schedule=parse_schedule(p.schedule) if p.schedule is not None else None,
        warning_buffer_m=p.warning_buffer_m,
        authority=p.authority,
        description=p.description,
    )


NOT_NULL = {"name", "category", "floor_m", "altitude_ref", "warning_buffer_m"}


def spec_from_patch(current: ZoneSpec, patch: ZonePatch, max_vertices: int) -> ZoneSpec:
    """The current spec with the patch applied, validated as a whole."""
    given = patch.properties.model_dump(include=patch.properties.model_fields_set)
    changes: dict[str, Any] = {k: v for k, v in given.items() if k != "radius_m"}
    for key in NOT_NULL & changes.keys():
        if changes[key] is None:
            changes.pop(key)
    if "schedule" in changes and changes["schedule"] is not None:
        changes["schedule"] = parse_schedule(changes["schedule"])
    if patch.geometry is not None or "radius_m" in given:
        changes["area"] = _patched_area(current, patch.geometry, given, max_vertices)
    return current.with_changes(**changes)


def _patched_area(
    current: ZoneSpec, geometry: dict[str, Any] | None, given: dict[str, Any], max_vertices: int
) -> Area:
    """The new area: a new geometry, or the current one with a new radius.

    A circle keeps its radius when only its centre moves; a circle becoming a polygon drops it.
    """
    if geometry is None:
        geometry = area_to_geojson(current.area)
    kept_radius = current.area.radius_m if geometry.get("type") == "Point" else None
    radius_m = given.get("radius_m", kept_radius)
    return parse_area(geometry, radius_m=radius_m, max_vertices=max_vertices)


class ExemptionIn(Strict):
    """An authorisation for one drone in one zone."""

    serial: str = Field(min_length=1, max_length=200)
    valid_from: AwareDatetime
    valid_until: AwareDatetime
    floor_m: float | None = Field(None, description="Optional band the exemption is limited to.")
    ceiling_m: float | None = None
    reason: str | None = None
