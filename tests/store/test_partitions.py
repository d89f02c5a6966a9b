"""Two workers making the same new day's partition at once: the second waits, neither fails."""

import threading

import psycopg
from sqlalchemy.engine import make_url

ENSURE = "SELECT skyguard_ensure_position_partitions(ARRAY[now() - interval '700 days'])"
PART = "SELECT to_char((now() - interval '700 days') AT TIME ZONE 'UTC', 'YYYYMMDD')"


def test_concurrent_workers_creating_one_day_both_succeed(database_url):
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    first, second = psycopg.connect(dsn), psycopg.connect(dsn)
    outcome: dict[str, object] = {}

    def late_worker() -> None:
        try:
            outcome["made"] = second.execute(ENSURE).fetchone()
            second.commit()
        except psycopg.Error as exc:
            outcome["error"] = exc

    try:
        made_first = first.execute(ENSURE).fetchone()  # creates the day, not committed yet
        waiting = threading.Thread(target=late_worker)
        waiting.start()
        waiting.join(timeout=0.5)
        assert waiting.is_alive(), "the second worker should wait for the first to commit"
        first.commit()
        waiting.join(timeout=10)
        assert "error" not in outcome, outcome.get("error")
        assert (made_first, outcome["made"]) == ((1,), (0,))
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            day = conn.execute(PART).fetchone()
            assert day is not None
            conn.execute(f"DROP TABLE IF EXISTS positions_{day[0]}")
        first.close()
        second.close()
