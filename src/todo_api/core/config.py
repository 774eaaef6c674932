"""Settings: the one place that reads the environment (and `.env`)."""

import hashlib
import logging
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger("todo_api")

# RFC 7518 section 3.2: an HMAC key should be at least as long as the hash output.
MIN_SECRET_BYTES = 32
DEV_SECRET_FILE = Path(".todo-api-secret")
DEV_SQLITE_FILE = Path("todo-api.db")


class ConfigError(ValueError):
    """A setting that makes the service unsafe or unable to start."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["development", "production"] = "development"
    log_level: str = "INFO"

    database_url: str | None = None
    # "transaction" for PgBouncer-style poolers (Neon's `-pooler` hosts are detected anyway).
    database_pool_mode: Literal["session", "transaction"] = "session"
    # Connections a worker may hold: pool size plus overflow (kept apart for SQLite's pool;
    # on PostgreSQL both simply add up). Each is opened when first needed and kept while in
    # use, so steady load never reopens one (a TLS handshake and a server process each time).
    database_pool_size: int = Field(default=15, ge=1)
    database_max_overflow: int = Field(default=0, ge=0)
    # Seconds a request waits for a pooled connection before it gets a 503.
    database_pool_timeout: float = Field(default=3.0, gt=0)
    # Below Neon's ~300 s idle suspend, so a pooled connection is never a dead one.
    database_pool_recycle: int = Field(default=240, gt=0)
    # A round trip before every checkout. Off by default: a connection the server closed is
    # detected without one; turn on if connections can die silently (no FIN from the peer).
    database_pre_ping: bool = False
    # Short enough that a hung connect is a prompt 503, long enough for a Neon cold start.
    database_connect_timeout: float = Field(default=3.0, gt=0)
    # No query of ours takes seconds; one that does is stuck on a dead or frozen server.
    database_command_timeout: float = Field(default=10.0, gt=0)

    better_auth_secret: SecretStr | None = None
    better_auth_url: str | None = None
    better_auth_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    jwks_fetch_timeout: float = Field(default=3.0, gt=0)

    rate_limit_enabled: bool = True
    # Generous: a real frontend, even a busy tab, stays far below these.
    rate_limit_per_minute: int = Field(default=600, ge=1)
    rate_limit_anon_per_minute: int = Field(default=120, ge=1)
    redis_url: str | None = None

    docs_enabled: bool = True
    # SIGTERM: seconds of 503 from /ready before the listener closes, then seconds in-flight
    # requests get to finish.
    shutdown_drain_seconds: float = Field(default=2.0, ge=0)
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)

    idempotency_prune_seconds: float = Field(default=600.0, gt=0)

    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:3000"]

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator(
        "database_url",
        "better_auth_url",
        "better_auth_jwks_url",
        "jwt_issuer",
        "jwt_audience",
        "redis_url",
    )
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @field_validator("better_auth_secret")
    @classmethod
    def _blank_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> "Settings":
        if self.environment != "production":
            return self
        if self.database_url is None:
            raise ConfigError("DATABASE_URL is required when ENVIRONMENT=production")
        if self.better_auth_secret is None and self.jwks_url is None:
            raise ConfigError(
                "BETTER_AUTH_SECRET or BETTER_AUTH_URL/BETTER_AUTH_JWKS_URL is required "
                "when ENVIRONMENT=production"
            )
        if self.secret_too_short:
            raise ConfigError(
                f"BETTER_AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes "
                "when ENVIRONMENT=production"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def secret_too_short(self) -> bool:
        secret = self.better_auth_secret
        return secret is not None and len(secret.get_secret_value().encode()) < MIN_SECRET_BYTES

    @property
    def jwks_url(self) -> str | None:
        if self.better_auth_jwks_url:
            return self.better_auth_jwks_url
        if self.better_auth_url:
            return f"{self.better_auth_url.rstrip('/')}/api/auth/jwks"
        return None

    @cached_property
    def transaction_pooled(self) -> bool:
        """PostgreSQL behind a transaction-mode pooler: DATABASE_POOL_MODE=transaction, or
        Neon's pooled endpoint (PgBouncer), whose host name ends in `-pooler`."""
        url = urlsplit(self.sqlalchemy_url)
        if not url.scheme.startswith("postgres"):
            return False
        return self.database_pool_mode == "transaction" or "-pooler" in (url.hostname or "")

    @cached_property
    def cursor_key(self) -> bytes:
        """Signs list cursors. Derived, so every process behind a load balancer agrees."""
        source = self.better_auth_secret.get_secret_value() if self.better_auth_secret else ""
        return hashlib.sha256(f"todo-api cursor\0{source}\0{self.jwks_url or ''}".encode()).digest()

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{DEV_SQLITE_FILE.resolve()}"


def _with_dev_secret(settings: Settings) -> Settings:
    """Development with no key source: a random secret, generated once and kept locally."""
    if settings.is_production or settings.better_auth_secret or settings.jwks_url:
        return settings
    if not DEV_SECRET_FILE.exists():
        DEV_SECRET_FILE.write_text(secrets.token_urlsafe(48) + "\n")
        DEV_SECRET_FILE.chmod(0o600)
        logger.info("Generated a development secret in %s", DEV_SECRET_FILE.resolve())
    secret = DEV_SECRET_FILE.read_text().strip()
    return settings.model_copy(update={"better_auth_secret": SecretStr(secret)})


@lru_cache
def get_settings() -> Settings:
    settings = _with_dev_secret(Settings())
    if settings.secret_too_short:
        logger.warning(
            "BETTER_AUTH_SECRET is shorter than %d bytes; production refuses it", MIN_SECRET_BYTES
        )
    return settings
