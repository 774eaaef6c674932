"""Optimistic concurrency: ETag on every single-task response, If-None-Match, If-Match."""

from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Rows, live_server
from tests.tasks.test_routes import create

Headers = dict[str, str]


async def test_every_single_task_response_carries_its_version_as_etag(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    created = await client.post("/api/tasks", json={"title": "t"}, headers=alice)
    task_id = created.json()["id"]
    url = f"/api/tasks/{task_id}"

    responses = [
        created,
        await client.get(url, headers=alice),
        await client.put(url, json={"title": "u"}, headers=alice),
        await client.patch(url, json={"title": "v"}, headers=alice),
        await client.patch(f"{url}/complete", headers=alice),
    ]

    assert [r.headers["ETag"] for r in responses] == ['"1"', '"1"', '"2"', '"3"', '"4"']
    assert [r.json()["version"] for r in responses] == [1, 1, 2, 3, 4]


@pytest.mark.parametrize("header", ['"1"', 'W/"1"', "*", '"7", "1"', "1"])
async def test_get_with_a_current_if_none_match_is_304_without_body(
    client: httpx.AsyncClient, alice: Headers, header: str
) -> None:
    task = await create(client, alice)

    response = await client.get(
        f"/api/tasks/{task['id']}", headers={**alice, "If-None-Match": header}
    )

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == '"1"'


async def test_get_with_a_stale_if_none_match_is_the_full_task(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice)
    await client.patch(f"/api/tasks/{task['id']}/complete", headers=alice)

    response = await client.get(
        f"/api/tasks/{task['id']}", headers={**alice, "If-None-Match": '"1"'}
    )

    assert response.status_code == 200
    assert response.json()["version"] == 2


def _write(client: httpx.AsyncClient, name: str, url: str, headers: Headers) -> Any:
    return {
        "put": lambda: client.put(url, json={"title": "new"}, headers=headers),
        "patch": lambda: client.patch(url, json={"title": "new"}, headers=headers),
        "complete": lambda: client.patch(f"{url}/complete", headers=headers),
        "delete": lambda: client.delete(url, headers=headers),
    }[name]()


@pytest.mark.parametrize("operation", ["put", "patch", "complete", "delete"])
@pytest.mark.parametrize("stale", ['"1"', 'W/"2"', '"9", "1"', "garbage"])
async def test_stale_if_match_is_412_with_the_current_task_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, operation: str, stale: str
) -> None:
    task = await create(client, alice, title="original")
    await client.patch(f"/api/tasks/{task['id']}", json={"description": "v2"}, headers=alice)
    before = await rows.task(task["id"])

    response = await _write(
        client, operation, f"/api/tasks/{task['id']}", {**alice, "If-Match": stale}
    )

    assert response.status_code == 412
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["ETag"] == '"2"'
    current = response.json()["task"]
    assert (current["id"], current["version"], current["description"]) == (task["id"], 2, "v2")
    assert await rows.task(task["id"]) == before


@pytest.mark.parametrize("operation", ["put", "patch", "complete", "delete"])
@pytest.mark.parametrize("current", ['"1"', "*", '"5", "1"'])
async def test_matching_if_match_lets_the_write_through(
    client: httpx.AsyncClient, alice: Headers, operation: str, current: str
) -> None:
    task = await create(client, alice)

    response = await _write(
        client, operation, f"/api/tasks/{task['id']}", {**alice, "If-Match": current}
    )

    assert response.status_code in {200, 204}
    if response.status_code == 200:
        assert response.headers["ETag"] == '"2"'


async def test_if_match_on_another_users_task_is_still_404(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows
) -> None:
    task = await create(client, alice)
    before = await rows.task(task["id"])

    for stale in ('"1"', '"9"', "*"):
        for operation in ("put", "patch", "complete", "delete"):
            headers = {**bob, "If-Match": stale}
            response = await _write(client, operation, f"/api/tasks/{task['id']}", headers)
            assert response.status_code == 404, (operation, stale)
            assert "task" not in response.json()
    assert await rows.task(task["id"]) == before


@pytest.mark.postgres_only
async def test_two_concurrent_stale_puts_over_http_one_wins_one_gets_412(
    app: FastAPI, alice: Headers, rows: Rows
) -> None:
    async with live_server(app) as base, httpx.AsyncClient(base_url=base) as http:
        for round_ in range(5):
            task = (await http.post("/api/tasks", json={"title": "race"}, headers=alice)).json()
            statuses: list[int] = []

            async def put(
                title: str, task_id: int = task["id"], statuses: list[int] = statuses
            ) -> None:
                response = await http.put(
                    f"/api/tasks/{task_id}",
                    json={"title": title},
                    headers={**alice, "If-Match": '"1"'},
                )
                statuses.append(response.status_code)

            async with anyio.create_task_group() as group:
                group.start_soon(put, f"a{round_}")
                group.start_soon(put, f"b{round_}")

            assert sorted(statuses) == [200, 412]
            stored = await rows.task(task["id"])
            assert stored is not None
            assert stored["version"] == 2


@pytest.mark.parametrize("tag", ['"2147483648"', '"3000000000"', '"1' + "0" * 30 + '"', "9" * 5000])
async def test_a_version_no_task_can_have_is_a_412_on_every_write_never_a_500(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, tag: str
) -> None:
    task = await create(client, alice, title="Stay")
    url = f"/api/tasks/{task['id']}"
    conditional = {**alice, "If-Match": tag}

    writes = [
        await client.put(url, json={"title": "x"}, headers=conditional),
        await client.patch(url, json={"title": "x"}, headers=conditional),
        await client.patch(f"{url}/complete", headers=conditional),
        await client.delete(url, headers=conditional),
    ]
    read = await client.get(url, headers={**alice, "If-None-Match": tag})

    assert [w.status_code for w in writes] == [412] * 4
    assert read.status_code == 200
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["title"], stored["version"]) == ("Stay", 1)


@pytest.mark.parametrize("version", [0, -1, 2**31, 2**64])
async def test_a_body_version_no_task_can_have_is_a_412(
    client: httpx.AsyncClient, alice: Headers, version: int
) -> None:
    task = await create(client, alice)

    response = await client.put(
        f"/api/tasks/{task['id']}", json={"title": "x", "version": version}, headers=alice
    )

    assert response.status_code == 412, response.text
