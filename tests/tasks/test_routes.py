"""Task CRUD through the real app: status codes, headers, bodies and the stored rows."""

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Rows, bearer

Headers = dict[str, str]


async def create(client: httpx.AsyncClient, headers: Headers, **body: Any) -> dict[str, Any]:
    response = await client.post("/api/tasks", json={"title": "Task", **body}, headers=headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


def parse_time(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value)


async def test_create_returns_201_location_and_the_stored_task(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    response = await client.post(
        "/api/tasks", json={"title": "  Buy milk  ", "description": "2 litres"}, headers=alice
    )

    assert response.status_code == 201
    task = response.json()
    assert response.headers["Location"] == f"/api/tasks/{task['id']}"
    assert task["title"] == "Buy milk"
    assert task["description"] == "2 litres"
    assert task["completed"] is False
    assert task["user_id"] == "alice"
    assert task["version"] == 1
    assert task["created_at"] == task["updated_at"]
    parse_time(task["created_at"])
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["user_id"], stored["title"], stored["description"]) == (
        "alice",
        "Buy milk",
        "2 litres",
    )
    assert await rows("SELECT id FROM users") == [{"id": "alice"}]


async def test_create_with_completed_and_empty_description_stores_null(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    task = await create(client, alice, description="", completed=True)

    assert task["description"] is None
    assert task["completed"] is True
    stored = await rows.task(task["id"])
    assert stored is not None
    assert stored["description"] is None


async def test_ids_are_unique_across_users(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    ids = [(await create(client, who))["id"] for who in (alice, bob, alice, bob)]
    assert len(set(ids)) == 4


async def test_get_returns_the_task(client: httpx.AsyncClient, alice: Headers) -> None:
    task = await create(client, alice, title="Read me")

    response = await client.get(f"/api/tasks/{task['id']}", headers=alice)

    assert response.status_code == 200
    assert response.json() == task


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_update_changes_only_sent_fields_and_moves_updated_at(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, method: str
) -> None:
    task = await create(client, alice, title="Old", description="keep me")

    response = await client.request(
        method, f"/api/tasks/{task['id']}", json={"title": " New "}, headers=alice
    )

    assert response.status_code == 200
    updated = response.json()
    assert updated["title"] == "New"
    assert updated["description"] == "keep me"
    assert updated["completed"] is False
    assert updated["version"] == 2
    assert updated["created_at"] == task["created_at"]
    assert parse_time(updated["updated_at"]) > parse_time(task["updated_at"])
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["title"], stored["description"], stored["version"]) == ("New", "keep me", 2)


async def test_update_can_clear_the_description(client: httpx.AsyncClient, alice: Headers) -> None:
    task = await create(client, alice, description="temporary")

    for clear in ({"description": None}, {"description": ""}):
        response = await client.put(f"/api/tasks/{task['id']}", json=clear, headers=alice)
        assert response.status_code == 200
        assert response.json()["description"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": None},
        {"completed": None},
        {"title": "   "},
        {"user_id": "bob"},
        {"id": 7},
        {"version": 9},
    ],
)
async def test_update_rejects_empty_null_or_foreign_fields(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, body: dict[str, Any]
) -> None:
    task = await create(client, alice, title="Stay")

    response = await client.patch(f"/api/tasks/{task['id']}", json=body, headers=alice)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["title"], stored["user_id"], stored["version"]) == ("Stay", "alice", 1)


@pytest.mark.parametrize("body", [None, b"", {}, b"null"])
async def test_complete_without_a_value_toggles(
    client: httpx.AsyncClient, alice: Headers, body: Any
) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}/complete"
    kwargs: dict[str, Any] = {"json": body} if isinstance(body, dict) else {"content": body}
    headers = {**alice, "Content-Type": "application/json"} if body else alice

    first = await client.patch(url, headers=headers, **kwargs)
    second = await client.patch(url, headers=headers, **kwargs)

    assert (first.status_code, second.status_code) == (200, 200)
    assert (first.json()["completed"], second.json()["completed"]) == (True, False)
    assert (first.json()["version"], second.json()["version"]) == (2, 3)


