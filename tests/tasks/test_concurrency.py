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
