"""The 1,179 Swiss geozones load through the API, and bbox queries agree with PostGIS."""

import json
import zipfile

from sqlalchemy import text

from skyguard.importers.ed318 import features_from_ed318
from skyguard.importers.repair import repair_feature
from tests.conftest import SHARED

SWISS = SHARED / "data/zones/SwissGeozones_ED318_Testdaten.zip"

BOXES = [
    (8.4, 47.3, 8.7, 47.5),  # Zurich
    (5.9, 45.8, 10.5, 47.8),  # all of Switzerland
    (8.9, 46.1, 8.95, 46.15),  # Monte Ceneri, the repaired zone
    (6.0, 46.1, 6.3, 46.3),  # Geneva
    (7.4, 46.9, 7.5, 47.0),  # Bern
    (9.0, 46.0, 9.001, 46.001),  # a tiny box
    (179.0, -10.0, -179.0, 10.0),  # across the antimeridian: nothing there
    (-10.0, 40.0, 0.0, 45.0),  # nowhere near
]


def swiss_features() -> list[dict]:
    with zipfile.ZipFile(SWISS) as archive:
        document = json.loads(archive.read(archive.namelist()[0]))
    return [repair_feature(f) for f in features_from_ed318(document)]


async def zone_ids_in(client, headers, bbox) -> set[str]:
    url = "/v1/zones?limit=500&bbox=" + ",".join(str(v) for v in bbox)
    found: list[str] = []
    while url:
        body = (await client.get(url, headers=headers)).json()
        found += [f["id"] for f in body["features"]]
        url = body["next"]
    assert len(found) == len(set(found)), "a page repeated a zone"
    return set(found)


async def postgis_ids_in(connection, bbox) -> set[str]:
    west, south, east, north = bbox
    if west <= east:
        boxes = [(west, south, east, north)]
    else:
        boxes = [(west, south, 180, north), (-180, south, east, north)]
    condition = " OR ".join(
        f"ST_Intersects(geom, ST_MakeEnvelope({w}, {s}, {e}, {n}, 4326))" for w, s, e, n in boxes
    )
    rows = await connection.execute(text(f"SELECT id FROM zones WHERE {condition}"))
    return {str(r[0]) for r in rows}


async def test_swiss_zones_load_and_bbox_matches_postgis(client, headers, connection):
    features = swiss_features()
    assert len(features) == 1179
    for feature in features:
        r = await client.post("/v1/zones", json=feature, headers=headers["operator"])
        assert r.status_code == 201, (feature["properties"]["name"], r.text)
    count = (await connection.execute(text("SELECT count(*) FROM zones"))).scalar()
    assert count == 1179
    for bbox in BOXES:
        expected = await postgis_ids_in(connection, bbox)
        assert await zone_ids_in(client, headers["reviewer"], bbox) == expected, bbox
    assert len(await postgis_ids_in(connection, BOXES[1])) == 1179
