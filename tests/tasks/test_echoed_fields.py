"""Frontends send back the whole task they read: server-owned fields must match, never assign."""

from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from tests.conftest import Rows
from tests.tasks.test_routes import create

Headers = dict[str, str]


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_the_task_as_read_can_be_sent_back_with_a_change(
    client: httpx.AsyncClient, alice: Headers, method: str
) -> None:
    task = await create(client, alice, title="Old", description="kept")

    response = await client.request(
        method, f"/api/tasks/{task['id']}", json={**task, "title": "New"}, headers=alice
    )

    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["title"], updated["description"], updated["version"]) == ("New", "kept", 2)
    assert updated["created_at"] == task["created_at"]
    assert updated["updated_at"] > task["updated_at"]


async def test_times_are_compared_as_instants_whatever_the_offset_notation(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice)
    created = datetime.fromisoformat(task["created_at"])
    east, west = (timezone(timedelta(hours=hours)) for hours in (2, -5))
    for echoed in (created.astimezone(east).isoformat(), created.astimezone(west).isoformat()):
        response = await client.patch(
            f"/api/tasks/{task['id']}",
            json={"completed": True, "created_at": echoed},
            headers=alice,
        )
        assert response.status_code == 200, (echoed, response.text)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", "bob"),
        ("user_id", "alice\x00"),
        ("id", 1),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("updated_at", "2020-01-01T00:00:00Z"),
        ("created_at", "2026-01-01T00:00:00"),
        ("id", "7"),
        ("user_id", None),
        ("version", None),
    ],
)
async def test_a_server_owned_field_that_differs_is_422_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, field: str, value: Any
) -> None:
    task = await create(client, alice, title="Stay")
    before = await rows.task(task["id"])
    if field == "id" and value == 1:
        value = task["id"] + 1

    response = await client.put(
        f"/api/tasks/{task['id']}", json={**task, "title": "Taken", field: value}, headers=alice
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
    assert await rows.task(task["id"]) == before
    assert await rows("SELECT id FROM tasks WHERE user_id = 'bob'") == []


async def test_a_stale_version_in_the_body_is_412_like_if_match(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    read = await create(client, alice, title="First")
    await client.patch(f"/api/tasks/{read['id']}", json={"title": "Second"}, headers=alice)
    current = await rows.task(read["id"])

    response = await client.put(
        f"/api/tasks/{read['id']}", json={**read, "title": "Lost update"}, headers=alice
    )

    assert response.status_code == 412, response.text
    assert response.json()["task"]["title"] == "Second"
    assert response.headers["ETag"] == '"2"'
    assert await rows.task(read["id"]) == current


async def test_version_alone_with_a_change_is_checked_without_the_times(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice)

    stale = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "x", "version": 2}, headers=alice
    )
    fresh = await client.patch(
        f"/api/tasks/{task['id']}", json={"title": "y", "version": 1}, headers=alice
    )

    assert stale.status_code == 412
    assert fresh.status_code == 200
    assert fresh.json()["version"] == 2


@pytest.mark.parametrize(("if_match", "status"), [('"1"', 200), ('"2"', 412), ("*", 200)])
async def test_version_and_if_match_must_both_name_the_current_version(
    client: httpx.AsyncClient, alice: Headers, if_match: str, status: int
) -> None:
    task = await create(client, alice)

    response = await client.put(
        f"/api/tasks/{task['id']}",
        json={**task, "title": "Both"},
        headers={**alice, "If-Match": if_match},
    )

    assert response.status_code == status, response.text


async def test_an_echo_onto_another_users_task_is_404_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows
) -> None:
    task = await create(client, alice, title="Alice's")
    before = await rows.task(task["id"])

    response = await client.put(
        f"/api/tasks/{task['id']}", json={**task, "user_id": "bob", "title": "x"}, headers=bob
    )
    echoed_as_alice = await client.put(
        f"/api/tasks/{task['id']}", json={**task, "title": "x"}, headers=bob
    )

    # As Bob's own the task is simply not found; with Alice's id the body claims another owner,
    # refused before any lookup. Neither answer tells whether the task exists.
    assert response.status_code == 404
    assert echoed_as_alice.status_code == 422
    assert await rows.task(task["id"]) == before
