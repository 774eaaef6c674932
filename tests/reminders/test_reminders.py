"""GET /api/reminders: the caller's reminders that fall in [from, until), on a clock the tests
set."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.tasks.test_routes import create
from todo_api.core.clock import FixedClock

Headers = dict[str, str]
NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def at(hours: float = 0, *, seconds: int = 0) -> str:
    """NOW plus the given time, as the API writes it."""
    return (NOW + timedelta(hours=hours, seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def reminders(
    client: httpx.AsyncClient, headers: Headers, query: str = ""
) -> list[tuple[str, str]]:
    """(title, remind_at) of each reminder, in the order returned."""
    response = await client.get(f"/api/reminders?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [(found["title"], found["remind_at"]) for found in response.json()]


async def test_a_reminder_names_its_task_due_and_time(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice, title="Call", due_at=at(2), reminders=["PT1H"])

    response = await client.get("/api/reminders", headers=alice)

    assert response.json() == [
        {"task_id": task["id"], "title": "Call", "due_at": at(2), "remind_at": at(1)}
    ]


async def test_the_default_window_is_now_until_24_hours_later(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    # Each task reminds exactly at one edge of the window and one second before it.
    await create(client, alice, title="start", due_at=at(1), reminders=["PT1H", "PT1H0M1S"])
    await create(client, alice, title="end", due_at=at(25), reminders=["PT1H", "PT1H0M1S"])

    now = await reminders(client, alice)
    clock.advance(1)
    a_second_later = await reminders(client, alice)

    assert now == [("start", at(0)), ("end", at(24, seconds=-1))]
    assert a_second_later == [("end", at(24, seconds=-1)), ("end", at(24))]


async def test_an_explicit_window_is_from_inclusive_until_exclusive(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    hourly = ["PT3H", "PT2H", "PT1H"]  # 10:00, 11:00 and 12:00
    await create(client, alice, title="a", due_at="2026-03-30T13:00:00Z", reminders=hourly)
    await create(client, alice, title="b", due_at="2026-03-31T11:00:00Z", reminders=["PT1S"])

    windows = [
        "from=2026-03-30T11:00:00Z&until=2026-03-30T12:00:00Z",
        "from=2026-03-30T08:00:00-03:00&until=2026-03-30T14:00:00%2B02:00",
        "from=2026-03-30T11:00:01Z",  # until 24 hours after `from`
    ]

    assert [await reminders(client, alice, window) for window in windows] == [
        [("a", "2026-03-30T11:00:00Z")],
        [("a", "2026-03-30T11:00:00Z")],
        [("a", "2026-03-30T12:00:00Z"), ("b", "2026-03-31T10:59:59Z")],
    ]


@pytest.mark.parametrize(
    "query",
    [
        "from=2026-03-10T00:00:00Z&until=2026-04-10T00:00:01Z",
        "until=2026-04-10T12:00:01Z",
        "from=2026-03-10T00:00:00Z&until=2026-03-09T23:59:59Z",
        "from=2026-03-10T00:00:00",
        "until=2026-03-10T18:00:00",
        "from=tomorrow",
    ],
)
async def test_a_window_too_long_reversed_or_without_offset_is_400(
    client: httpx.AsyncClient, alice: Headers, query: str
) -> None:
    response = await client.get(f"/api/reminders?{query}", headers=alice)

    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_window_of_exactly_31_days_is_allowed(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    await create(client, alice, title="last", due_at=at(24 * 31), reminders=["PT1S"])

    found = await reminders(client, alice, f"until={at(24 * 31)}")

    assert found == [("last", at(24 * 31, seconds=-1))]


async def test_reminders_are_sorted_by_time_then_task_id(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    # The later due comes first by id: the order is by reminder time, not by due.
    await create(client, alice, title="x", due_at=at(3), reminders=["PT2H", "PT30M"])
    await create(client, alice, title="y", due_at=at(2), reminders=["PT1H"])
    await create(client, alice, title="z", due_at=at(1.5), reminders=["PT1H"])

    assert await reminders(client, alice) == [
        ("z", at(0.5)),
        ("x", at(1)),
        ("y", at(1)),
        ("x", at(2.5)),
    ]


async def test_completed_tasks_and_other_users_tasks_never_remind(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    await create(client, alice, title="open", due_at=at(2), reminders=["PT1H"])
    done = await create(client, alice, title="done", due_at=at(2), reminders=["PT30M"])
    await client.patch(f"/api/tasks/{done['id']}/complete", headers=alice)
    await create(client, bob, title="bob's", due_at=at(2), reminders=["PT1H"])

    assert await reminders(client, alice) == [("open", at(1))]
    assert await reminders(client, bob) == [("bob's", at(1))]
    await client.patch(f"/api/tasks/{done['id']}/complete", headers=alice)
    assert await reminders(client, alice) == [("open", at(1)), ("done", at(1.5))]


@pytest.mark.parametrize(
    "change",
    [
        {"reminders": []},
        {"due_at": None, "reminders": []},
        {"due_date": "2026-03-10", "reminders": []},
    ],
)
async def test_a_task_without_reminders_or_due_time_does_not_remind(
    client: httpx.AsyncClient, alice: Headers, change: dict[str, Any]
) -> None:
    task = await create(client, alice, due_at=at(2), reminders=["PT1H"])

    response = await client.patch(f"/api/tasks/{task['id']}", json=change, headers=alice)

    assert response.status_code == 200, response.text
    assert await reminders(client, alice) == []


async def test_a_recurring_tasks_reminders_follow_its_current_occurrence(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(
        client, alice, title="daily", due_at=at(2), recurrence="FREQ=DAILY", reminders=["PT1H"]
    )
    window = f"until={at(48)}"

    first = await reminders(client, alice, window)
    completed = await client.patch(f"/api/tasks/{task['id']}/complete", headers=alice)
    following = await client.get(f"/api/reminders?{window}", headers=alice)

    assert first == [("daily", at(1))]
    assert (completed.json()["completed"], completed.json()["due_at"]) == (False, at(26))
    assert following.json() == [
        {"task_id": task["id"], "title": "daily", "due_at": at(26), "remind_at": at(25)}
    ]
