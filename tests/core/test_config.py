"""Settings: safe defaults in development, refusals in production."""

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from todo_api.core import config
from todo_api.core.config import Settings, get_settings

LONG_SECRET = "s" * 32


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"better_auth_secret": LONG_SECRET}, "DATABASE_URL is required"),
        ({"database_url": "postgresql://db/x"}, "BETTER_AUTH_SECRET or BETTER_AUTH_URL"),
        ({"database_url": "postgresql://db/x", "better_auth_secret": "short"}, "at least 32 bytes"),
        (
            {"database_url": "postgresql://db/x", "better_auth_secret": "   "},
            "BETTER_AUTH_SECRET or",
        ),
    ],
)
def test_production_refuses_to_start_unsafely(values: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        settings(environment="production", **values)


@pytest.mark.parametrize(
    "key_source", [{"better_auth_secret": LONG_SECRET}, {"better_auth_url": "https://auth.example"}]
)
def test_production_starts_with_a_database_and_a_key_source(key_source: dict[str, object]) -> None:
    production = settings(environment="production", database_url="postgresql://db/x", **key_source)

    assert production.is_production


def test_jwks_url_defaults_to_better_auths_endpoint() -> None:
    assert (
        settings(better_auth_url="https://auth.example/").jwks_url
        == "https://auth.example/api/auth/jwks"
    )
    explicit = settings(
        better_auth_url="https://a.example", better_auth_jwks_url="https://k.example/jwks"
    )
    assert explicit.jwks_url == "https://k.example/jwks"
    assert settings().jwks_url is None


def test_cors_origins_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "https://app.example, http://localhost:3000 ,")

    assert Settings(_env_file=None).cors_origins == ["https://app.example", "http://localhost:3000"]


def test_environment_variables_and_dotenv_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://from-dotenv/db\nLOG_LEVEL=debug\n")
    monkeypatch.setenv("LOG_LEVEL", "warning")

    loaded = Settings()

    assert loaded.database_url == "postgresql://from-dotenv/db"
    assert loaded.log_level == "warning"


def test_development_without_keys_generates_a_secret_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        first = get_settings()
        get_settings.cache_clear()
        second = get_settings()
    finally:
        get_settings.cache_clear()

    secret_file = tmp_path / config.DEV_SECRET_FILE
    assert first.better_auth_secret is not None
    assert second.better_auth_secret is not None
    assert (
        first.better_auth_secret.get_secret_value() == second.better_auth_secret.get_secret_value()
    )
    assert secret_file.read_text().strip() == first.better_auth_secret.get_secret_value()
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert first.sqlalchemy_url == f"sqlite+aiosqlite:///{tmp_path / 'todo-api.db'}"


def test_a_short_secret_in_development_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BETTER_AUTH_SECRET", "short")
    get_settings.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="todo_api"):
            loaded = get_settings()
    finally:
        get_settings.cache_clear()

    assert loaded.better_auth_secret is not None
    assert "shorter than 32 bytes" in caplog.text
    assert "short" not in caplog.text.replace("shorter", "")
    assert not (tmp_path / config.DEV_SECRET_FILE).exists()


def test_cursor_key_is_stable_and_depends_on_the_secret() -> None:
    one = settings(better_auth_secret=LONG_SECRET).cursor_key
    assert one == settings(better_auth_secret=LONG_SECRET).cursor_key
    assert one != settings(better_auth_secret=LONG_SECRET + "x").cursor_key
