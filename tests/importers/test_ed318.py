"""ED-318 / ED-269 importers: the Swiss test data set, the InterUSS samples, small cases."""

import copy
import json
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import shape

from skyguard.importers.ed269 import features_from_ed269
from skyguard.importers.ed318 import features_from_ed318

ZONES_DIR = Path(__file__).resolve().parents[3] / "shared/data/zones"
SWISS_ZIP = ZONES_DIR / "SwissGeozones_ED318_Testdaten.zip"
CATEGORIES = {"prohibited", "restricted", "warning"}


@pytest.fixture(scope="module")
def swiss_document() -> dict[str, Any]:
    with zipfile.ZipFile(SWISS_ZIP) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(".json")]
        return json.loads(archive.read(member))


@pytest.fixture(scope="module")
def swiss_zones(swiss_document):
    return features_from_ed318(swiss_document)


def by_name(zones, name):
    (zone,) = [z for z in zones if z["properties"]["name"] == name]
    return zone


def ed318_feature(geometry, **properties):
    props = {"identifier": "T1", "name": [{"text": "Test zone", "lang": "en-GB"}]}
    props["type"] = "PROHIBITED"
    return {"type": "Feature", "geometry": geometry, "properties": {**props, **properties}}


def ed318_doc(*features):
    return {"type": "FeatureCollection", "features": list(features)}


SQUARE = [[[8.0, 47.0, 400.0], [8.01, 47.0, 400.0], [8.01, 47.01, 400.0], [8.0, 47.01, 400.0]]]


def layer(lower=0, upper=120, lower_ref="AGL", upper_ref="AGL", uom="m"):
    return {
        "lower": lower,
        "lowerReference": lower_ref,
        "upper": upper,
        "upperReference": upper_ref,
        "uom": uom,
    }


def polygon(**layer_args):
    return {"type": "Polygon", "coordinates": SQUARE, "layer": layer(**layer_args)}


# --- the Swiss data set ------------------------------------------------------------------------


def test_every_swiss_feature_converts_to_one_zone(swiss_document, swiss_zones):
    assert len(swiss_document["features"]) == 1179
    # Every Swiss feature is a single layered Polygon, so one zone each.
    assert len(swiss_zones) == 1179


def test_every_swiss_zone_has_name_category_and_band(swiss_zones):
    for zone in swiss_zones:
        props = zone["properties"]
        assert zone["type"] == "Feature"
        assert isinstance(props["name"], str) and props["name"].strip()
        assert props["category"] in CATEGORIES
        assert props["altitude_ref"] in {"AGL", "AMSL"}
        assert props["floor_m"] >= 0
        assert props["ceiling_m"] is None or props["ceiling_m"] > props["floor_m"]
    # All Swiss zones are REQ_AUTHORIZATION: flying needs an exemption permit.
    assert Counter(z["properties"]["category"] for z in swiss_zones) == {"restricted": 1179}


def test_swiss_geometries_are_2d_closed_and_counter_clockwise(swiss_zones):
    invalid = []
    for zone in swiss_zones:
        geometry = zone["geometry"]
        assert geometry["type"] == "Polygon"
        for ring in geometry["coordinates"]:
            assert ring[0] == ring[-1]
            assert all(len(position) == 2 for position in ring)
        polygon_shape = shape(geometry)
        assert polygon_shape.exterior.is_ccw
        assert all(not hole.is_ccw for hole in polygon_shape.interiors)
        if not polygon_shape.is_valid:
            invalid.append(zone["properties"]["name"])
    # The source publishes one self-touching ring; the importer reports shapes as published.
    assert invalid == ["VBS_8 Monte Ceneri 1"]


def test_swiss_unlimited_ceilings_and_mixed_references(swiss_document, swiss_zones):
    layers = [f["geometry"]["layer"] for f in swiss_document["features"]]
    unlimited = sum(1 for lay in layers if lay["upper"] == 99999)
    assert unlimited == 875
    assert sum(1 for z in swiss_zones if z["properties"]["ceiling_m"] is None) == unlimited
    # 66 zones are 0 m AGL .. 99999 m AMSL: unlimited ceiling, so the floor's AGL holds.
    mixed = [i for i, lay in enumerate(layers) if lay["lowerReference"] != lay["upperReference"]]
    assert len(mixed) == 66
    assert {swiss_zones[i]["properties"]["altitude_ref"] for i in mixed} == {"AGL"}


def test_swiss_airport_zone_properties(swiss_zones):
    props = by_name(swiss_zones, "LSZB Bern-Belp 2")["properties"]
    assert props["category"] == "restricted"
    assert (props["floor_m"], props["ceiling_m"], props["altitude_ref"]) == (60.0, None, "AGL")
    assert props["authority"] == "Skyguide"
    assert "exemption permit" in props["description"]
    assert "active_from" not in props and "schedule" not in props


