"""Validation edges: what is refused is refused with 422 and leaves nothing behind."""

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import Rows

Headers = dict[str, str]


@pytest.mark.parametrize(
    ("title", "stored"),
    [
        ("a", "a"),
        ("x" * 200, "x" * 200),
        ("  " + "x" * 200 + "\t\n", "x" * 200),
        ("é" * 200, "é" * 200),
        ("🙂" * 200, "🙂" * 200),
        ("日本語のタスク", "日本語のタスク"),
    ],
)
async def test_titles_up_to_200_code_points_after_trimming_are_stored_trimmed(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, title: str, stored: str
) -> None:
    response = await client.post("/api/tasks", json={"title": title}, headers=alice)

    assert response.status_code == 201, response.text
    row = await rows.task(response.json()["id"])
    assert row is not None
    assert row["title"] == stored


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"title": ""},
        {"title": "   \t\n "},
        {"title": "x" * 201},
        {"title": "🙂" * 201},
        {"title": None},
        {"title": 42},
        {"title": ["x"]},
        {"title": "nul\x00byte"},
        {"title": "ok", "description": "d" * 1001},
        {"title": "ok", "description": 5},
        {"title": "ok", "completed": "true"},
        {"title": "ok", "completed": "yes"},
        {"title": "ok", "completed": 1},
        {"title": "ok", "completed": 0},
        {"title": "ok", "completed": None},
        {"title": "ok", "user_id": "bob"},
        {"title": "ok", "id": 1},
        {"title": "ok", "created_at": "2020-01-01T00:00:00Z"},
        {"title": "ok", "version": 3},
        {"title": "ok", "priority": "critical"},
        {"title": "ok", "priority": None},
        {"title": "ok", "position": "a0"},
        {"title": "ok", "completed_at": None},
        {"title": "ok", "due_date": "2026-02-30"},
        {"title": "ok", "due_date": "2026-03-01T00:00:00Z"},
        {"title": "ok", "due_date": 20260301},
        {"title": "ok", "due_at": "2026-03-01T09:00:00"},
        {"title": "ok", "due_date": "2026-03-01", "due_at": "2026-03-01T09:00:00Z"},
        {"title": "ok", "tags": "work"},
        {"title": "ok", "tags": ["a,b"]},
        {"title": "ok", "tags": ["   "]},
        {"title": "ok", "tags": ["x" * 51]},
        {"title": "ok", "tags": [f"t{n}" for n in range(21)]},
        {"title": "ok", "tags": ["bell\x07"]},
        {"title": "ok", "recurrence": "FREQ=DAILY"},
        {"title": "ok", "recurrence": "FREQ=HOURLY", "due_date": "2026-03-01"},
        {"title": "ok", "recurrence": "RRULE:FREQ=DAILY", "due_date": "2026-03-01"},
        {
            "title": "ok",
            "recurrence": "FREQ=DAILY;UNTIL=20260401T000000Z",
            "due_date": "2026-03-01",
        },
        {
            "title": "ok",
            "recurrence": "FREQ=DAILY;UNTIL=20260401",
            "due_at": "2026-03-01T09:00:00Z",
        },
        {"title": "ok", "reminders": ["PT15M"]},
        {"title": "ok", "reminders": ["PT15M"], "due_date": "2026-03-01"},
        {"title": "ok", "reminders": ["P31D"], "due_at": "2026-03-01T09:00:00Z"},
        {"title": "ok", "reminders": ["P1M"], "due_at": "2026-03-01T09:00:00Z"},
        {"title": "ok", "reminders": ["-PT1H"], "due_at": "2026-03-01T09:00:00Z"},
        {"title": "ok", "reminders": ["soon"], "due_at": "2026-03-01T09:00:00Z"},
        {
            "title": "ok",
            "reminders": [f"PT{n}M" for n in range(1, 7)],
            "due_at": "2026-03-01T09:00:00Z",
        },
    ],
)
async def test_invalid_create_bodies_are_422_and_store_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, body: dict[str, Any]
) -> None:
    response = await client.post("/api/tasks", json=body, headers=alice)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    assert await rows("SELECT * FROM tasks") == []
    assert await rows("SELECT * FROM users") == []


