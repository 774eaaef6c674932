"""GET /api/tasks: filters, sorts, search, and pages that never repeat or skip a task."""

import re
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import bearer
from tests.tasks.test_routes import create
from todo_api.tasks.schemas import TaskListQuery

Headers = dict[str, str]


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


async def titles(client: httpx.AsyncClient, headers: Headers, query: str) -> list[str]:
    response = await client.get(f"/api/tasks?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()]


async def walk(client: httpx.AsyncClient, headers: Headers, url: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url:
        response = await client.get(next_url, headers=headers)
        assert response.status_code == 200, response.text
        seen += response.json()
        next_url = next_link(response)
    return seen


async def test_empty_list_is_an_array_with_a_zero_count(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    response = await client.get("/api/tasks", headers=alice)

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert "Link" not in response.headers


async def test_default_order_is_newest_first(client: httpx.AsyncClient, alice: Headers) -> None:
    for title in ("one", "two", "three"):
        await create(client, alice, title=title)

    assert await titles(client, alice, "") == ["three", "two", "one"]
    assert await titles(client, alice, "sort=-created_at") == ["three", "two", "one"]
    assert await titles(client, alice, "sort=%2Bcreated_at") == ["one", "two", "three"]
    # An unencoded `+` arrives as a space; it still means ascending.
    assert await titles(client, alice, "sort=+created_at") == ["one", "two", "three"]


async def test_sort_by_title_is_case_insensitive_a_to_z(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    for title in ("banana", "Cherry", "apple"):
        await create(client, alice, title=title)

    assert await titles(client, alice, "sort=title") == ["apple", "banana", "Cherry"]
    assert await titles(client, alice, "sort=-title") == ["Cherry", "banana", "apple"]


async def test_sort_by_updated_at_puts_the_last_change_first(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    first = await create(client, alice, title="first")
    await create(client, alice, title="second")
    await client.patch(f"/api/tasks/{first['id']}", json={"description": "touched"}, headers=alice)

    assert await titles(client, alice, "sort=updated_at") == ["first", "second"]
    assert await titles(client, alice, "sort=%2Bupdated_at") == ["second", "first"]


async def test_status_filter_and_its_synonyms(client: httpx.AsyncClient, alice: Headers) -> None:
    await create(client, alice, title="done", completed=True)
    await create(client, alice, title="todo")

    for query, expected in [
        ("status=all", ["todo", "done"]),
        ("status=completed", ["done"]),
        ("status=pending", ["todo"]),
        ("status_filter=completed", ["done"]),
        ("completed=true", ["done"]),
        ("completed=false", ["todo"]),
        ("status=pending&completed=false", ["todo"]),
        # When synonyms disagree, status beats status_filter beats completed.
        ("status=pending&completed=true", ["todo"]),
        ("status_filter=completed&completed=false", ["done"]),
        ("status=all&status_filter=pending", ["todo", "done"]),
    ]:
        assert await titles(client, alice, query) == expected, query
    response = await client.get("/api/tasks?status=completed", headers=alice)
    assert response.headers["X-Total-Count"] == "1"


async def test_search_is_case_insensitive_on_title_and_description(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    await create(client, alice, title="Buy MILK")
    await create(client, alice, title="Call mum", description="about the milkman")
    await create(client, alice, title="100% done_ish")
    await create(client, alice, title="Other")

    assert sorted(await titles(client, alice, "q=milk")) == ["Buy MILK", "Call mum"]
    # LIKE wildcards in the query are literal characters.
    assert await titles(client, alice, "q=%25") == ["100% done_ish"]
    assert await titles(client, alice, "q=_ish") == ["100% done_ish"]
    assert await titles(client, alice, "q=nothing") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=%00", []),
        ("q=milk%00", []),
        ("q=%09", ["tab\there"]),
        ("q=%0A", ["Lines"]),
        ("q=%01%1F%7F%C2%85", []),
        ("q=%ED%A0%80", []),
    ],
)
async def test_any_search_string_is_answered_control_characters_included(
    client: httpx.AsyncClient, alice: Headers, query: str, expected: list[str]
) -> None:
    await create(client, alice, title="tab\there")
    await create(client, alice, title="Lines", description="one\ntwo")
    await create(client, alice, title="milk")

    response = await client.get(f"/api/tasks?{query}", headers=alice)

    assert response.status_code == 200, response.text
    assert [task["title"] for task in response.json()] == expected
    assert response.headers["X-Total-Count"] == str(len(expected))


@pytest.mark.parametrize(
    "query",
    [
        "status=done",
        "status_filter=nope",
        "sort=importance",
        "sort=--title",
        "limit=0",
        "limit=201",
        "limit=abc",
        "offset=-1",
        "cursor=abc&offset=0",
        "completed=maybe",
    ],
)
async def test_bad_query_parameters_are_400(
    client: httpx.AsyncClient, alice: Headers, query: str
) -> None:
    response = await client.get(f"/api/tasks?{query}", headers=alice)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400


@pytest.mark.parametrize("authorization", [None, "Bearer junk"])
async def test_who_is_asking_is_checked_before_what_they_ask(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}

    response = await client.get("/api/tasks?limit=abc", headers=headers)

    assert response.status_code == 401


async def test_a_bad_query_parameter_is_named_in_the_problem(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    response = await client.get("/api/tasks?limit=abc&sort=-title", headers=alice)

    [error] = response.json()["errors"]
    assert error["loc"] == ["query", "limit"]
    assert "integer" in error["msg"]


async def test_cursor_and_offset_together_name_the_offset(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    response = await client.get("/api/tasks?cursor=abc&offset=0", headers=alice)

    [error] = response.json()["errors"]
    assert error["loc"] == ["query", "offset"]


async def test_of_a_repeated_query_parameter_the_last_counts(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    for i in range(3):
        await create(client, alice, title=f"t{i}")

    response = await client.get("/api/tasks?limit=1&limit=2", headers=alice)

    assert len(response.json()) == 2


async def test_every_query_parameter_is_documented(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    fields = list(TaskListQuery.model_fields)

    for path, first in [("/api/tasks", []), ("/api/{user_id}/tasks", ["user_id"])]:
        parameters = paths[path]["get"]["parameters"]
        assert [p["name"] for p in parameters] == first + fields
    limit = next(p for p in paths["/api/tasks"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 200,
        "default": 50,
        "title": "Limit",
        "description": "1 to 200; the compatibility paths (`/api/{user_id}/tasks`) default to 200.",
    }
    assert limit["description"] == limit["schema"]["description"]


async def test_cursor_pages_cover_every_task_once_with_link_and_count(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    created = [await create(client, alice, title=f"t{i:02}") for i in range(7)]

    first = await client.get("/api/tasks?limit=3&status=all", headers=alice)
    assert first.headers["X-Total-Count"] == "7"
    link = next_link(first)
    assert link is not None
    assert link.startswith("/api/tasks?")
    assert "limit=3" in link
    assert "status=all" in link
    seen = await walk(client, alice, "/api/tasks?limit=3")

    assert [t["id"] for t in seen] == [t["id"] for t in reversed(created)]


@pytest.mark.parametrize(
    "sort", ["title", "-title", "created_at", "+created_at", "updated_at", "+updated_at"]
)
async def test_every_sort_pages_without_repeats_or_gaps(
    client: httpx.AsyncClient, alice: Headers, sort: str
) -> None:
    # Duplicate titles force the id tie-breaker to do its job.
    for i in range(9):
        await create(client, alice, title=["same", "Same", "other"][i % 3])
    everything = (
        await client.get(f"/api/tasks?limit=200&sort={sort.replace('+', '%2B')}", headers=alice)
    ).json()

    paged = await walk(client, alice, f"/api/tasks?limit=2&sort={sort.replace('+', '%2B')}")

    assert [t["id"] for t in paged] == [t["id"] for t in everything]
    assert len(paged) == 9


async def test_offset_paging_for_page_number_uis(client: httpx.AsyncClient, alice: Headers) -> None:
    for i in range(5):
        await create(client, alice, title=f"t{i}")

    page = await client.get("/api/tasks?limit=2&offset=2&sort=%2Bcreated_at", headers=alice)

    assert [t["title"] for t in page.json()] == ["t2", "t3"]
    link = next_link(page)
    assert link is not None
    assert "offset=4" in link
    assert "cursor" not in link
    assert [t["title"] for t in await walk(client, alice, link)] == ["t4"]


async def test_pages_neither_repeat_nor_skip_when_tasks_change_between_pages(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    originals = [await create(client, alice, title=f"t{i}") for i in range(6)]
    first = await client.get("/api/tasks?limit=2", headers=alice)
    seen = [t["id"] for t in first.json()]
    # Between pages: a new task arrives (it sorts before the cursor) and an unseen one goes.
    await create(client, alice, title="newcomer")
    await client.delete(f"/api/tasks/{originals[1]['id']}", headers=alice)
    link = next_link(first)
    assert link is not None

    seen += [t["id"] for t in await walk(client, alice, link)]

    expected = [t["id"] for t in reversed(originals) if t["id"] != originals[1]["id"]]
    assert seen == expected


@pytest.mark.postgres_only
async def test_pages_stay_consistent_under_concurrent_inserts_and_deletes(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    originals = [await create(client, alice, title=f"t{i}") for i in range(30)]
    doomed = {t["id"] for t in originals[::4]}
    seen: list[int] = []

    async def churn() -> None:
        for task in originals[::4]:
            await client.delete(f"/api/tasks/{task['id']}", headers=alice)
            await create(client, alice, title="concurrent")

    async def read() -> None:
        next_url: str | None = "/api/tasks?limit=4"
        while next_url:
            response = await client.get(next_url, headers=alice)
            seen.extend(t["id"] for t in response.json() if t["title"] != "concurrent")
            next_url = next_link(response)

    async with anyio.create_task_group() as group:
        group.start_soon(churn)
        group.start_soon(read)

    assert len(seen) == len(set(seen)), "a task appeared on two pages"
    survivors = {t["id"] for t in originals} - doomed
    assert survivors <= set(seen), "a task that existed throughout was skipped"


async def test_tampered_or_foreign_cursor_is_400(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    for i in range(3):
        await create(client, alice, title=f"t{i}")
    link = next_link(await client.get("/api/tasks?limit=1", headers=alice))
    assert link is not None
    cursor = link.split("cursor=")[1]
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")

    for headers, query in [
        (alice, f"cursor={tampered}"),
        (alice, "cursor=not-a-cursor"),
        (alice, "cursor=%F0%9F%92%A9"),
        (alice, f"cursor={cursor}&sort=title"),
        (bob, f"cursor={cursor}"),
    ]:
        response = await client.get(f"/api/tasks?{query}", headers=headers)
        assert response.status_code == 400, (query, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def test_listing_shows_only_the_callers_tasks(client: httpx.AsyncClient) -> None:
    for user in ("alice", "bob", "carol"):
        for i in range(3):
            await create(client, bearer(user), title=f"{user}-{i}")

    for user in ("alice", "bob", "carol"):
        tasks = await walk(client, bearer(user), "/api/tasks?limit=2")
        assert {t["user_id"] for t in tasks} == {user}
        assert len(tasks) == 3
