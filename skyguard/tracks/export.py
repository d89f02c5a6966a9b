"""Track exports: a drone's stored reports as GeoJSON (a LineString per flight with per-vertex
times, or Points) or CSV, optionally simplified to a tolerance in metres. Pure: no SQL."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import shapely

from skyguard.geofence.frames import Frame
from skyguard.geofence.reports import Report

# Every stored field of a report, in CSV column order; the CSV header is exactly these names.
FIELDS = (
    "serial", "time", "lon", "lat", "alt_m", "height_m", "speed_mps", "heading_deg",
    "vspeed_mps", "accuracy_m", "source", "operator_lon", "operator_lat",
)  # fmt: skip
MEASURES = FIELDS[4:10] + FIELDS[11:]  # the optional numbers, listed per vertex in GeoJSON


@dataclass(frozen=True)
class Leg:
    """Consecutive reports of one flight (the flight's id when one is stored for them)."""

    flight_id: uuid.UUID | None
    reports: Sequence[Report]


@dataclass(frozen=True)
class FlightSpan:
    """A stored flight's time span, for naming the legs of a track."""

    id: uuid.UUID
    started_at: datetime
    ended_at: datetime


def split_legs(
    reports: Sequence[Report], gap: timedelta, flights: Sequence[FlightSpan]
) -> list[Leg]:
    """Cut time-ordered reports where the gap exceeds `gap`; name each leg by its flight."""
    legs: list[list[Report]] = []
    for report in reports:
        if not legs or report.time - legs[-1][-1].time > gap:
            legs.append([])
        legs[-1].append(report)
    return [Leg(_flight_of(leg, flights), leg) for leg in legs]


def _flight_of(leg: Sequence[Report], flights: Sequence[FlightSpan]) -> uuid.UUID | None:
    first, last = leg[0].time, leg[-1].time
    for flight in flights:
        if flight.started_at <= last and first <= flight.ended_at:
            return flight.id
    return None


def simplify(reports: Sequence[Report], tolerance_m: float) -> list[Report]:
    """Douglas-Peucker in metres (a local azimuthal-equidistant frame); kept reports are
    original ones, with their own times, first and last always kept."""
    if tolerance_m <= 0 or len(reports) < 3:
        return list(reports)
    lons = np.array([r.lon for r in reports])
    lats = np.array([r.lat for r in reports])
    frame = Frame.at(float(np.median(lons)), float(np.median(lats)))
    x, y = frame.forward(lons, lats)
    kept = shapely.get_coordinates(
        shapely.simplify(shapely.linestrings(x, y), tolerance_m, preserve_topology=False)
    )
    out: list[Report] = []
    position = 0
    for kx, ky in kept:  # kept vertices are original ones, in order: walk forward to each
        while position < len(reports) and (x[position], y[position]) != (kx, ky):
            position += 1
        if position < len(reports):
            out.append(reports[position])
            position += 1
    return out


def _iso(time: datetime) -> str:
    return time.isoformat().replace("+00:00", "Z")


def leg_feature(leg: Leg) -> dict[str, Any]:
    """A leg as one GeoJSON Feature: a LineString (a Point for a single report) with per-vertex
    `times` and measures, index for index with the coordinates."""
    coordinates = [[r.lon, r.lat] for r in leg.reports]
    geometry: dict[str, Any] = (
        {"type": "LineString", "coordinates": coordinates}
        if len(coordinates) > 1
        else {"type": "Point", "coordinates": coordinates[0]}
    )
    first = leg.reports[0]
    properties: dict[str, Any] = {
        "serial": first.serial,
        "flight_id": str(leg.flight_id) if leg.flight_id else None,
        "started_at": _iso(first.time),
        "ended_at": _iso(leg.reports[-1].time),
        "times": [_iso(r.time) for r in leg.reports],
        "source": [r.source for r in leg.reports],
    }
    for name in MEASURES:
        properties[name] = [getattr(r, name) for r in leg.reports]
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def point_feature(report: Report, flight_id: uuid.UUID | None) -> dict[str, Any]:
    """One report as a GeoJSON Point Feature with every field as a property."""
    properties = {name: getattr(report, name) for name in FIELDS}
    properties["time"] = _iso(report.time)
    properties["flight_id"] = str(flight_id) if flight_id else None
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [report.lon, report.lat]},
        "properties": properties,
    }


def track_geojson(legs: Sequence[Leg], *, points: bool) -> dict[str, Any]:
    """A FeatureCollection: a Feature per leg, or (points) a Feature per report."""
    if points:
        features = [point_feature(r, leg.flight_id) for leg in legs for r in leg.reports]
    else:
        features = [leg_feature(leg) for leg in legs]
    return {"type": "FeatureCollection", "features": features}


def track_csv(legs: Sequence[Leg]) -> Iterator[str]:
    """CSV lines with a header: every field of each report, then its flight id."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*FIELDS, "flight_id"))
    for leg in legs:
        for report in leg.reports:
            row = [getattr(report, name) for name in FIELDS]
            row[1] = _iso(report.time)
            writer.writerow(["" if v is None else v for v in row] + [leg.flight_id or ""])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()
