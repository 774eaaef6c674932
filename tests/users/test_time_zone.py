"""The user's time zone: setting it, and the days it defines for dues (today, overdue, the due
filters and sort=due), tested on either side of the user's midnight with a clock the tests set.

Pacific/Kiritimati is UTC+14 and Pacific/Pago_Pago UTC-11 (neither observes daylight saving),
so the user's day and the server's UTC day differ for most of every day.
"""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import Rows
from tests.tasks.test_routes import create
from todo_api.core.clock import FixedClock

Headers = dict[str, str]
KIRITIMATI = "Pacific/Kiritimati"
PAGO_PAGO = "Pacific/Pago_Pago"
DAY = date(2026, 3, 10)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, tzinfo=UTC))


def local(day: date, zone: str, *, seconds: int = 0) -> datetime:
    """`seconds` after 00:00 of `day` in `zone`, in UTC."""
    start = datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return start + timedelta(seconds=seconds)


def z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def set_time(clock: FixedClock, instant: datetime) -> None:
    clock.advance((instant - clock.now()).total_seconds())


async def set_zone(client: httpx.AsyncClient, headers: Headers, zone: str) -> dict[str, Any]:
    response = await client.patch("/api/me", json={"time_zone": zone}, headers=headers)
    assert response.status_code == 200, response.text
    me: dict[str, Any] = response.json()
    return me


async def titles(client: httpx.AsyncClient, headers: Headers, query: str) -> list[str]:
    response = await client.get(f"/api/tasks?{query}", headers=headers)
    assert response.status_code == 200, response.text
    return [task["title"] for task in response.json()]


async def test_time_zone_is_utc_until_set_and_patch_returns_me(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    before = (await client.get("/api/me", headers=alice)).json()
    await create(client, alice, completed=True)

    me = await set_zone(client, alice, "Europe/Berlin")

    assert before["time_zone"] == "UTC"
    assert me == {
        "user_id": "alice",
        "time_zone": "Europe/Berlin",
        "tasks": {"total": 1, "completed": 1, "pending": 0, "overdue": 0, "due_today": 0},
    }
    assert (await client.get("/api/me", headers=alice)).json() == me
    assert await rows("SELECT time_zone FROM users WHERE id = 'alice'") == [
        {"time_zone": "Europe/Berlin"}
    ]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ('{"time_zone": "Mars/Olympus_Mons"}', ["body", "time_zone"]),
        ('{"time_zone": "../../etc/passwd"}', ["body", "time_zone"]),
        ('{"time_zone": ""}', ["body", "time_zone"]),
        ('{"time_zone": 1}', ["body", "time_zone"]),
        ('{"time_zone": null}', ["body", "time_zone"]),
        ('{"time_zone": ["UTC"]}', ["body", "time_zone"]),
        ('{"time_zone": "Europe/Berlin", "locale": "de"}', ["body", "locale"]),
        ("{}", ["body", "time_zone"]),
        ("", ["body"]),
    ],
)
async def test_an_invalid_time_zone_update_is_422_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    rows: Rows,
    body: str,
    loc: list[str],
) -> None:
    await set_zone(client, alice, "Asia/Tokyo")

    refused = [
        await client.patch(
            "/api/me", content=body, headers={**who, "Content-Type": "application/json"}
        )
        for who in (alice, bob)
    ]

    for response in refused:
        assert response.status_code == 422, response.text
        assert [error["loc"] for error in response.json()["errors"]] == [loc]
    assert (await client.get("/api/me", headers=alice)).json()["time_zone"] == "Asia/Tokyo"
    assert await rows("SELECT id, time_zone FROM users") == [
        {"id": "alice", "time_zone": "Asia/Tokyo"}
    ]


@pytest.mark.parametrize(("zone", "other"), [(KIRITIMATI, PAGO_PAGO), (PAGO_PAGO, KIRITIMATI)])
async def test_an_all_day_due_reads_back_the_same_day_in_any_zone(
    client: httpx.AsyncClient, alice: Headers, zone: str, other: str
) -> None:
    await set_zone(client, alice, zone)
    task = await create(client, alice, due_date="2026-03-10")

    reads = [(await client.get(f"/api/tasks/{task['id']}", headers=alice)).json()]
    reads += (await client.get("/api/tasks", headers=alice)).json()
    await set_zone(client, alice, other)
    reads.append((await client.get(f"/api/tasks/{task['id']}", headers=alice)).json())
    reads += (await client.get("/api/tasks", headers=alice)).json()

    assert task["due_date"] == "2026-03-10"
    assert reads == [task] * 4


# Tasks around the user's midnight between March 9 and March 10, and which filter shows each
# just before that midnight and at it.
BEFORE = {
    "overdue": {"23:30 on the 9th"},
    "today": {"all day 9th", "all day 9th, done", "23:30 on the 9th"},
    "upcoming": {"all day 10th", "00:30 on the 10th"},
}
AFTER = {
    "overdue": {"all day 9th", "23:30 on the 9th"},
    "today": {"all day 10th", "00:30 on the 10th"},
    "upcoming": set(),
}


