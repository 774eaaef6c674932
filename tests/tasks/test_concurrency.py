"""Concurrent requests on PostgreSQL: atomic toggles, race-free user provisioning."""

import anyio
import httpx
import pytest

from tests.conftest import Rows, bearer
from tests.tasks.test_routes import create

Headers = dict[str, str]
pytestmark = pytest.mark.postgres_only


async def test_toggle_is_atomic_under_concurrency(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    task = await create(client, alice)
    statuses: list[int] = []

    async def toggle() -> None:
        response = await client.patch(f"/api/tasks/{task['id']}/complete", headers=alice)
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for _ in range(20):
            group.start_soon(toggle)

    assert statuses == [200] * 20
    stored = await rows.task(task["id"])
    assert stored is not None
    # Twenty flips from false end where twenty sequential ones would: false, version 21.
    assert stored["completed"] is False
    assert stored["version"] == 21


async def test_concurrent_first_writes_provision_one_user_row(
    client: httpx.AsyncClient, rows: Rows
) -> None:
    headers = bearer("newcomer")
    statuses: list[int] = []

    async def create_one(i: int) -> None:
        response = await client.post("/api/tasks", json={"title": f"t{i}"}, headers=headers)
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        for i in range(20):
            group.start_soon(create_one, i)

    assert statuses == [201] * 20
    assert await rows("SELECT id FROM users") == [{"id": "newcomer"}]
    assert len(await rows("SELECT id FROM tasks WHERE user_id = 'newcomer'")) == 20


async def test_concurrent_updates_each_bump_the_version_once(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    task = await create(client, alice)

    async def rename(i: int) -> None:
        response = await client.patch(
            f"/api/tasks/{task['id']}", json={"title": f"n{i}"}, headers=alice
        )
        assert response.status_code == 200

    async with anyio.create_task_group() as group:
        for i in range(10):
            group.start_soon(rename, i)

    stored = await rows.task(task["id"])
    assert stored is not None
    assert stored["version"] == 11


async def test_concurrent_writes_of_every_kind_answer_as_if_sent_one_by_one(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    # Behind a transaction-mode pooler each statement may get another server connection:
    # no write may then fail (500) or land twice.
    toggled = [await create(client, alice) for _ in range(4)]
    raced = [await create(client, alice) for _ in range(4)]
    deleted = [await create(client, alice) for _ in range(4)]
    statuses: dict[str, list[int]] = {"toggle": [], "delete": [], "create": []}
    races: dict[int, list[int]] = {task["id"]: [] for task in raced}

    async def toggle(task_id: int) -> None:
        response = await client.patch(f"/api/tasks/{task_id}/complete", headers=alice)
        statuses["toggle"].append(response.status_code)

    async def stale_put(task_id: int, title: str) -> None:
        response = await client.put(
            f"/api/tasks/{task_id}", json={"title": title}, headers={**alice, "If-Match": '"1"'}
        )
        races[task_id].append(response.status_code)

    async def delete(task_id: int) -> None:
        response = await client.delete(f"/api/tasks/{task_id}", headers=alice)
        statuses["delete"].append(response.status_code)

    async def keyed_create(key: str) -> None:
        response = await client.post(
            "/api/tasks", json={"title": key}, headers={**alice, "Idempotency-Key": key}
        )
        statuses["create"].append(response.status_code)

    async with anyio.create_task_group() as group:
        for round_ in range(4):
            for task in toggled:
                group.start_soon(toggle, task["id"])
            for task in raced[: round_ + 1]:
                group.start_soon(stale_put, task["id"], f"r{round_}")
            group.start_soon(delete, deleted[round_]["id"])
            for key in ("k1", "k2", "k3"):
                group.start_soon(keyed_create, key)

    assert statuses["toggle"] == [200] * 16
    assert statuses["delete"] == [204] * 4
    assert set(statuses["create"]) <= {201, 409}
    # Of the stale PUTs on each task exactly one wins; the others see its new version.
    assert sorted(map(sorted, races.values())) == [
        [200],
        [200, 412],
        [200, 412, 412],
        [200, 412, 412, 412],
    ]
    stored = await rows("SELECT id, title, completed, version FROM tasks ORDER BY id")
    by_id = {row["id"]: row for row in stored}
    for task in toggled:
        assert (by_id[task["id"]]["completed"], by_id[task["id"]]["version"]) == (False, 5)
    for task in raced:
        assert by_id[task["id"]]["version"] == 2
    assert not {task["id"] for task in deleted} & by_id.keys()
    assert sorted(row["title"] for row in stored if row["title"].startswith("k")) == [
        "k1",
        "k2",
        "k3",
    ]
