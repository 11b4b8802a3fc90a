"""The one settings model. Read once, at the edge (the CLI, a worker's start)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
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
        description="Object store: unset = <data_dir>/objects; s3://bucket@host:port for MinIO/S3.",
    )
    database_url: str | None = Field(
        default=None,
        description="Index database: unset = SQLite in <data_dir>; postgresql://... in production.",
    )
    broker_url: str | None = Field(
        default=None, description="dramatiq broker: redis://... or amqp://...; unset = in-process."
    )
    confidence_threshold: float = Field(
        default=0.60, ge=0.0, le=1.0,
        description="Fields read below this go to review (chosen on validation seed 6000).",
    )
    tesseract_threads: int = Field(
        default=1, ge=1, le=64, description="OMP_THREAD_LIMIT for tesseract (1 is fastest here)."
    )
    max_image_pixels: int = Field(
        default=200_000_000,
        ge=1_000_000,
        description="Largest page raster accepted (decompression-bomb guard).",
    )
    max_pages_per_input: int = Field(default=5_000, ge=1, description="Largest batch accepted.")
    log_level: str = Field(default="WARNING", description="Logging level of the CLI and workers.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings of this process, read from the environment once."""
    return Settings()
