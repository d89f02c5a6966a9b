"""The `skyguard` command: --help everywhere, and `serve --bootstrap` (what `make run` does)
end to end on a fresh embedded cluster: served, ready, fixtures in, stopped cleanly, reused."""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from skyguard.cli import build_parser, main
from skyguard.store.embedded import EmbeddedPostgres

COMMANDS = [
    [],
    ["serve"],
    ["migrate"],
    ["keys"],
    ["keys", "create"],
    ["fixtures"],
    ["fixtures", "load"],
    ["retention"],
    ["db"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "skyguard")
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    assert "usage: skyguard" in capsys.readouterr().out


def test_keys_create_refuses_unknown_role(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["keys", "create", "--role", "pilot", "--name", "x"])
    assert "invalid choice" in capsys.readouterr().err


def test_retention_drops_days_past_it(database_url, monkeypatch, capsys):
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.begin() as conn:  # a committed partition for a day long gone
        conn.execute(
            text("SELECT skyguard_ensure_position_partitions(ARRAY[now() - interval '400 days'])")
        )
    monkeypatch.setenv("SKYGUARD_DATABASE_URL", database_url)
    assert main(["retention", "--days", "365"]) == 0
    found = re.search(r"dropped 1 day\(s\) of reports: (positions_\d{8})", capsys.readouterr().out)
    assert found
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT to_regclass(:name)"), {"name": found.group(1)}) is None
    engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir, port):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGUARD_")}
    env["SKYGUARD_DATA_DIR"] = str(data_dir)
    argv = [sys.executable, "-m", "skyguard.cli", "serve", "--bootstrap", "--port", str(port)]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def wait_ready(port, process, timeout_s=90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("server did not become ready")


def stop_server(process) -> str:
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    return output


def test_serve_bootstrap_runs_the_quick_start(tmp_path):
    data_dir = tmp_path / "data"
    cluster = EmbeddedPostgres(data_dir)
    try:
        port = free_port()
        first = start_server(data_dir, port)
        wait_ready(port, first)
        assert cluster.is_running()
        output = stop_server(first)
        key = re.search(r"(sg_[A-Za-z0-9_-]{20,})", output)
        assert key, output
        assert not cluster.is_running(), "the cluster must stop with the server that started it"

        second = start_server(data_dir, port)
        wait_ready(port, second)
        auth = {"Authorization": f"Bearer {key.group(1)}"}
        zones = httpx.get(f"http://127.0.0.1:{port}/v1/zones", headers=auth).json()
        drones = httpx.get(f"http://127.0.0.1:{port}/v1/drones", headers=auth).json()
        docs = httpx.get(f"http://127.0.0.1:{port}/docs")
        output = stop_server(second)
        assert "an admin key exists already" in output
        assert "0 new zones" in output, "fixtures must not load twice"
        assert len(zones["features"]) == 4
        assert len(drones["drones"]) == 4
        assert docs.status_code == 200
        assert not cluster.is_running()
    finally:
        cluster.stop()
        shutil.rmtree(cluster.home, ignore_errors=True)


def test_embedded_cluster_runs_unprivileged(tmp_path):
    cluster = EmbeddedPostgres(tmp_path / "data")
    try:
        assert cluster.start() is True
        assert cluster.start() is False, "a running cluster is reused"
        owner = (cluster.pgdata / "PG_VERSION").stat().st_uid
        if os.geteuid() == 0:
            assert owner != 0
    finally:
        cluster.stop()
        shutil.rmtree(cluster.home, ignore_errors=True)
    assert not cluster.is_running()


def test_serve_on_a_given_database_becomes_uvicorn_itself(database_url):
    """With nothing to stop afterwards, serve execs uvicorn: the process supervising the
    workers does not keep the command line's imports."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKYGUARD_")}
    env["SKYGUARD_DATABASE_URL"] = database_url
    port = free_port()
    argv = [sys.executable, "-m", "skyguard.cli", "serve", "--port", str(port), "--workers", "2"]
    server = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_ready(port, server)
        command_line = Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")
        assert b"uvicorn" in command_line
        assert b"skyguard.app:from_environment" in command_line
    finally:
        assert "skyguard serving on" in stop_server(server)
