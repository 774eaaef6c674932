"""The console script: mint tokens, migrate, and serve with no configuration at all."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.conftest import SECRET
from todo_api.cli import main
from todo_api.core.config import get_settings


@pytest.fixture
def clean_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_token_mints_a_verifiable_hs256_token(
    clean_settings: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BETTER_AUTH_SECRET", SECRET)
    monkeypatch.setenv("JWT_AUDIENCE", "todo")

    main(["token", "alice", "--ttl", "120"])

    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"], audience="todo")
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 120


def test_token_without_a_secret_explains_why(
    clean_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BETTER_AUTH_URL", "https://auth.example")

    with pytest.raises(SystemExit, match="BETTER_AUTH_SECRET"):
        main(["token", "alice"])


def test_migrate_creates_the_schema(clean_settings: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = clean_settings / "migrated.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{database}")

    main(["migrate"])

    output = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import sqlite3; print(sorted(r[0] for r in sqlite3.connect('{database}')"
            ".execute(\"select name from sqlite_master where type='table'\")))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "'tasks'" in output
    assert "'users'" in output


def test_production_without_configuration_stops_with_a_one_line_reason(
    clean_settings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")

    with pytest.raises(SystemExit) as stopped:
        main(["serve"])

    message = str(stopped.value)
    assert message.startswith("todo-api: cannot start:")
    assert "DATABASE_URL is required" in message
    assert "\n" not in message


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str, seconds: float = 20) -> None:
    """Until `url` answers 200: a server process has started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def test_serve_with_no_configuration_runs_in_development_mode(tmp_path: Path) -> None:
    """The README's first command, as a new user runs it: a real process, real HTTP."""
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "BETTER_AUTH", "JWT_"))
    }
    cli = [sys.executable, "-c", "from todo_api.cli import main; main()"]
    server = subprocess.Popen(
        [*cli, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/health")
        token = subprocess.run(
            [*cli, "token", "alice"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {token}"}
        created = httpx.post(f"{base}/api/tasks", json={"title": "first"}, headers=headers)
        listed = httpx.get(f"{base}/api/tasks", headers=headers)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=10)

    assert created.status_code == 201
    assert [t["title"] for t in listed.json()] == ["first"]
    assert (tmp_path / "todo-api.db").exists()
    assert (tmp_path / ".todo-api-secret").exists()
    assert "todo-api token" in output
    assert token not in output
