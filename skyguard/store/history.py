"""Stored history read back in one statement each, on the GiST index of positions.geom and the
day partitions of positions.time: reports in a box and window, and who entered a zone when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import ColumnElement, Select, TextClause, exists, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from skyguard.geofence.episodes import EngineConfig
from skyguard.store.stats import Box, box_sql, split_box
from skyguard.store.tables import Drone, Exemption, Position
from skyguard.store.zone_rules import ZoneRules
from skyguard.store.zones import iso_utc, load_zone, spec_of

REPORT_FIELDS = (
    "serial", "time", "lon", "lat", "alt_m", "height_m", "speed_mps", "heading_deg",
    "vspeed_mps", "accuracy_m", "source", "operator_lon", "operator_lat", "received_at",
)  # fmt: skip


def in_box(box: Box) -> ColumnElement[bool]:
    """Position.geom lies in the box (edges included), on the GiST index."""
    envelopes = (func.ST_MakeEnvelope(*part, 4326) for part in split_box(box))
    return or_(*(Position.geom.op("&&")(envelope) for envelope in envelopes))


@dataclass(frozen=True)
class AreaQuery:
    """Reports in a box and [since, until), optionally of one drone, after a keyset cursor."""

    box: Box
    since: datetime
    until: datetime
    serial: str | None = None
    after: tuple[datetime, str] | None = None
    after_serial: str | None = None
    limit: int = 100


def _area_conditions(query: AreaQuery) -> list[ColumnElement[bool]]:
    conditions = [in_box(query.box), Position.time >= query.since, Position.time < query.until]
    if query.serial is not None:
        conditions.append(Position.serial == query.serial)
    return conditions


def area_statement(query: AreaQuery) -> Select[Any]:
    """Reports in the box and window by (time, serial), limit + 1 of them, with `registered`."""
    columns = [getattr(Position, name) for name in REPORT_FIELDS]
    statement = (
        select(*columns, Drone.registered)
        .outerjoin(Drone, Drone.serial == Position.serial)
        .where(*_area_conditions(query))
        .order_by(Position.time, Position.serial)
        .limit(query.limit + 1)
    )
    if query.after is not None:
        at, serial = query.after
        # the plain bound lets the planner prune partitions; the row comparison breaks ties
        statement = statement.where(
            Position.time >= at, tuple_(Position.time, Position.serial) > tuple_(at, serial)
        )
    return statement


async def reports_in_area(session: AsyncSession, query: AreaQuery) -> list[dict[str, Any]]:
    """Reports in the box and window by (time, serial), at most limit + 1, with `registered`."""
    rows = await session.execute(area_statement(query))
    return [_report_json(row._mapping) for row in rows]


def _report_json(row: Any) -> dict[str, Any]:
    body = {name: row[name] for name in (*REPORT_FIELDS, "registered")}
    body["time"], body["received_at"] = iso_utc(row["time"]), iso_utc(row["received_at"])
    return body


async def drones_in_area(session: AsyncSession, query: AreaQuery) -> list[dict[str, Any]]:
    """One row per drone with reports in the box and window, by serial, at most limit + 1."""
    statement = (
        select(
            Position.serial,
            Drone.registered,
            func.min(Position.time).label("first_at"),
            func.max(Position.time).label("last_at"),
            func.count().label("report_count"),
        )
        .outerjoin(Drone, Drone.serial == Position.serial)
        .where(*_area_conditions(query))
        .group_by(Position.serial, Drone.registered)
        .order_by(Position.serial)
        .limit(query.limit + 1)
    )
    if query.after_serial is not None:
        statement = statement.where(Position.serial > query.after_serial)
    rows = (await session.execute(statement)).mappings()
    return [
        {**row, "first_at": iso_utc(row["first_at"]), "last_at": iso_utc(row["last_at"])}
        for row in rows
    ]


# A report is a candidate when it, or its stored segment from the report before (see
# store/positions.py: only segments the engine would draw, at most `gap` long and no faster than
# `speed`), touches the zone's bounding box: both found on GiST indexes, in the window's day
# partitions. Only candidates inside the zone, or whose segment crosses it, have their true
# neighbours looked up by primary key.
INTRUSIONS = """
WITH zone AS (SELECT geom FROM zones WHERE id = :zone_id),
nearby AS (
    SELECT p.serial, p.time, p.geom, p.segment, {alt_p} AS alt,
           CASE WHEN p.lon BETWEEN :zw AND :ze AND p.lat BETWEEN :zs AND :zn
                THEN ST_Covers(z.geom, p.geom) ELSE false END AS covers
    FROM positions p CROSS JOIN zone z
    WHERE ({box} OR {segment_box}) AND p.time >= :since AND p.time < :until
),
judged AS (
    SELECT n.*, CASE WHEN n.covers THEN {rule_n} ELSE false END AS inside FROM nearby n
),
relevant AS (
    SELECT n.serial, n.time, n.geom, n.alt, n.covers, n.inside
    FROM judged n CROSS JOIN zone z
    WHERE n.inside OR ST_Intersects(z.geom, n.segment)
),
linked AS (
    SELECT r.*, b.time AS b_time, b.geom AS b_geom, b.alt AS b_alt,
           coalesce(b.covers, false) AS b_covers, coalesce(b.inside, false) AS b_inside,
           a.time AS a_time, a.geom AS a_geom,
           coalesce(a.covers, false) AS a_covers, coalesce(a.inside, false) AS a_inside
    FROM relevant r
    LEFT JOIN LATERAL (
        SELECT c.*, c.covers AND {rule_c} AS inside
        FROM (SELECT q.serial, q.time, q.geom, {alt_q} AS alt, ST_Covers(z.geom, q.geom) AS covers
              FROM positions q CROSS JOIN zone z
              WHERE q.serial = r.serial AND q.time < r.time AND q.time >= r.time - :gap
              ORDER BY q.time DESC LIMIT 1) c
    ) b ON {straight_b}
    LEFT JOIN LATERAL (
        SELECT c.*, c.covers AND {rule_c} AS inside
        FROM (SELECT q.serial, q.time, q.geom, {alt_q} AS alt, ST_Covers(z.geom, q.geom) AS covers
              FROM positions q CROSS JOIN zone z
              WHERE r.inside AND q.serial = r.serial AND q.time > r.time
                AND q.time <= r.time + :gap
              ORDER BY q.time LIMIT 1) c
    ) a ON {straight_a}
),
marked AS (
    SELECT l.*,
           l.inside AND NOT (l.b_inside AND l.b_time >= :since) AS starts,
           l.inside AND NOT (l.a_inside AND l.a_time < :until) AS ends,
           NOT l.inside AND l.b_time IS NOT NULL AND NOT l.b_inside
               AND ST_Intersects(z.geom, ST_MakeLine(l.b_geom, l.geom)) AS crossing
    FROM linked l CROSS JOIN zone z
),
points AS (
    SELECT m.*, coalesce(inc.entered_at, m.time) AS entered_at,
           coalesce(inc.entry, m.geom) AS entry,
           CASE WHEN m.crossing THEN inc.exited_at
                WHEN m.ends AND m.a_covers AND NOT m.a_inside THEN m.a_time
                ELSE nxt.exited_at END AS exited_at,
           CASE WHEN m.crossing THEN inc.exit
                WHEN m.ends AND m.a_covers AND NOT m.a_inside THEN m.a_geom
                ELSE nxt.exit END AS exit,
           m.crossing AND {rule_mid} AS crossed_in_rules
    FROM marked m CROSS JOIN zone z
    LEFT JOIN LATERAL (  -- along the segment from the report before: first in, last out
        SELECT m.b_time + (m.time - m.b_time) * s.f_in AS entered_at,
               m.b_time + (m.time - m.b_time) * s.f_out AS exited_at,
               m.b_time + (m.time - m.b_time) * (s.f_in + s.f_out) / 2 AS mid_at,
               m.b_alt + (m.alt - m.b_alt) * (s.f_in + s.f_out) / 2 AS mid_alt,
               s.entry, s.exit
        FROM (SELECT ST_LineLocatePoint(t.line, t.entry) AS f_in,
                     ST_LineLocatePoint(t.line, t.exit) AS f_out, t.entry, t.exit
              FROM (SELECT l.line, ST_ClosestPoint(l.hit, m.b_geom) AS entry,
                           ST_ClosestPoint(l.hit, m.geom) AS exit
                    FROM (SELECT ST_MakeLine(m.b_geom, m.geom) AS line,
                                 ST_Intersection(ST_MakeLine(m.b_geom, m.geom), z.geom) AS hit) l
                   ) t) s
        -- a report before inside the zone but outside its band or time: entered at this report
        WHERE (m.crossing OR (m.starts AND NOT m.b_covers)) AND m.b_time IS NOT NULL
          AND NOT m.b_inside
        OFFSET 0  -- kept a subquery, so the geometry is computed only where the WHERE holds
    ) inc ON true
    LEFT JOIN LATERAL (  -- along the segment to the report after: last out
        SELECT m.time + (m.a_time - m.time) * ST_LineLocatePoint(s.line, s.exit) AS exited_at,
               s.exit
        FROM (SELECT ST_MakeLine(m.geom, m.a_geom) AS line,
                     ST_ClosestPoint(ST_Intersection(ST_MakeLine(m.geom, m.a_geom), z.geom),
                                     m.a_geom) AS exit) s
        WHERE m.ends AND m.a_time IS NOT NULL AND NOT m.a_inside AND NOT m.a_covers
        OFFSET 0
    ) nxt ON true
    WHERE m.inside OR m.crossing
),
runs AS (
    SELECT p.*, sum(p.starts::int) OVER (PARTITION BY p.serial ORDER BY p.time) AS run
    FROM points p WHERE p.inside
),
intrusions AS (
    SELECT serial,
           min(entered_at) FILTER (WHERE starts) AS entered_at,
           min(exited_at) FILTER (WHERE ends) AS exited_at,
           max(time) AS last_inside_at,
           count(*) AS report_count,
           (array_agg(entry) FILTER (WHERE starts))[1] AS entry,
           (array_agg(exit) FILTER (WHERE ends))[1] AS exit,
           false AS crossed,
           bool_or(starts AND b_inside) AS began_before_since,
           bool_or(ends AND a_inside) AS continues_after_until,
           min(coalesce(b_time, time)) FILTER (WHERE starts) AS from_at,
           max(coalesce(a_time, time)) FILTER (WHERE ends) AS to_at
    FROM runs GROUP BY serial, run
    UNION ALL
    SELECT serial, entered_at, exited_at, exited_at, 0, entry, exit, true, false, false,
           b_time, time
    FROM points WHERE crossed_in_rules AND exited_at IS NOT NULL
)
SELECT i.*, ST_X(i.entry) AS entry_lon, ST_Y(i.entry) AS entry_lat, ST_X(i.exit) AS exit_lon,
       ST_Y(i.exit) AS exit_lat, d.registered, coalesce(al.ids, '{{}}') AS alert_ids
