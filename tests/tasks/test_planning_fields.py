"""Planning fields through the API: what is stored and read back, the rules that tie dues,
recurrence and reminders together, and the server-owned `position` and `completed_at`."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import Rows
from tests.tasks.test_routes import create
from todo_api.core.clock import FixedClock

Headers = dict[str, str]
START = datetime(2026, 3, 10, 12, tzinfo=UTC)
DAY = "2026-03-22"
AT = "2026-03-22T09:00:00Z"
PLANNING = ("priority", "due_date", "due_at", "tags", "recurrence", "reminders", "position")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def planning(task: dict[str, Any]) -> dict[str, Any]:
    return {name: task[name] for name in (*PLANNING, "completed_at")}


def stable(task: dict[str, Any]) -> dict[str, Any]:
    """The task without what every change moves."""
    return {name: value for name, value in task.items() if name not in ("version", "updated_at")}


@pytest.mark.parametrize("priority", ["none", "low", "medium", "high", "urgent"])
async def test_every_planning_field_is_stored_and_read_back(
    client: httpx.AsyncClient, alice: Headers, priority: str
) -> None:
    task = await create(
        client,
        alice,
        priority=priority,
        due_at="2026-03-22T10:00:00+01:00",
        tags=["  beta ", "Alpha", "BETA", "Zulu"],
        recurrence="FREQ=WEEKLY;BYDAY=SU",
        reminders=["P1D", "PT1H", "PT15M", "PT60M"],
    )

    assert planning(task) == {
        "priority": priority,
        "due_date": None,
        "due_at": AT,
        "tags": ["Alpha", "beta", "Zulu"],
        "recurrence": "FREQ=WEEKLY;BYDAY=SU",
        "reminders": ["PT15M", "PT1H", "P1D"],
        "position": task["position"],
        "completed_at": None,
    }
    assert (await client.get(f"/api/tasks/{task['id']}", headers=alice)).json() == task
    assert (await client.get("/api/tasks", headers=alice)).json() == [task]


async def test_a_task_without_planning_fields_has_the_defaults(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice)

    assert {name: task[name] for name in PLANNING if name != "position"} == {
        "priority": "none",
        "due_date": None,
        "due_at": None,
        "tags": [],
        "recurrence": None,
        "reminders": [],
    }
    assert isinstance(task["position"], str)
    assert task["position"]
    assert task["completed_at"] is None


@pytest.mark.parametrize(
    ("sent", "returned"),
    [
        ("2026-03-22T10:00:00+01:00", AT),
        ("2026-03-22T04:00:00-05:00", AT),
        ("2026-03-22T09:00:00+00:00", AT),
        ("2026-03-22T23:30:00.5-14:00", "2026-03-23T13:30:00.500000Z"),
    ],
)
async def test_due_at_with_an_offset_is_returned_in_utc(
    client: httpx.AsyncClient, alice: Headers, sent: str, returned: str
) -> None:
    task = await create(client, alice, due_at=sent)
    read = (await client.get(f"/api/tasks/{task['id']}", headers=alice)).json()

    assert (task["due_at"], read["due_at"], read["due_date"]) == (returned, returned, None)


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    "change",
    [
        {"title": "Renamed"},
        {"priority": "low"},
        {"tags": ["new"]},
        {"reminders": ["PT5M"]},
        {"due_at": AT},
    ],
)
async def test_fields_an_update_omits_are_unchanged(
    client: httpx.AsyncClient, alice: Headers, method: str, change: dict[str, Any]
) -> None:
    full = {
        "priority": "urgent",
        "due_at": "2026-03-21T09:00:00Z",
        "tags": ["home"],
        "recurrence": "FREQ=DAILY",
        "reminders": ["PT1H"],
    }
    task = await create(client, alice, **full)

    response = await client.request(method, f"/api/tasks/{task['id']}", json=change, headers=alice)

    assert response.status_code == 200, response.text
    assert stable(response.json()) == stable(task | change)


DAILY_DATE_UNTIL = "FREQ=DAILY;UNTIL=20260401"
DAILY_TIME_UNTIL = "FREQ=DAILY;UNTIL=20260401T000000Z"


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize(
    ("initial", "change", "field"),
    [
        ({"due_date": DAY}, {"due_date": DAY, "due_at": AT}, "due_at"),
        ({}, {"recurrence": "FREQ=DAILY"}, "recurrence"),
        ({"due_date": DAY, "recurrence": "FREQ=DAILY"}, {"due_date": None}, "due_date"),
        ({"due_at": AT, "recurrence": "FREQ=DAILY"}, {"due_at": None}, "due_at"),
        ({}, {"reminders": ["PT15M"]}, "reminders"),
        ({"due_date": DAY}, {"reminders": ["PT15M"]}, "reminders"),
        ({"due_at": AT, "reminders": ["PT15M"]}, {"due_date": DAY}, "due_date"),
        ({"due_at": AT, "reminders": ["PT15M"]}, {"due_at": None}, "due_at"),
        ({"due_at": AT}, {"recurrence": DAILY_DATE_UNTIL}, "recurrence"),
        ({"due_date": DAY}, {"recurrence": DAILY_TIME_UNTIL}, "recurrence"),
        ({"due_date": DAY, "recurrence": DAILY_DATE_UNTIL}, {"due_at": AT}, "due_at"),
        ({"due_at": AT, "recurrence": DAILY_TIME_UNTIL}, {"due_date": DAY}, "due_date"),
    ],
)
async def test_an_update_that_breaks_a_planning_rule_is_422_naming_the_field(
    client: httpx.AsyncClient,
    alice: Headers,
    rows: Rows,
    method: str,
    initial: dict[str, Any],
    change: dict[str, Any],
    field: str,
) -> None:
    task = await create(client, alice, **initial)
    before = await rows.task(task["id"])

    response = await client.request(method, f"/api/tasks/{task['id']}", json=change, headers=alice)

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
    assert await rows.task(task["id"]) == before


@pytest.mark.parametrize(
    ("initial", "change", "expected"),
    [
        ({"due_at": AT}, {"due_date": DAY}, {"due_date": DAY, "due_at": None}),
        ({"due_date": DAY}, {"due_at": AT}, {"due_date": None, "due_at": AT}),
        ({"due_date": DAY, "recurrence": "FREQ=DAILY"}, {"due_date": None, "recurrence": None}, {}),
        ({"due_at": AT, "recurrence": "FREQ=DAILY"}, {"due_at": None, "recurrence": None}, {}),
        ({"due_at": AT, "reminders": ["PT15M"]}, {"due_at": None, "reminders": []}, {}),
    ],
)
async def test_setting_one_due_clears_the_other_and_a_due_goes_with_what_needs_it(
    client: httpx.AsyncClient, alice: Headers, initial: Any, change: Any, expected: Any
) -> None:
    task = await create(client, alice, **initial)

    response = await client.patch(f"/api/tasks/{task['id']}", json=change, headers=alice)

    assert response.status_code == 200, response.text
    assert planning(response.json()) == planning(task) | change | expected


COMPLETING: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "toggle": ("PATCH", "/complete", None),
    "complete": ("PATCH", "/complete", {"completed": True}),
    "patch": ("PATCH", "", {"completed": True}),
    "put": ("PUT", "", {"completed": True}),
}


@pytest.mark.parametrize("how", COMPLETING)
async def test_completed_at_is_set_on_completion_kept_on_repeat_and_cleared_on_reopen(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock, how: str
) -> None:
    task = await create(client, alice)
    url = f"/api/tasks/{task['id']}"
    method, suffix, body = COMPLETING[how]
    clock.advance(60)

    done = await client.request(method, url + suffix, json=body, headers=alice)
    clock.advance(60)
    again = [
        await client.patch(f"{url}/complete", json={"completed": True}, headers=alice),
        await client.patch(url, json={"completed": True, "title": "Again"}, headers=alice),
    ]
    reopened = await client.patch(f"{url}/complete", json={"completed": False}, headers=alice)

    assert done.json()["completed_at"] == "2026-03-10T12:01:00Z"
    assert [response.json()["completed_at"] for response in again] == [
        done.json()["completed_at"]
    ] * 2
    assert (reopened.json()["completed"], reopened.json()["completed_at"]) == (False, None)


async def test_a_task_created_completed_has_completed_at_now(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice, completed=True)

    assert task["completed_at"] == task["created_at"] == "2026-03-10T12:00:00Z"


@pytest.mark.parametrize("completed", [False, True])
async def test_position_and_completed_at_sent_back_unchanged_are_ignored(
    client: httpx.AsyncClient, alice: Headers, completed: bool
) -> None:
    task = await create(client, alice, completed=completed)

    response = await client.put(
        f"/api/tasks/{task['id']}", json={**task, "title": "New"}, headers=alice
    )

    assert response.status_code == 200, response.text
    assert planning(response.json()) == planning(task)


@pytest.mark.parametrize(
    ("completed", "field", "value"),
    [
        (False, "position", "zzz"),
        (False, "completed_at", "2026-03-10T12:00:00Z"),
        (True, "completed_at", None),
        (True, "completed_at", "2026-03-10T12:00:01Z"),
    ],
)
async def test_position_or_completed_at_that_differs_is_422_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, completed: bool, field: str, value: Any
) -> None:
    task = await create(client, alice, completed=completed)
    before = await rows.task(task["id"])
    sent = {**task, "title": "New", field: value}

    response = await client.patch(f"/api/tasks/{task['id']}", json=sent, headers=alice)

    assert response.status_code == 422, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
    assert await rows.task(task["id"]) == before


@pytest.mark.parametrize("field", ["position", "completed_at"])
async def test_position_or_completed_at_on_create_is_422(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, field: str
) -> None:
    response = await client.post("/api/tasks", json={"title": "x", field: None}, headers=alice)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["body", field]]
    assert await rows("SELECT id FROM tasks") == []


@pytest.mark.parametrize(
    ("base", "status", "order"),
    [
        ("/api/tasks", 200, [("a", 1), ("b", 2)]),
        ("/api/v1/tasks", 200, [("a", 1), ("b", 2)]),
        ("/api/alice/tasks", 200, [("a", 1), ("b", 2)]),
        ("/api/v1/alice/tasks", 200, [("a", 1), ("b", 2)]),
        ("/api/bob/tasks", 403, [("b", 1), ("a", 1)]),
    ],
)
async def test_move_works_under_every_path_of_the_caller_and_no_other(
    client: httpx.AsyncClient, alice: Headers, base: str, status: int, order: Any
) -> None:
    await create(client, alice, title="a")
    second = await create(client, alice, title="b")

    response = await client.post(
        f"{base}/{second['id']}/move", json={"to": "bottom"}, headers=alice
    )

    assert response.status_code == status, response.text
    listed = (await client.get("/api/tasks?sort=position", headers=alice)).json()
    assert [(task["title"], task["version"]) for task in listed] == order


async def test_me_reminders_and_move_errors_answer_identically_under_v1(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice, due_at=AT, reminders=["PT1H"])
    window = "from=2026-03-22T00:00:00Z&until=2026-03-23T00:00:00Z"

    statuses = []
    for method, path, body in [
        ("PATCH", "/me", {"time_zone": "Asia/Tokyo"}),
        ("PATCH", "/me", {"time_zone": "Nowhere/Else"}),
        ("GET", f"/reminders?{window}", None),
        ("GET", "/reminders?from=2026-03-22T00:00:00", None),
        ("POST", f"/tasks/{task['id']}/move", {"before": task["id"]}),
    ]:
        plain = await client.request(method, f"/api{path}", json=body, headers=alice)
        versioned = await client.request(method, f"/api/v1{path}", json=body, headers=alice)
        assert (versioned.status_code, versioned.json()) == (plain.status_code, plain.json())
        statuses.append(plain.status_code)
    assert statuses == [200, 422, 200, 400, 422]