async def test_description_of_exactly_1000_characters_is_accepted(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    response = await client.post(
        "/api/tasks", json={"title": "ok", "description": "ü" * 1000}, headers=alice
    )

    assert response.status_code == 201
    row = await rows.task(response.json()["id"])
    assert row is not None
    assert row["description"] == "ü" * 1000


async def test_lone_surrogates_are_422_not_a_server_error(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    response = await client.post(
        "/api/tasks",
        content=b'{"title": "bad \\ud800 text"}',
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 422
    assert await rows("SELECT * FROM tasks") == []


async def test_duplicate_keys_take_the_last_value_like_every_json_parser(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    response = await client.post(
        "/api/tasks",
        content=b'{"title": "first", "title": "second"}',
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 201
    assert response.json()["title"] == "second"


@pytest.mark.parametrize(
    ("method", "body", "field"),
    [
        ("PATCH", {"title": None}, "title"),
        ("PATCH", {"completed": None}, "completed"),
        ("PUT", {"title": None, "completed": True}, "title"),
        ("POST", {"title": None}, "title"),
        ("POST", {"title": "ok", "completed": None}, "completed"),
    ],
)
async def test_a_null_where_a_value_is_required_is_named_in_the_error(
    client: httpx.AsyncClient, alice: Headers, method: str, body: dict[str, Any], field: str
) -> None:
    created = await client.post("/api/tasks", json={"title": "Stay"}, headers=alice)
    path = "/api/tasks" if method == "POST" else f"/api/tasks/{created.json()['id']}"

    response = await client.request(method, path, json=body, headers=alice)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]


@pytest.mark.parametrize("control", ["\x00", "\x01", "\n", "\x1f", "\x7f", "\x85", "\ud800"])
async def test_control_characters_in_any_text_input_are_never_a_server_error(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, control: str
) -> None:
    created = await client.post("/api/tasks", json={"title": "Stay"}, headers=alice)
    task = created.json()
    text = quote(f"a{control}b", errors="surrogatepass")
    header = f"a{control}b".encode("latin-1", errors="replace")
    json_text = json.dumps(f"a{control}b")  # \\u escapes, lone surrogates included
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/api/tasks?q={text}", {}),
        ("GET", f"/api/tasks?cursor={text}", {}),
        ("GET", f"/api/tasks?sort={text}", {}),
        ("GET", f"/api/tasks?status={text}", {}),
        ("GET", f"/api/tasks/{text}", {}),
        ("GET", f"/api/{text}/tasks", {}),
        ("GET", "/api/tasks", {"headers": {"X-Request-ID": header}}),
        ("GET", f"/api/tasks/{task['id']}", {"headers": {"If-None-Match": header}}),
        ("PATCH", f"/api/tasks/{task['id']}", {"headers": {"If-Match": header}}),
        ("POST", "/api/tasks", {"headers": {"Idempotency-Key": header}}),
        ("POST", "/api/tasks", {"content": f'{{"title": {json_text}}}'}),
        ("POST", "/api/tasks", {"content": f'{{"title": "x", "description": {json_text}}}'}),
        ("POST", "/api/tasks", {"content": f'{{{json_text}: "x"}}'}),
        (
            "PUT",
            f"/api/tasks/{task['id']}",
            {"content": f'{{"title": "x", "user_id": {json_text}}}'},
        ),
    ]

    for method, path, extra in requests:
        headers = {**alice, "Content-Type": "application/json", **extra.pop("headers", {})}
        body = extra.get("content", '{"title": "x"}') if method != "GET" else None
        response = await client.request(method, path, content=body, headers=headers)
        assert response.status_code < 500, (method, path, extra, response.text)

    stored = await rows("SELECT title FROM tasks ORDER BY id")
    assert all("\x00" not in row["title"] for row in stored)