async def test_complete_with_a_value_sets_it(client: httpx.AsyncClient, alice: Headers) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}/complete"

    for value in (True, True, False):
        response = await client.patch(url, json={"completed": value}, headers=alice)
        assert response.status_code == 200
        assert response.json()["completed"] is value


@pytest.mark.parametrize("body", [{"completed": "true"}, {"completed": 1}, {"done": True}])
async def test_complete_rejects_non_boolean_or_unknown_fields(
    client: httpx.AsyncClient, alice: Headers, body: dict[str, Any]
) -> None:
    task = await create(client, alice)

    response = await client.patch(f"/api/tasks/{task['id']}/complete", json=body, headers=alice)

    assert response.status_code == 422


async def test_delete_returns_204_and_removes_the_row(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    task = await create(client, alice)

    response = await client.delete(f"/api/tasks/{task['id']}", headers=alice)

    assert response.status_code == 204
    assert response.content == b""
    assert await rows.task(task["id"]) is None
    again = await client.delete(f"/api/tasks/{task['id']}", headers=alice)
    assert again.status_code == 404


@pytest.mark.parametrize("task_id", ["abc", "0", "-1", "1.5", "9223372036854775808", "99999999"])
async def test_ids_that_name_no_task_are_404(
    client: httpx.AsyncClient, alice: Headers, task_id: str
) -> None:
    for method, path in [
        ("GET", ""),
        ("PUT", ""),
        ("PATCH", ""),
        ("DELETE", ""),
        ("PATCH", "/complete"),
    ]:
        body = {"completed": True} if path else {"title": "x"}
        response = await client.request(
            method, f"/api/tasks/{task_id}{path}", json=body, headers=alice
        )
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 404


async def test_another_users_task_is_404_on_every_route_and_left_unchanged(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows
) -> None:
    task = await create(client, alice, title="Alice's", description="private")
    before = await rows.task(task["id"])
    url = f"/api/tasks/{task['id']}"

    attempts = [
        await client.get(url, headers=bob),
        await client.put(url, json={"title": "mine now"}, headers=bob),
        await client.patch(url, json={"completed": True}, headers=bob),
        await client.patch(f"{url}/complete", headers=bob),
        await client.patch(f"{url}/complete", json={"completed": True}, headers=bob),
        await client.delete(url, headers=bob),
    ]

    assert [r.status_code for r in attempts] == [404] * 6
    # Indistinguishable from a task that does not exist at all.
    missing = await client.get("/api/tasks/99999999", headers=bob)
    assert {r.json()["detail"] for r in attempts} == {missing.json()["detail"]}
    assert await rows.task(task["id"]) == before
    listing = await client.get("/api/tasks", headers=bob)
    assert listing.json() == []
    assert listing.headers["X-Total-Count"] == "0"
    me = await client.get("/api/me", headers=bob)
    assert me.json()["tasks"] == {
        "total": 0,
        "completed": 0,
        "pending": 0,
        "overdue": 0,
        "due_today": 0,
    }


async def test_user_id_in_the_create_body_is_rejected_not_ignored(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    response = await client.post("/api/tasks", json={"title": "x", "user_id": "bob"}, headers=alice)

    assert response.status_code == 422
    assert await rows("SELECT * FROM tasks") == []


class TestCompatibilityPaths:
    @pytest.mark.parametrize("base", ["/api/alice/tasks", "/api/v1/tasks", "/api/v1/alice/tasks"])
    async def test_every_route_works_under_the_users_own_path_and_the_v1_alias(
        self, client: httpx.AsyncClient, alice: Headers, base: str
    ) -> None:
        created = await client.post(base, json={"title": "Compat"}, headers=alice)
        assert created.status_code == 201
        task_id = created.json()["id"]
        assert created.headers["Location"] == f"/api/tasks/{task_id}"

        listed = await client.get(base, headers=alice)
        got = await client.get(f"{base}/{task_id}", headers=alice)
        put = await client.put(f"{base}/{task_id}", json={"title": "Put"}, headers=alice)
        patched = await client.patch(f"{base}/{task_id}", json={"title": "Patched"}, headers=alice)
        toggled = await client.patch(f"{base}/{task_id}/complete", headers=alice)
        deleted = await client.delete(f"{base}/{task_id}", headers=alice)

        assert [listed.status_code, got.status_code, put.status_code] == [200, 200, 200]
        assert [patched.status_code, toggled.status_code, deleted.status_code] == [200, 200, 204]
        assert [t["id"] for t in listed.json()] == [task_id]
        assert toggled.json()["completed"] is True

    async def test_another_users_path_is_403_and_changes_nothing(
        self, client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows
    ) -> None:
        task = await create(client, alice)
        base = "/api/alice/tasks"

        attempts = [
            await client.get(base, headers=bob),
            await client.post(base, json={"title": "planted"}, headers=bob),
            await client.get(f"{base}/{task['id']}", headers=bob),
            await client.put(f"{base}/{task['id']}", json={"title": "x"}, headers=bob),
            await client.patch(f"{base}/{task['id']}/complete", headers=bob),
            await client.delete(f"{base}/{task['id']}", headers=bob),
        ]

        assert [r.status_code for r in attempts] == [403] * 6
        assert all(r.headers["content-type"] == "application/problem+json" for r in attempts)
        assert len(await rows("SELECT * FROM tasks")) == 1

    async def test_own_path_with_another_users_task_is_404(
        self, client: httpx.AsyncClient, alice: Headers, bob: Headers
    ) -> None:
        task = await create(client, alice)

        response = await client.get(f"/api/bob/tasks/{task['id']}", headers=bob)

        assert response.status_code == 404

    async def test_missing_token_is_401_before_the_path_check(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get("/api/alice/tasks")

        assert response.status_code == 401


async def test_user_ids_with_url_special_characters_work_on_compat_paths(
    client: httpx.AsyncClient,
) -> None:
    headers = bearer("user@example.com")

    response = await client.post(
        "/api/user@example.com/tasks", json={"title": "x"}, headers=headers
    )

    assert response.status_code == 201
    assert response.json()["user_id"] == "user@example.com"


class TestVersionedAlias:
    async def test_v1_is_never_taken_for_a_user_id(
        self, client: httpx.AsyncClient, alice: Headers
    ) -> None:
        task = await create(client, alice)

        listed = await client.get("/api/v1/tasks", headers=alice)
        got = await client.get(f"/api/v1/tasks/{task['id']}", headers=alice)

        assert listed.status_code == 200, listed.text
        assert [t["id"] for t in listed.json()] == [task["id"]]
        assert got.json() == task

    async def test_me_and_errors_are_the_same_under_v1(
        self, client: httpx.AsyncClient, alice: Headers, bob: Headers
    ) -> None:
        task = await create(client, alice)

        for path, headers in [
            ("/me", alice),
            (f"/tasks/{task['id']}", bob),
            ("/tasks/not-a-number", alice),
            ("/tasks", {}),
            ("/alice/tasks", bob),
        ]:
            plain = await client.get(f"/api{path}", headers=headers)
            versioned = await client.get(f"/api/v1{path}", headers=headers)
            assert (versioned.status_code, versioned.json()) == (
                plain.status_code,
                plain.json(),
            ), path

    async def test_the_next_page_link_stays_under_v1(
        self, client: httpx.AsyncClient, alice: Headers
    ) -> None:
        for _ in range(3):
            await create(client, alice)

        response = await client.get("/api/v1/tasks?limit=2", headers=alice)

        assert response.headers["Link"].startswith("</api/v1/tasks?limit=2&cursor=")

    async def test_the_alias_is_documented_once_not_twice(self, client: httpx.AsyncClient) -> None:
        paths = (await client.get("/openapi.json")).json()["paths"]

        assert "/api/tasks" in paths
        assert not [path for path in paths if path.startswith("/api/v1")]


async def test_compat_list_without_limit_returns_up_to_200(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    for number in range(201):
        await create(client, alice, title=f"Task {number}")

    compat = await client.get("/api/alice/tasks", headers=alice)
    compat_limited = await client.get("/api/alice/tasks?limit=10", headers=alice)
    canonical = await client.get("/api/tasks", headers=alice)

    assert len(compat.json()) == 200
    assert compat.headers["X-Total-Count"] == "201"
    assert 'rel="next"' in compat.headers["Link"]
    assert len(compat_limited.json()) == 10
    assert len(canonical.json()) == 50
