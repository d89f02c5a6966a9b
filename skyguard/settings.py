"""Runtime settings, read from SKYGUARD_* environment variables; built in main, never at import."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from skyguard.geofence.episodes import EngineConfig


class Settings(BaseSettings):
    """Everything skyguard can be told from outside."""

    model_config = SettingsConfigDict(env_prefix="SKYGUARD_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of a PostGIS server; unset: run the embedded cluster.",
    )
    data_dir: Path = Field(
        default=Path(".skyguard"), description="Where the embedded cluster keeps its files."
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=5_000_000, description="Largest accepted request body.")
    max_zone_vertices: int = Field(default=10_000, description="Most vertices in one zone.")
    page_limit_default: int = 100
    page_limit_max: int = 1_000
    db_pool_size: int = 10
    max_batch_reports: int = Field(default=10_000, description="Most reports in one POST.")
    future_tolerance_s: float = Field(
        default=30.0, description="How far ahead of our clock a report's time may be."
    )
    exit_distance_m: float = Field(
        default=20.0, description="An alert closes at once when the drone is this far outside."
    )
    exit_time_s: float = Field(
        default=30.0, description="...or when it has been outside this long (exit hysteresis)."
    )
    silence_timeout_s: float = Field(
        default=60.0, description="No report for this long closes alerts as lost_contact."
    )
    flight_gap_s: float = Field(
        default=120.0, gt=0, description="A gap between reports longer than this ends a flight."
    )
    retention_days: float | None = Field(
        default=None,
        gt=0,
        description="Drop stored reports (whole days) older than this; unset keeps them all.",
    )
    retention_interval_s: float = Field(
        default=3600.0, gt=0, description="How often old report partitions are looked for."
    )
    rollup_interval_s: float = Field(
        default=30.0, gt=0, description="How often closed hours are rolled up for district stats."
    )
    rollup_hours_per_tick: int = Field(
        default=6, ge=1, description="Most hours one district roll-up tick rebuilds."
    )
    track_max_points: int = Field(
        default=200_000, ge=1, description="Most reports one track export reads."
    )
    key_cache_s: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a worker trusts an API key it has looked up; a key revoked in the "
        "database stops working within this time.",
    )
    group_commit_reports: int = Field(
        default=100,
        ge=0,
        description="Telemetry requests of at most this many reports (and no Idempotency-Key) "
        "share a transaction with others that arrive meanwhile; 0 commits each on its own.",
    )
    group_commit_max: int = Field(
        default=2_000, ge=1, description="Most reports in one shared (group-committed) batch."
    )
    live_window_s: float = Field(
        default=60.0, description="The live view shows drones seen this recently."
    )
    webhook_allow_hosts: str = Field(
        default="",
        description="Comma list of hosts and CIDRs webhooks may target although they resolve "
        "to loopback, link-local, private, multicast or unspecified addresses.",
    )
    webhook_timeout_s: float = Field(
        default=5.0, gt=0, description="Per webhook POST, address check included."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Attempts before a webhook delivery is marked failed."
    )
    webhook_backoff_s: tuple[float, ...] = Field(
        default=(5, 30, 120, 600, 3600, 10800, 21600),
        min_length=1,
        description="Wait after the 1st, 2nd, ... failed attempt; the last repeats.",
    )
    webhook_poll_s: float = Field(
        default=1.0, gt=0, description="How often an idle webhook sender looks for due deliveries."
    )
    webhook_batch_size: int = Field(
        default=50, ge=1, description="Deliveries one sender claims at once."
    )
    webhook_senders: int = Field(
        default=2, ge=1, description="Concurrent webhook senders per worker."
    )
    freeze_heap: bool = Field(
        default=True,
        description="After the zone index is built (at start and after a zone edit), collect "
        "garbage once, then keep the objects alive out of later full collections: walking the "
        "index made each one a pause of about 100 ms every second or two under load.",
    )
    gc_young_threshold: int = Field(
        default=50_000,
        ge=0,
        description="Objects allocated (net) before the garbage collector's youngest pass; "
        "Python's default, 700, ran it about seventy times a batch of 1,000 reports and its "
        "passes cost about 6 % of the ingest path's CPU. 0 keeps Python's default.",
    )
    run_background_tasks: bool = Field(
        default=True, description="Run background tasks (webhook delivery, ...) in this process."
    )
    expiry_interval_s: float = Field(
        default=1.0, description="How often alerts are closed or opened by time alone."
    )
    stream_poll_s: float = Field(
        default=1.0, description="An alert stream looks for events this often without NOTIFY."
    )
    stream_keepalive_s: float = Field(
        default=15.0, description="A quiet alert stream sends a keep-alive comment this often."
    )
    stream_gap_wait_s: float = Field(
        default=10.0,
        description="Longest an alert stream waits for an event id still being committed.",
    )
    stream_max_reads: int = Field(
        default=4, description="Alert-stream reads at once per worker; the rest queue for a turn."
    )

    def engine_config(self) -> EngineConfig:
        """The geofence engine's hysteresis and silence settings."""
        return EngineConfig(
            exit_distance_m=self.exit_distance_m,
            exit_time_s=self.exit_time_s,
            silence_timeout_s=self.silence_timeout_s,
        )

    def sqlalchemy_url(self) -> str:
        """The URL with the async psycopg driver, whatever flavour was configured."""
        if self.database_url is None:
            raise ValueError("database_url is unset: start the embedded cluster first")
        return to_psycopg_url(self.database_url)


def to_psycopg_url(url: str) -> str:
    """Normalise postgres:// and postgresql:// URLs to the psycopg 3 driver."""
    for prefix in (
        "postgresql+psycopg://",
        "postgresql+psycopg2://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