FROM intrusions i
LEFT JOIN drones d ON d.serial = i.serial
LEFT JOIN LATERAL (
    SELECT array_agg(a.id ORDER BY a.opened_at) AS ids FROM alerts a
    WHERE a.zone_id = :zone_id AND a.serial = i.serial AND a.kind = 'breach'
      AND a.opened_at >= i.from_at AND a.opened_at <= i.to_at
) al ON true
WHERE CAST(:after_at AS timestamptz) IS NULL
   OR (i.entered_at, i.serial) > (CAST(:after_at AS timestamptz), CAST(:after_serial AS text))
ORDER BY i.entered_at, i.serial
LIMIT :limit
"""


def _straight(start: str, end: str) -> str:
    """SQL: the segment start -> end is one the engine would draw (see INTRUSIONS)."""
    return (
        f"ST_Distance({start}.geom::geography, {end}.geom::geography)"
        f" <= :speed * extract(epoch FROM {end}.time - {start}.time)"
        f" AND abs(ST_X({start}.geom) - ST_X({end}.geom)) <= 180"
    )


@dataclass(frozen=True)
class IntrusionQuery:
    """Who entered a zone in [since, until), paged by (entered_at, serial)."""

    zone_id: uuid.UUID
    since: datetime
    until: datetime
    after: tuple[datetime, str] | None = None
    limit: int = 100


def intrusion_statement(
    query: IntrusionQuery, bounds: Box, rule: EngineConfig, rules: ZoneRules
) -> tuple[TextClause, dict[str, Any]]:
    """The intrusion query for a zone whose geometry has these bounds and whose band, time and
    exemption rules are `rules`, and its parameters."""
    box, box_params = box_sql("p.geom", bounds)
    segment_box = box.replace("p.geom", "p.segment")
    statement = INTRUSIONS.format(
        box=box,
        segment_box=segment_box,
        straight_b=_straight("b", "r"),
        straight_a=_straight("r", "a"),
        alt_p=rules.altitude("p"),
        alt_q=rules.altitude("q"),
        rule_n=rules.eligible("n.time", "n.alt", "n.serial"),
        rule_c=rules.eligible("c.time", "c.alt", "c.serial"),
        rule_mid=rules.eligible("inc.mid_at", "inc.mid_alt", "m.serial"),
    )
    after_at, after_serial = query.after if query.after is not None else (None, None)
    params = {
        **box_params,
        **dict(zip(("zw", "zs", "ze", "zn"), bounds, strict=True)),
        "zone_id": query.zone_id,
        "since": query.since,
        "until": query.until,
        "gap": rule.silence_timeout,
        "speed": rule.max_segment_speed_mps,
        "after_at": after_at,
        "after_serial": after_serial,
        "limit": query.limit + 1,
        **rules.params,
    }
    return text(statement), params


async def zone_intrusions(
    session: AsyncSession, query: IntrusionQuery, rule: EngineConfig
) -> list[tuple[tuple[datetime, str], dict[str, Any]]]:
    """Intrusions into the zone as it is now (its shape, band, time and the exemptions granted
    in it), keyed for paging, at most limit + 1; or NotFound."""
    zone = await load_zone(session, query.zone_id)
    granted = select(exists().where(Exemption.zone_id == query.zone_id))
    rules = ZoneRules.of(spec_of(zone), exempting=bool(await session.scalar(granted)))
    statement, params = intrusion_statement(query, to_shape(zone.geom).bounds, rule, rules)
    rows = await session.execute(statement, params)
    return [((r.entered_at, r.serial), _intrusion_json(r._mapping)) for r in rows]


def _intrusion_json(row: Any) -> dict[str, Any]:
    end = row["exited_at"] or row["last_inside_at"]
    exit_point = {"lon": row["exit_lon"], "lat": row["exit_lat"]} if row["exited_at"] else None
    return {
        "serial": row["serial"],
        "registered": row["registered"],
        "entered_at": iso_utc(row["entered_at"]),
        "exited_at": iso_utc(row["exited_at"]),
        "last_inside_at": iso_utc(row["last_inside_at"]),
        "duration_s": (end - row["entered_at"]).total_seconds(),
        "report_count": row["report_count"],
        "entry": {"lon": row["entry_lon"], "lat": row["entry_lat"]},
        "exit": exit_point,
        "crossed_between_reports": row["crossed"],
        "began_before_since": row["began_before_since"],
        "continues_after_until": row["continues_after_until"],
        "alert_ids": [str(a) for a in row["alert_ids"]],
    }
