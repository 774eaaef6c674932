"""Logs and request ids: one JSON access line per request, security events, no secrets."""

import dataclasses
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import SECRET, bearer, client_with, make_token
from tests.tasks.test_routes import create
from todo_api.core.logging import JsonFormatter

Headers = dict[str, str]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Captures the app's loggers (they do not propagate to the root logger)."""
    logger = logging.getLogger("todo_api")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="todo_api")
    yield caplog
    logger.removeHandler(caplog.handler)


def access_lines(stderr: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    """The access lines written to stderr since the last read: every line must be JSON."""
    lines = [json.loads(line) for line in stderr.readouterr().err.splitlines()]
    return [line for line in lines if line["logger"] == "todo_api.access"]


async def test_one_json_access_line_per_request_with_template_user_and_request_id(
    client: httpx.AsyncClient, alice: Headers, capsys: pytest.CaptureFixture[str]
) -> None:
    task = await create(client, alice)
    capsys.readouterr()

    response = await client.get(
        f"/api/alice/tasks/{task['id']}", headers={**alice, "X-Request-ID": "req-42"}
    )

    [line] = access_lines(capsys)
    assert line["level"] == "info"
    assert line["message"] == "GET /api/{user_id}/tasks/{task_id} 200"
    assert datetime.fromisoformat(str(line["time"])).tzinfo == UTC
    assert line["method"] == "GET"
    assert line["path"] == "/api/{user_id}/tasks/{task_id}"
    assert line["status"] == 200
    assert line["user_id"] == "alice"
    assert line["request_id"] == "req-42"
    assert isinstance(line["duration_ms"], float)
    assert response.headers["X-Request-ID"] == "req-42"


# One formatter for every example: it keeps the text of the current second between lines.
_FORMATTER = JsonFormatter()


@given(st.floats(min_value=0, max_value=4_102_444_800))  # 1970 to 2100
def test_each_line_carries_its_instant_in_utc_to_the_millisecond(created: float) -> None:
    record = logging.makeLogRecord({"name": "todo_api.access", "msg": "GET / 200"})
    record.created = created

    line = json.loads(_FORMATTER.format(record))

    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert line["time"] == expected


async def test_unmatched_paths_are_not_logged_verbatim(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await client.get("/wp-admin/secret-probe-123")
    await client.get("/openapi.json")

    paths = [line["path"] for line in access_lines(capsys)]
    assert paths == ["(unmatched)", "/openapi.json"]


@pytest.mark.parametrize("offered", [None, "", "x" * 129, "bad\x7fid"])
async def test_a_missing_or_unusable_request_id_is_generated(
    client: httpx.AsyncClient, offered: str | None
) -> None:
    headers = {"X-Request-ID": offered} if offered is not None else {}

    first = await client.get("/health", headers=headers)
    second = await client.get("/health", headers=headers)

    generated = first.headers["X-Request-ID"]
    assert len(generated) == 32
    assert generated != offered
    assert generated != second.headers["X-Request-ID"]


async def test_security_events_are_warnings_with_the_reason(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, logs: pytest.LogCaptureFixture
) -> None:
    task = await create(client, alice)
    logs.clear()

    await client.get("/api/tasks", headers={"Authorization": "Bearer forged.token.value"})
    await client.get("/api/alice/tasks", headers=bob)
    await client.get(f"/api/tasks/{task['id']}", headers=bob)
    await client.get("/api/tasks/999999", headers=bob)

    warnings = [r for r in logs.records if r.levelno == logging.WARNING]
    events = [getattr(r, "event", None) for r in warnings]
    assert events == ["auth_failed", "path_user_mismatch", "foreign_task"]
    assert "malformed" in warnings[0].getMessage().lower()


async def test_tokens_and_secrets_never_reach_the_logs(
    database_url: str, logs: pytest.LogCaptureFixture
) -> None:
    valid = make_token("alice")
    forged = make_token("alice", key="not-the-secret-not-the-secret-not-the-secret")
    async with client_with(database_url) as client:
        for token in (valid, forged, "garbage"):
            headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
            await client.post("/api/tasks", content=b'{"title": "x"}', headers=headers)
            await client.get("/api/tasks?q=secret", headers=headers)

    text = "\n".join(JsonFormatter().format(record) for record in logs.records)
    assert text, "the requests were logged"
    for secret in (valid, forged, valid.split(".")[2], forged.split(".")[2], SECRET):
        assert secret not in text


async def test_an_unhandled_error_is_a_problem_500_with_cors_and_request_id(
    database_url: str, logs: pytest.LogCaptureFixture
) -> None:
    async with client_with(database_url) as client:
        transport = client._transport
        assert isinstance(transport, httpx.ASGITransport)
        # Break one dependency the way a bug would: the verifier itself raises.
        state = transport.app.state  # type: ignore[attr-defined]
        state.runtime = dataclasses.replace(state.runtime, verifier=None)
        response = await client.get(
            "/api/tasks", headers={**bearer("alice"), "Origin": "http://localhost:3000"}
        )

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Internal server error"
    assert "Traceback" not in response.text
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert response.headers["X-Request-ID"]
    assert any(r.levelno == logging.ERROR and r.exc_info for r in logs.records)


async def test_docs_can_be_turned_off(database_url: str) -> None:
    async with client_with(database_url, docs_enabled=False) as client:
        statuses = [
            (await client.get(path)).status_code for path in ("/docs", "/openapi.json", "/redoc")
        ]
        health = await client.get("/health")

    assert statuses == [404, 404, 404]
    assert health.status_code == 200


async def test_wildcard_cors_origins_match_one_label_only(database_url: str) -> None:
    origins = "https://*.vercel.app,http://localhost:3000"
    async with client_with(database_url, cors_origins=origins) as client:

        async def allowed(origin: str) -> str | None:
            response = await client.get("/health", headers={"Origin": origin})
            origin_allowed: str | None = response.headers.get("Access-Control-Allow-Origin")
            return origin_allowed

        assert (
            await allowed("https://my-app-git-main.vercel.app")
            == "https://my-app-git-main.vercel.app"
        )
        assert await allowed("http://localhost:3000") == "http://localhost:3000"
        assert await allowed("https://evil.example/.vercel.app") is None
        assert await allowed("https://a.b.vercel.app") is None
        assert await allowed("https://vercel.app.evil.example") is None