def test_swiss_seasonal_zones_get_active_window(swiss_zones):
    seasonal = [z for z in swiss_zones if "active_from" in z["properties"]]
    assert len(seasonal) == 38
    assert all("active_until" in z["properties"] for z in seasonal)
    props = by_name(swiss_zones, "LSWM Männlichen")["properties"]
    assert props["active_from"] == "2024-11-01T00:00:00+01:00"
    assert props["active_until"] == "2025-04-30T00:00:00+02:00"
    # "ANY day, 00:00-00:00" schedules cover the whole week and are dropped.
    assert not any("schedule" in z["properties"] for z in swiss_zones)


def test_importer_does_not_mutate_its_input(swiss_document):
    before = copy.deepcopy(swiss_document["features"][:50])
    features_from_ed318({"features": swiss_document["features"][:50]})
    assert swiss_document["features"][:50] == before


# --- altitude, category, geometry, time ------------------------------------------------------


@pytest.mark.parametrize(
    ("layer_args", "expected"),
    [
        ({"upper": 400, "uom": "ft"}, (0.0, 121.92, "AGL")),
        ({"lower": 100, "upper": 500, "uom": "FT"}, (30.48, 152.4, "AGL")),
        ({"upper": 99999, "uom": "ft"}, (0.0, None, "AGL")),
        ({"upper": None}, (0.0, None, "AGL")),
        ({"upper": 900, "lower_ref": "AMSL", "upper_ref": "AMSL"}, (0.0, 900.0, "AMSL")),
        ({"upper": 900, "lower_ref": "W84", "upper_ref": "WGS84"}, (0.0, 900.0, "AMSL")),
        ({"upper": 150, "lower_ref": "SFC", "upper_ref": "AGL"}, (0.0, 150.0, "AGL")),
        ({"upper": 800, "lower_ref": "AGL", "upper_ref": "AMSL"}, (0.0, 800.0, "AMSL")),
        ({"lower": 30, "upper": 99999, "upper_ref": "AMSL"}, (30.0, None, "AGL")),
    ],
)
def test_altitude_band_conversion(layer_args, expected):
    (zone,) = features_from_ed318(ed318_doc(ed318_feature(polygon(**layer_args))))
    props = zone["properties"]
    assert (props["floor_m"], props["ceiling_m"], props["altitude_ref"]) == expected


def test_mixed_band_that_cannot_be_held_is_refused():
    feature = ed318_feature(polygon(lower=50, upper=900, upper_ref="AMSL"))
    with pytest.raises(ValueError, match="AGL floor"):
        features_from_ed318(ed318_doc(feature))


@pytest.mark.parametrize(
    ("source", "category"),
    [
        ("PROHIBITED", "prohibited"),
        ("REQ_AUTHORIZATION", "restricted"),
        ("REQ_AUTHORISATION", "restricted"),
        ("CONDITIONAL", "restricted"),
        ("USPACE", "restricted"),
        ("NO_RESTRICTION", "warning"),
        ("SOMETHING_NEW", "warning"),
    ],
)
def test_category_mapping(source, category):
    (zone,) = features_from_ed318(ed318_doc(ed318_feature(polygon(), type=source)))
    assert zone["properties"]["category"] == category


def test_circle_becomes_point_with_radius_and_drops_altitude():
    circle = {
        "type": "Point",
        "coordinates": [8.55, 47.37, 410.0],
        "extent": {"subType": "Circle", "radius": 500},
        "layer": layer(upper=150),
    }
    (zone,) = features_from_ed318(ed318_doc(ed318_feature(circle)))
    assert zone["geometry"] == {"type": "Point", "coordinates": [8.55, 47.37]}
    assert zone["properties"]["radius_m"] == 500.0
    assert zone["properties"]["ceiling_m"] == 150.0


def test_geometry_collection_gives_one_zone_per_layer_named_in_order():
    collection = {
        "type": "GeometryCollection",
        "geometries": [
            polygon(upper=60),
            polygon(lower=60, upper=120),
            polygon(lower=120, upper=None),
        ],
    }
    zones = features_from_ed318(ed318_doc(ed318_feature(collection)))
    names = [z["properties"]["name"] for z in zones]
    assert names == ["Test zone", "Test zone (2)", "Test zone (3)"]
    bands = [(z["properties"]["floor_m"], z["properties"]["ceiling_m"]) for z in zones]
    assert bands == [(0.0, 60.0), (60.0, 120.0), (120.0, None)]