@pytest.mark.parametrize("zone", [KIRITIMATI, PAGO_PAGO])
@pytest.mark.parametrize(("seconds", "expected"), [(-1, BEFORE), (0, AFTER)])
async def test_today_and_overdue_switch_at_the_users_midnight_not_utcs(
    client: httpx.AsyncClient,
    alice: Headers,
    clock: FixedClock,
    zone: str,
    seconds: int,
    expected: dict[str, set[str]],
) -> None:
    await set_zone(client, alice, zone)
    midnight = local(DAY, zone)
    await create(client, alice, title="all day 9th", due_date="2026-03-09")
    await create(client, alice, title="all day 9th, done", due_date="2026-03-09", completed=True)
    await create(client, alice, title="all day 10th", due_date="2026-03-10")
    await create(
        client, alice, title="23:30 on the 9th", due_at=z(midnight - timedelta(minutes=30))
    )
    await create(
        client, alice, title="00:30 on the 10th", due_at=z(midnight + timedelta(minutes=30))
    )
    await create(client, alice, title="no due")
    set_time(clock, midnight + timedelta(seconds=seconds))

    found = {due: set(await titles(client, alice, f"due={due}")) for due in expected}
    me = (await client.get("/api/me", headers=alice)).json()

    assert found == expected
    assert set(await titles(client, alice, "due=none")) == {"no due"}
    assert len(await titles(client, alice, "due=any")) == 5
    assert (me["tasks"]["overdue"], me["tasks"]["due_today"]) == (
        len(expected["overdue"]),
        len(expected["today"]),
    )


async def test_upcoming_is_the_seven_days_after_the_users_today(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, KIRITIMATI)
    for offset in (0, 1, 7, 8):
        await create(client, alice, title=f"day +{offset}", due_date=str(DAY + timedelta(offset)))
    for title, instant in [
        ("last second of today", local(DAY, KIRITIMATI, seconds=86399)),
        ("start of day +1", local(DAY + timedelta(1), KIRITIMATI)),
        ("last second of day +7", local(DAY + timedelta(8), KIRITIMATI, seconds=-1)),
        ("start of day +8", local(DAY + timedelta(8), KIRITIMATI)),
    ]:
        await create(client, alice, title=title, due_at=z(instant))
    set_time(clock, local(DAY, KIRITIMATI, seconds=12 * 3600))

    assert set(await titles(client, alice, "due=upcoming")) == {
        "day +1",
        "day +7",
        "start of day +1",
        "last second of day +7",
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("due_from=2026-03-10&due_to=2026-03-10", {"all day 10th", "00:00 10th", "23:59 10th"}),
        ("due_from=2026-03-11", {"all day 11th", "00:00 11th"}),
        ("due_to=2026-03-09", {"23:59 9th"}),
    ],
)
async def test_due_from_and_due_to_are_inclusive_days_in_the_users_zone(
    client: httpx.AsyncClient, alice: Headers, query: str, expected: set[str]
) -> None:
    await set_zone(client, alice, KIRITIMATI)
    await create(client, alice, title="all day 10th", due_date="2026-03-10")
    await create(client, alice, title="all day 11th", due_date="2026-03-11")
    for title, seconds in [
        ("23:59 9th", -1),
        ("00:00 10th", 0),
        ("23:59 10th", 86399),
        ("00:00 11th", 86400),
    ]:
        await create(client, alice, title=title, due_at=z(local(DAY, KIRITIMATI, seconds=seconds)))

    assert set(await titles(client, alice, query)) == expected


async def test_sort_by_due_places_all_day_tasks_at_midnight_in_the_users_current_zone(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    # 2026-03-10T00:00Z is after midnight in Kiritimati and before it in Pago Pago.
    await set_zone(client, alice, KIRITIMATI)
    await create(client, alice, title="no due 1")
    await create(client, alice, title="all day", due_date="2026-03-10")
    await create(client, alice, title="timed", due_at="2026-03-10T00:00:00Z")
    await create(client, alice, title="no due 2")
    kiritimati = {
        "sort=due": ["all day", "timed", "no due 1", "no due 2"],
        "sort=-due": ["timed", "all day", "no due 2", "no due 1"],
    }
    pago_pago = {
        "sort=due": ["timed", "all day", "no due 1", "no due 2"],
        "sort=-due": ["all day", "timed", "no due 2", "no due 1"],
    }

    orders = []
    for zone in (KIRITIMATI, PAGO_PAGO, KIRITIMATI):
        await set_zone(client, alice, zone)
        orders.append({query: await titles(client, alice, query) for query in kiritimati})

    assert orders == [kiritimati, pago_pago, kiritimati]
