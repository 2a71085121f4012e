"""Platform settings, read from the environment (and `.env`) by pydantic-settings.

Every variable is documented in the README's Configuration table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES: tuple[str, ...] = ("exchange", "crowdfunding", "budget", "impact")
DEFAULT_PORTS: dict[str, int] = {
    "portal": 8000,
    "exchange": 8001,
    "crowdfunding": 8002,
    "budget": 8003,
    "impact": 8004,
}
REPO_ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Settings shared by every service; one instance per process."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    env: Literal["dev", "production", "test"] = Field("dev", alias="SHARITORIES_ENV")
    var_dir: Path = Field(REPO_ROOT / "var", alias="SHARITORIES_VAR_DIR")
    # Unset: each service uses SQLite at var/<service>.db. Set to a PostgreSQL URL: each
    # service uses its own schema (named after the service) in that database.
    database_url: str | None = Field(None, alias="DATABASE_URL")
    # Prefix of the per-service PostgreSQL schemas (tests use a random one per test).
    database_schema_prefix: str = Field("", alias="DATABASE_SCHEMA_PREFIX")
    nats_url: str = Field("nats://127.0.0.1:4222", alias="NATS_URL")
    log_level: str = Field("INFO", alias="LOG_LEVEL")
    log_json: bool | None = Field(None, alias="LOG_JSON")

    jwt_secret: str = Field("sharitories-dev-secret-change-me-0123456789", alias="JWT_SECRET")
    jwt_jwks_url: str | None = Field(None, alias="JWT_JWKS_URL")
    jwt_issuer: str = Field("sharitories", alias="JWT_ISSUER")
    jwt_audience: str | None = Field(None, alias="JWT_AUDIENCE")

    # Request bodies larger than this are refused (413) while they are read, webhooks too.
    request_max_bytes: int = Field(1024 * 1024, ge=1024, alias="REQUEST_MAX_BYTES")
    # Production: /metrics answers only `Authorization: Bearer <METRICS_TOKEN>`.
    metrics_token: str | None = Field(None, alias="METRICS_TOKEN")

    database_pool_size: int = Field(10, ge=1, le=200, alias="DATABASE_POOL_SIZE")
    nats_stream_replicas: int = Field(1, alias="NATS_STREAM_REPLICAS")
    outbox_poll_seconds: float = Field(0.2, alias="OUTBOX_POLL_SECONDS")
    consumer_max_deliver: int = Field(5, alias="CONSUMER_MAX_DELIVER")
    # Deployment (issue 15): retention of the working stream (0 / -1: unlimited), the
    # never-trimmed archive stream, and how soon a dead consumer's batch is redelivered.
    nats_stream_max_age_seconds: float = Field(0, ge=0, alias="NATS_STREAM_MAX_AGE_SECONDS")
    nats_stream_max_bytes: int = Field(-1, ge=-1, alias="NATS_STREAM_MAX_BYTES")
    nats_archive_stream: bool = Field(True, alias="NATS_ARCHIVE_STREAM")
    consumer_ack_wait_seconds: float = Field(10.0, ge=1, alias="CONSUMER_ACK_WAIT_SECONDS")

    # Shifts every service port (8001 → 8001 + offset) to run a second platform beside one.
    port_offset: int = Field(0, alias="SHARITORIES_PORT_OFFSET")
    host: str = Field("127.0.0.1", alias="SHARITORIES_HOST")

    # `sharitories up` loads the demo territory through the APIs on first start.
    demo: bool = Field(True, alias="SHARITORIES_DEMO")

    territory_city: str = Field("valmont", alias="TERRITORY_CITY")

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env == "production"

    def database_url_for(self, service: str) -> str:
        """The SQLAlchemy async URL a service connects to."""
        if self.database_url:
            return async_url(self.database_url)
        return f"sqlite+aiosqlite:///{self.var_dir / f'{service}.db'}"

    def port_for(self, service: str) -> int:
        return DEFAULT_PORTS[service] + self.port_offset

    def schema_for(self, service: str) -> str:
        return f"{self.database_schema_prefix}{service}"


def async_url(url: str) -> str:
    """Normalise a database URL to its async driver (asyncpg / aiosqlite)."""
    for prefix in ("postgresql://", "postgres://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
