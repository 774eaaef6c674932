"""Idempotency-Key on POST /api/tasks: retries are replays, never duplicates."""

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import Rows, client_for, live_server, make_settings, running

Headers = dict[str, str]


def keyed(headers: Headers, key: str) -> Headers:
    return {**headers, "Idempotency-Key": key}


async def test_a_retry_with_the_same_key_replays_and_creates_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    body = {"title": "pay rent", "description": "by the 1st"}
    first = await client.post("/api/tasks", json=body, headers=keyed(alice, "k-1"))
    second = await client.post("/api/tasks", json=body, headers=keyed(alice, "k-1"))

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert second.headers["Location"] == first.headers["Location"]
    assert second.headers["ETag"] == first.headers["ETag"]
    assert len(await rows("SELECT id FROM tasks")) == 1


async def test_the_replay_is_the_original_response_even_after_changes(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    first = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "k"))
    await client.patch(f"/api/tasks/{first.json()['id']}/complete", headers=alice)

    replay = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "k"))

    assert replay.json() == first.json()


async def test_the_same_key_with_another_body_is_422(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    await client.post("/api/tasks", json={"title": "one"}, headers=keyed(alice, "k"))

    response = await client.post("/api/tasks", json={"title": "two"}, headers=keyed(alice, "k"))

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [r["title"] for r in await rows("SELECT title FROM tasks")] == ["one"]


async def test_keys_are_scoped_to_the_user(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows
) -> None:
    alices = await client.post("/api/tasks", json={"title": "same"}, headers=keyed(alice, "shared"))
    bobs = await client.post("/api/tasks", json={"title": "same"}, headers=keyed(bob, "shared"))

    assert bobs.status_code == 201
    assert "Idempotent-Replayed" not in bobs.headers
    assert bobs.json()["user_id"] == "bob"
    assert bobs.json()["id"] != alices.json()["id"]
    assert len(await rows("SELECT id FROM tasks")) == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "del\x7f", "tab\there"])
async def test_malformed_keys_are_400(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, key: str
) -> None:
    response = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, key))

    assert response.status_code == 400
    assert await rows("SELECT id FROM tasks") == []


async def test_quoted_structured_field_keys_are_the_same_key(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, '"abc"'))
    replay = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "abc"))

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert len(await rows("SELECT id FROM tasks")) == 1


async def test_an_expired_key_starts_over(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    first = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "old"))
    await rows.execute("UPDATE idempotency_keys SET created_at = :t", t=_hours_ago(25))

    again = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "old"))
    replay = await client.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "old"))

    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert replay.json()["id"] == again.json()["id"]


async def test_expired_keys_are_pruned_in_the_background(database_url: str, alice: Headers) -> None:
    settings = make_settings(database_url, idempotency_prune_seconds=0.05)
    async with running(settings) as app, client_for(app) as client:
        rows = Rows(app)
        await client.post("/api/tasks", json={"title": "a"}, headers=keyed(alice, "stale"))
        await client.post("/api/tasks", json={"title": "b"}, headers=keyed(alice, "fresh"))
        await rows.execute(
            "UPDATE idempotency_keys SET created_at = :t WHERE key = 'stale'", t=_hours_ago(25)
        )
        with anyio.fail_after(5):
            while len(await rows("SELECT key FROM idempotency_keys")) > 1:
                await anyio.sleep(0.05)

        assert await rows("SELECT key FROM idempotency_keys") == [{"key": "fresh"}]


@pytest.mark.postgres_only
async def test_a_retry_while_the_first_is_in_flight_is_409(
    app: FastAPI, alice: Headers, rows: Rows
) -> None:
    engine = app.state.runtime.pool.engine
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        # Hold the tasks table so the first request stops mid-flight, after claiming the key.
        async with engine.connect() as autocommit:
            blocker = await autocommit.execution_options(isolation_level="READ COMMITTED")
            transaction = await blocker.begin()
            await blocker.execute(text("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE"))
            async with anyio.create_task_group() as group:
                results: dict[str, httpx.Response] = {}

                async def first() -> None:
                    results["first"] = await http.post(
                        "/api/tasks", json={"title": "t"}, headers=keyed(alice, "f")
                    )

                group.start_soon(first)
                await anyio.sleep(0.3)
                results["retry"] = await http.post(
                    "/api/tasks", json={"title": "t"}, headers=keyed(alice, "f")
                )
                await transaction.rollback()
        after = await http.post("/api/tasks", json={"title": "t"}, headers=keyed(alice, "f"))

    assert results["retry"].status_code == 409
    assert results["retry"].headers["Retry-After"] == "1"
    assert results["first"].status_code == 201
    assert after.headers["Idempotent-Replayed"] == "true"
    assert after.json() == results["first"].json()
    assert len(await rows("SELECT id FROM tasks")) == 1


@pytest.mark.postgres_only
async def test_concurrent_duplicates_create_exactly_one_task(
    app: FastAPI, alice: Headers, rows: Rows
) -> None:
    statuses: list[int] = []
    bodies: list[dict[str, object]] = []
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:

        async def send() -> None:
            response = await http.post(
                "/api/tasks", json={"title": "once"}, headers=keyed(alice, "dup")
            )
            statuses.append(response.status_code)
            if response.status_code == 201:
                bodies.append(response.json())

        async with anyio.create_task_group() as group:
            for _ in range(10):
                group.start_soon(send)

    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert all(body == bodies[0] for body in bodies)
    assert len(await rows("SELECT id FROM tasks")) == 1


def _hours_ago(hours: int) -> object:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    return datetime.now(UTC) - timedelta(hours=hours)