def test_clockwise_input_ring_is_reoriented_and_closed():
    clockwise = {"type": "Polygon", "coordinates": [SQUARE[0][::-1]], "layer": layer()}
    (zone,) = features_from_ed318(ed318_doc(ed318_feature(clockwise)))
    ring = zone["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 5
    assert shape(zone["geometry"]).exterior.is_ccw


def test_language_neutral_name_preferred_and_identifier_fallback():
    names = [{"text": "Zone DE", "lang": "de-CH"}, {"text": "Zone X"}]
    (named,) = features_from_ed318(ed318_doc(ed318_feature(polygon(), name=names)))
    assert named["properties"]["name"] == "Zone X"
    (unnamed,) = features_from_ed318(ed318_doc(ed318_feature(polygon(), name=None)))
    assert unnamed["properties"]["name"] == "T1"


def test_weekly_schedule_and_periods():
    periods = [
        {
            "startDateTime": "2026-06-01T00:00:00+02:00",
            "endDateTime": "2026-07-01T00:00:00+02:00",
            "schedule": [
                {"day": ["SAT", "SUN"], "startTime": "18:00:00+02:00", "endTime": "00:00:00+02:00"}
            ],
        },
        {
            "startDateTime": "2026-05-01T00:00:00Z",
            "endDateTime": "2026-06-15T00:00:00Z",
            "schedule": [{"day": ["WED"], "startTime": "19:30+02:00", "endTime": "22:30+02:00"}],
        },
    ]
    feature = ed318_feature(polygon(), limitedApplicability=periods)
    (zone,) = features_from_ed318(ed318_doc(feature))
    props = zone["properties"]
    assert props["active_from"] == "2026-05-01T00:00:00+00:00"
    assert props["active_until"] == "2026-07-01T00:00:00+02:00"
    assert props["schedule"] == {
        "timezone": "Etc/GMT-2",
        "windows": [
            {"days": ["sat", "sun"], "start": "18:00", "end": "24:00"},
            {"days": ["wed"], "start": "19:30", "end": "22:30"},
        ],
    }


def test_open_ended_period_leaves_that_side_unbounded():
    periods = [{"startDateTime": "2026-12-31T18:00:00+01:00"}]
    (zone,) = features_from_ed318(ed318_doc(ed318_feature(polygon(), limitedApplicability=periods)))
    assert zone["properties"]["active_from"] == "2026-12-31T18:00:00+01:00"
    assert "active_until" not in zone["properties"]


# --- samples and ED-269 ----------------------------------------------------------------------


def test_interuss_ed318_sample():
    document = json.loads((ZONES_DIR / "interuss_cis_source_sample_ed318.json").read_text())
    zones = features_from_ed318(document)
    assert [z["properties"]["name"] for z in zones] == [
        "LSZB Bern-Belp 2",
        "Geschütztes Naturobjekt Langmatt",
        "LSTB Bellechasse (Flugplatzperimeter)",
    ]


def test_interuss_ed269_sample():
    document = json.loads((ZONES_DIR / "interuss_cis_source_sample_ed269.json").read_text())
    (zone,) = features_from_ed269(document)
    props = zone["properties"]
    assert props["name"] == "LSXX City Sample"
    assert props["category"] == "restricted"
    assert (props["floor_m"], props["ceiling_m"], props["altitude_ref"]) == (0.0, None, "AGL")
    assert props["authority"] == "LSXX City Sample"
    assert "active_from" not in props and "schedule" not in props
    assert zone["geometry"]["type"] == "Polygon"
    assert shape(zone["geometry"]).is_valid and shape(zone["geometry"]).exterior.is_ccw


def test_ed269_circle_in_feet_and_several_geometry_items():
    item = {
        "uomDimensions": "FT",
        "lowerLimit": "0",
        "lowerVerticalReference": "AGL",
        "upperLimit": "400",
        "upperVerticalReference": "AGL",
        "horizontalProjection": {"type": "Circle", "center": [8.5, 47.4], "radius": 1000},
    }
    upper = {**item, "lowerLimit": "400", "upperLimit": "UNL"}
    zone = {
        "name": "Heliport",
        "restriction": "PROHIBITED",
        "applicability": [
            {
                "permanent": "NO",
                "startDateTime": "2026-12-01T08:00:00+01:00",
                "endDateTime": "2026-12-02T20:00:00+01:00",
                "dailyPeriod": [{"day": ["MON", "TUE"], "startTime": "08:00", "endTime": "20:00"}],
            }
        ],
        "geometry": [item, upper],
    }
    first, second = features_from_ed269({"UASZoneList": [zone]})
    assert first["geometry"] == {"type": "Point", "coordinates": [8.5, 47.4]}
    assert first["properties"]["radius_m"] == pytest.approx(304.8)
    assert first["properties"]["ceiling_m"] == 121.92
    assert first["properties"]["category"] == "prohibited"
    assert first["properties"]["schedule"]["timezone"] == "UTC"
    assert first["properties"]["active_until"] == "2026-12-02T20:00:00+01:00"
    assert second["properties"]["name"] == "Heliport (2)"
    assert (second["properties"]["floor_m"], second["properties"]["ceiling_m"]) == (121.92, None)
