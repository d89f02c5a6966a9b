"""A 2xx means committed: a killed server and a crashed database lose no acknowledged report."""

import shutil
import signal
from datetime import UTC, datetime, timedelta

import httpx
import psycopg

from skyguard.store.embedded import EmbeddedPostgres
from tests.test_cli import free_port, start_server, wait_ready

BATCHES = 20
PER_BATCH = 250


def batch(number: int, start: datetime) -> dict:
    reports = []
    for i in range(PER_BATCH):
        seq = number * PER_BATCH + i
        time = start + timedelta(seconds=seq * 0.1)
        reports.append(
            {
                "serial": f"DUR-{seq % 7}",
                "time": time.isoformat(),
                "lon": 8.5 + seq * 1e-6,
                "lat": 47.4,
            }
        )
    return {"reports": reports}


def stored_reports(cluster: EmbeddedPostgres) -> int:
    with psycopg.connect(f"host={cluster.socket_dir} user=skyguard dbname=skyguard") as conn:
        row = conn.execute("SELECT count(*) FROM positions WHERE serial LIKE 'DUR-%'").fetchone()
    assert row is not None
    return int(row[0])


def test_no_acknowledged_report_is_lost_when_server_and_database_crash(tmp_path):
    data_dir = tmp_path / "data"
    cluster = EmbeddedPostgres(data_dir)
    start = datetime.now(UTC) - timedelta(hours=1)
    try:
        port = free_port()
        server = start_server(data_dir, port)
        wait_ready(port, server)
        output = ""
        while "sg_" not in output:
            output += server.stdout.readline()
        key = output[output.index("sg_") :].split()[0]
        auth = {"Authorization": f"Bearer {key}"}
        acknowledged = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as client:
            for number in range(BATCHES):
                r = client.post("/v1/telemetry", json=batch(number, start))
                assert r.status_code == 200, r.text
                acknowledged += r.json()["accepted"]
        # a crash, not a shutdown: the server is killed and PostgreSQL stops without a checkpoint
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=30)
        cluster._run(["pg_ctl", "stop", "-m", "immediate", "-D", str(cluster.pgdata)])
        assert not cluster.is_running()

        restarted = start_server(data_dir, port)
        wait_ready(port, restarted)
        assert acknowledged == BATCHES * PER_BATCH
        assert stored_reports(cluster) == acknowledged
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=auth, timeout=30) as client:
            again = client.post("/v1/telemetry", json=batch(0, start)).json()
        assert again["accepted"] == 0 and again["duplicates"] == PER_BATCH
        restarted.send_signal(signal.SIGINT)
        restarted.communicate(timeout=60)
    finally:
        cluster.stop()
        shutil.rmtree(cluster.home, ignore_errors=True)
