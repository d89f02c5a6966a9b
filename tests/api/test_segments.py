"""Each stored report keeps its straight segment from the drone's report before, when the engine
would draw it: the index that finds crossings between reports reads these."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def at(seconds, lon, serial="SEG-1"):
    time = (T0 + timedelta(seconds=seconds)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": 47.3}


async def post(client, headers, *reports):
    r = await client.post(
        "/v1/telemetry", json={"reports": list(reports)}, headers=headers["integrator"]
    )
    assert r.status_code == 200, r.text


async def segments(connection):
    rows = await connection.execute(
        text("SELECT time, ST_AsText(segment) FROM positions WHERE serial = 'SEG-1' ORDER BY time")
    )
    return [(round((t - T0).total_seconds()), wkt) for t, wkt in rows]


async def test_segments_join_reports_in_a_batch_and_across_batches(client, headers, connection):
    await post(client, headers, at(0, 8.5), at(10, 8.501))
    await post(client, headers, at(20, 8.502))  # its predecessor is stored, not in the batch
    assert await segments(connection) == [
        (0, None),
        (10, "LINESTRING(8.5 47.3,8.501 47.3)"),
        (20, "LINESTRING(8.501 47.3,8.502 47.3)"),
    ]


async def test_no_segment_over_a_gap_or_faster_than_flight(client, headers, connection):
    await post(client, headers, at(0, 8.5), at(61, 8.501))  # 61 s apart: over the gap
    await post(client, headers, at(62, 8.6))  # 7.5 km in a second: a glitch
    assert await segments(connection) == [(0, None), (61, None), (62, None)]
