"""The telemetry fast path: the common POST answered without the router, exactly as the route
answers it; every other request passed on to the route, body intact."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.api.test_alerting import draw

NOW = datetime.now(UTC).replace(microsecond=0)


def report(serial: str, seconds_ago: float = 5.0, lon: float = 8.54, **extra):
    time = (NOW - timedelta(seconds=seconds_ago)).isoformat()
    return {"serial": serial, "time": time, "lon": lon, "lat": 47.305, **extra}


def counts(app) -> tuple[int, int]:
    seen = app.state.telemetry_fast_path
    return seen.answered, seen.passed_on


async def test_a_small_post_is_answered_here_exactly_as_the_route_answers(app, client, headers):
    await draw(client, headers)  # the square 8.50..8.51 E
    integrator = headers["integrator"]
    before = counts(app)
    fast = await client.post("/v1/telemetry", json=report("FP-1", lon=8.505), headers=integrator)
    assert counts(app) == (before[0] + 1, before[1])
    routed = await client.post(  # an Idempotency-Key takes the route
        "/v1/telemetry",
        json=report("FP-2", lon=8.505),
        headers={**integrator, "Idempotency-Key": "fp-2"},
    )
    assert counts(app) == (before[0] + 1, before[1] + 1)
    assert fast.status_code == routed.status_code == 200
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    one, two = fast.json(), routed.json()
    assert [a["serial"] for a in one.pop("alerts")] == ["FP-1"]
    assert [a["serial"] for a in two.pop("alerts")] == ["FP-2"]
    assert one == two == {"accepted": 1, "duplicates": 0, "duplicate_indexes": [], "rejected": []}


async def test_a_single_bad_report_is_the_routes_422_problem(app, client, headers):
    before = counts(app)
    r = await client.post(
        "/v1/telemetry", json=report("FP-BAD", lon=200.0), headers=headers["integrator"]
    )
    assert counts(app)[0] == before[0] + 1
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["pointer"] == "/lon" and "outside -180..180" in r.json()["detail"]


async def test_other_requests_go_to_the_route_with_their_body(app, client, headers):
    integrator = headers["integrator"]
    before = counts(app)
    cases = [
        ({}, json.dumps(report("FP-3")).encode(), 401),  # no key
        (headers["reviewer"], json.dumps(report("FP-4")).encode(), 403),
        (integrator, b'{"serial": ', 422),  # not JSON
        (integrator, b"x" * (app.state.settings.max_body_bytes + 1), 413),
        (integrator, json.dumps({"reports": [report(f"FP-L{i}") for i in range(400)]}), 200),
        (integrator, json.dumps({"reports": [report(f"FP-B{i}") for i in range(101)]}), 200),
    ]
    assert len(cases[-2][1]) > 32_768, "a large batch: sent on unread"
    for extra, body, status in cases:
        r = await client.post("/v1/telemetry", content=body, headers=extra)
        assert r.status_code == status, r.text
    assert counts(app) == (before[0], before[1] + len(cases))
    assert r.json()["accepted"] == 101, "a batch over the group-commit size, stored by the route"

    async def streamed():  # no Content-Length: chunked
        yield json.dumps(report("FP-5"))[:20].encode()
        yield json.dumps(report("FP-5"))[20:].encode()

    r = await client.post("/v1/telemetry", content=streamed(), headers=integrator)
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert counts(app) == (before[0], before[1] + len(cases) + 1)
