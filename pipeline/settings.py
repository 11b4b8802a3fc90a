"""The one settings model. Read once, at the edge (the CLI, a worker's start)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Plico's configuration, from `PLICO_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="PLICO_", extra="forbid", frozen=True)

    data_dir: Path = Field(
        default=Path("plico-data"),
        description="Root of the embedded default: local object store, SQLite index, quarantine.",
    )
    storage_url: str | None = Field(
        default=None,
        description="Object store: unset = <data_dir>/objects; file:///abs/path = a local folder; "
        "s3://ACCESS_KEY:SECRET_KEY@host:port/bucket?secure=false for MinIO/S3 (key and secret "
        "percent-encoded; options secure=true|false (default true), region=, retries=8, "
        "backoff=0.25 seconds). The bucket must exist: `plico db upgrade` creates it.",
    )
    database_url: str | None = Field(
        default=None,
        description="Index database: unset = SQLite <data_dir>/plico.db; "
        "postgresql://user:password@host:5432/dbname in production (psycopg 3).",
    )
    broker_url: str | None = Field(
        default=None, description="dramatiq broker: redis://... or amqp://...; unset = in-process."
    )
    queue_name: str = Field(
        default="plico", pattern=r"^[a-zA-Z_][a-zA-Z0-9._-]*$",
        description="dramatiq queue of the workers (and Redis key namespace): one per deployment.",
    )
    pipeline_version: str | None = Field(
        default=None,
        description="Version records are read under; unset = the package version. Set a new "
        "one after a fix or a table update, then `plico reprocess` adds record versions.",
    )
    chunk_pages: int = Field(
        default=8, ge=1, le=500,
        description="Pages one worker message prepares: small enough that workers share a batch.",
    )
    page_cache_mb: int = Field(
        default=32, ge=0, le=16_384,
        description="plico process: prepared pages held in memory for the kit reader, up to "
        "this many MiB (a 300 dpi grey A4 page is 8.7 MiB, a 200 dpi one 3.9); pages beyond it "
        "are read back from the object store. 0: none held.",
    )
    worker_poll_ms: int = Field(
        default=1000, ge=10, le=60_000, description="An idle worker looks for messages this often."
    )
    worker_heartbeat_s: float = Field(
        default=5.0, gt=0,
        description="Redis broker: a worker silent this long is dead and its unfinished messages "
        "go back on the queue (RabbitMQ does this when the connection drops). A live worker "
        "beats at least every PLICO_WORKER_POLL_MS, busy or not (its delay queue's consumer "
        "polls).",
    )
    redis_maintenance_chance: int = Field(
        default=1_000_000, ge=1, le=1_000_000,
        description="Redis broker: broker commands per million that look for dead workers "
        "(every one by default: a sorted-set range when no worker is dead).",
    )
    max_retries: int = Field(
        default=20, ge=0, description="Retries of a message after a transient fault (storage or "
        "database unreachable); bad input is never retried but quarantined.",
    )
    retry_backoff_ms: tuple[int, int] = Field(
        default=(1_000, 60_000), description="Backoff between retries: first wait, longest wait."
    )
    confidence_threshold: float = Field(
        default=0.60, ge=0.0, le=1.0,
        description="Fields read below this go to review (chosen on validation seed 6000).",
    )
    max_image_pixels: int = Field(
        default=200_000_000,
        ge=1_000_000,
        description="Largest page raster accepted (decompression-bomb guard).",
    )
    max_pages_per_input: int = Field(default=5_000, ge=1, description="Largest batch accepted.")
    log_level: str = Field(default="WARNING", description="Logging level of the CLI and workers.")
    log_format: Literal["text", "json"] = Field(
        default="text", description="text, or json: one JSON object per log line with the "
        "batch, kit and job ids (pipeline/logjson.py), never field values.",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="Bearer token of the web app's /metrics (Prometheus); unset = "
        "no /metrics on the web app. Workers serve theirs with `plico worker --metrics-port`.",
    )
    web_secret: SecretStr | None = Field(
        default=None,
        description="Key signing the web app's session cookies; unset = a random key generated "
        "once and kept in <data_dir>/web-secret (mode 0600). Set the same value on every web "
        "process behind one address.",
    )
    session_hours: float = Field(
        default=8.0, gt=0, le=24 * 7, description="A web session lasts this long after login."
    )
    claim_minutes: float = Field(
        default=30.0, gt=0, le=24 * 60,
        description="A reviewer's claim on an istanza (prendi in carico) lapses this long after "
        "it was taken or after the reviewer's last decision on it.",
    )
    web_lockout_attempts: int = Field(
        default=5, ge=1, le=100, description="Failed logins in a row that lock an account."
    )
    web_lockout_minutes: float = Field(
        default=15.0, gt=0, description="How long a locked account stays locked."
    )
    web_trusted_proxy: bool = Field(
        default=False,
        description="Behind a reverse proxy: take the client address and scheme (for Secure "
        "cookies) from X-Forwarded-For / X-Forwarded-Proto. Off when clients reach uvicorn directly.",
    )
    login_rate_per_minute: float = Field(
        default=10.0, gt=0,
        description="Login attempts allowed per client address per minute (after a burst of as "
        "many): slows password guessing across accounts, which the per-account lockout does not.",
    )
    status_rate_per_minute: float = Field(
        default=12.0, gt=0,
        description="Public status lookups allowed per client address per minute (token bucket).",
    )
    status_burst: int = Field(
        default=6, ge=1, description="Status lookups a client may make at once before the rate applies."
    )
    web_workers: int = Field(
        default=1, ge=1, le=64,
        description="Processes `plico serve` runs (uvicorn workers). The per-address limits "
        "above are kept in each process, so each takes its share of them.",
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()
