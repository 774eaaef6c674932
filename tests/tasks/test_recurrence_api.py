"""Completing a recurring task through the API advances it to the series' next occurrence.

Every expected series is computed here with python-dateutil's `rrule` directly, from a
`dtstart` built with zoneinfo in the user's time zone, never through the code under test. The
completions rotate through the three ways a client completes a task: the toggle,
`{"completed": true}` on .../complete, and `completed: true` in a PATCH of the task.
"""

import asyncio
from collections.abc import Iterable
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from dateutil.rrule import DAILY, FR, MO, MONTHLY, TH, TU, WE, WEEKLY, YEARLY, rrule

from tests.conftest import Rows
from tests.tasks.test_routes import create
from todo_api.core.clock import FixedClock

Headers = dict[str, str]
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
HOWS = ("toggle", "set", "patch")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def stamp(moment: datetime) -> str:
    """A time as the API writes it: UTC, `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def all_day(occurrences: Iterable[datetime]) -> list[str]:
    return [each.date().isoformat() for each in occurrences]


def timed(occurrences: Iterable[datetime]) -> list[str]:
    return [stamp(each) for each in occurrences]


def first(rule: rrule, count: int) -> list[datetime]:
    return list(islice(rule, count))


def with_dtstart(start: datetime, rule: rrule, count: int) -> list[datetime]:
    """RFC 5545 3.8.5.3: DTSTART is the first occurrence even where the rule would not produce
    it (dateutil leaves it out), then the rule's own occurrences after it."""
    return [start, *islice((each for each in rule if each > start), count - 1)]


def local(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in `zone` (fold=0 where it is skipped or repeated)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone)


async def set_zone(client: httpx.AsyncClient, headers: Headers, name: str) -> None:
    response = await client.patch("/api/me", json={"time_zone": name}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["time_zone"] == name


async def complete(
    client: httpx.AsyncClient, headers: Headers, task_id: int, how: str
) -> httpx.Response:
    if how == "toggle":
        return await client.patch(f"/api/tasks/{task_id}/complete", headers=headers)
    if how == "set":
        return await client.patch(
            f"/api/tasks/{task_id}/complete", json={"completed": True}, headers=headers
        )
    assert how == "patch"
    return await client.patch(f"/api/tasks/{task_id}", json={"completed": True}, headers=headers)


def due_of(task: dict[str, Any]) -> str:
    """The due as the API writes it, whichever kind the task has."""
    due = task["due_date"] if task["due_date"] is not None else task["due_at"]
    assert isinstance(due, str), task
    return due


async def advance(
    client: httpx.AsyncClient,
    headers: Headers,
    task: dict[str, Any],
    clock: FixedClock,
    how: str,
) -> dict[str, Any]:
    """Complete the current occurrence; the task must come back open, on its next due."""
    clock.advance(3600)
    response = await complete(client, headers, task["id"], how)
    assert response.status_code == 200, response.text
    advanced: dict[str, Any] = response.json()
    assert advanced["completed"] is False, advanced
    assert advanced["completed_at"] is None
    assert advanced["version"] == task["version"] + 1
    assert response.headers["ETag"] == f'"{advanced["version"]}"'
    assert advanced["updated_at"] == stamp(clock.now())
    assert advanced["recurrence"] == task["recurrence"]
    # The due keeps its kind: an all-day task stays all-day, a timed one timed.
    assert (advanced["due_date"] is None) == (task["due_date"] is None)
    assert (advanced["due_at"] is None) == (task["due_at"] is None)
    return advanced


async def walk(
    client: httpx.AsyncClient,
    headers: Headers,
    task: dict[str, Any],
    clock: FixedClock,
    steps: int,
    hows: Iterable[str] = HOWS,
) -> list[str]:
    """The dues the task shows as each occurrence is completed: the first, then `steps` more."""
    ways = list(hows)
    dues = [due_of(task)]
    for step in range(steps):
        task = await advance(client, headers, task, clock, ways[step % len(ways)])
        dues.append(due_of(task))
    stored = await client.get(f"/api/tasks/{task['id']}", headers=headers)
    assert stored.json() == task
    return dues


async def finish(
    client: httpx.AsyncClient,
    headers: Headers,
    task_id: int,
    clock: FixedClock,
    how: str,
    last_due: str,
) -> dict[str, Any]:
    """Complete the series' last occurrence: the task is then completed for good."""
    before = (await client.get(f"/api/tasks/{task_id}", headers=headers)).json()
    clock.advance(3600)
    response = await complete(client, headers, task_id, how)
    assert response.status_code == 200, response.text
    done: dict[str, Any] = response.json()
    assert done["completed"] is True
    assert done["completed_at"] == stamp(clock.now())
    assert done["version"] == before["version"] + 1
    assert due_of(done) == last_due  # the last occurrence stays as its due
    return done


# Series


@pytest.mark.parametrize("how", HOWS)
async def test_completing_a_daily_task_moves_it_to_the_next_day(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock, rows: Rows, how: str
) -> None:
    task = await create(client, alice, due_date="2026-02-26", recurrence="FREQ=DAILY")
    expected = all_day(first(rrule(DAILY, dtstart=datetime(2026, 2, 26)), 6))

    assert await walk(client, alice, task, clock, steps=5, hows=[how]) == expected
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["completed"], stored["completed_at"], stored["version"]) == (False, None, 6)
    assert str(stored["due_date"]) == "2026-03-03"


@pytest.mark.parametrize(
    ("rule", "start", "expected"),
    [
        (
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            date(2026, 3, 2),
            rrule(WEEKLY, byweekday=(MO, WE, FR), dtstart=datetime(2026, 3, 2)),
        ),
        (
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
            date(2026, 3, 3),
            rrule(WEEKLY, interval=2, byweekday=(TU, TH), dtstart=datetime(2026, 3, 3)),
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=31",
            date(2026, 1, 31),
            rrule(MONTHLY, bymonthday=31, dtstart=datetime(2026, 1, 31)),
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            date(2027, 12, 31),
            rrule(MONTHLY, bymonthday=-1, dtstart=datetime(2027, 12, 31)),
        ),
        (
            "FREQ=MONTHLY;BYDAY=-1FR",
            date(2026, 1, 30),
            rrule(MONTHLY, byweekday=FR(-1), dtstart=datetime(2026, 1, 30)),
        ),
        ("FREQ=YEARLY", date(2028, 2, 29), rrule(YEARLY, dtstart=datetime(2028, 2, 29))),
        (
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            date(2024, 2, 29),
            rrule(YEARLY, bymonth=2, bymonthday=29, dtstart=datetime(2024, 2, 29)),
        ),
        (
            "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=31",
            date(2026, 1, 31),
            rrule(MONTHLY, interval=2, bymonthday=31, dtstart=datetime(2026, 1, 31)),
        ),
        (
            "FREQ=YEARLY;BYMONTH=1,7;BYMONTHDAY=15",
            date(2026, 1, 15),
            rrule(YEARLY, bymonth=(1, 7), bymonthday=15, dtstart=datetime(2026, 1, 15)),
        ),
    ],
    ids=[
        "weekly-byday",
        "fortnightly",
        "monthday-31",
        "last-monthday",
        "last-friday",
        "feb-29",
        "bymonth-feb-29",
        "every-other-31st",
        "twice-a-year",
    ],
)
async def test_an_all_day_series_follows_dateutil(
    client: httpx.AsyncClient,
    alice: Headers,
    clock: FixedClock,
    rule: str,
    start: date,
    expected: rrule,
) -> None:
    task = await create(client, alice, due_date=start.isoformat(), recurrence=rule)

    assert await walk(client, alice, task, clock, steps=6) == all_day(first(expected, 7))


async def test_months_without_a_31st_are_skipped_and_the_last_day_is_each_months_own(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    # The same expectations as above, spelled out.
    on_31st = await create(
        client, alice, due_date="2026-01-31", recurrence="FREQ=MONTHLY;BYMONTHDAY=31"
    )
    last_day = await create(
        client, alice, due_date="2028-01-31", recurrence="FREQ=MONTHLY;BYMONTHDAY=-1"
    )
    leap_day = await create(client, alice, due_date="2028-02-29", recurrence="FREQ=YEARLY")

    assert await walk(client, alice, on_31st, clock, steps=3) == [
        "2026-01-31",
        "2026-03-31",
        "2026-05-31",
        "2026-07-31",
    ]
    assert await walk(client, alice, last_day, clock, steps=3) == [
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
        "2028-04-30",
    ]
    assert await walk(client, alice, leap_day, clock, steps=2) == [
        "2028-02-29",
        "2032-02-29",
        "2036-02-29",
    ]


# Timed series keep their wall-clock time in the user's zone


async def test_the_contracts_example_weekly_at_nine_in_berlin(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, "Europe/Berlin")
    task = await create(client, alice, due_at="2026-03-22T08:00:00Z", recurrence="FREQ=WEEKLY")

    assert await walk(client, alice, task, clock, steps=1) == [
        "2026-03-22T08:00:00Z",
        "2026-03-29T07:00:00Z",
    ]


@pytest.mark.parametrize(
    ("zone", "rule", "start", "expected"),
    [
        # Clocks go forward (Berlin 29 March, New York 8 March) and back (25 October,
        # 1 November 2026): 09:00 stays 09:00.
        ("Europe/Berlin", "FREQ=WEEKLY", local(BERLIN, 2026, 3, 15, 9), {"freq": WEEKLY}),
        ("Europe/Berlin", "FREQ=WEEKLY", local(BERLIN, 2026, 10, 11, 9), {"freq": WEEKLY}),
        ("Europe/Berlin", "FREQ=DAILY", local(BERLIN, 2026, 3, 27, 9), {"freq": DAILY}),
        ("Europe/Berlin", "FREQ=DAILY", local(BERLIN, 2026, 10, 23, 9), {"freq": DAILY}),
        ("America/New_York", "FREQ=WEEKLY", local(NEW_YORK, 2026, 2, 22, 9), {"freq": WEEKLY}),
        ("America/New_York", "FREQ=WEEKLY", local(NEW_YORK, 2026, 10, 18, 9), {"freq": WEEKLY}),
        (
            "America/New_York",
            "FREQ=WEEKLY;BYDAY=MO,TH",
            local(NEW_YORK, 2026, 3, 2, 18, 30),
            {"freq": WEEKLY, "byweekday": (MO, TH)},
        ),
        (
            "America/New_York",
            "FREQ=MONTHLY;BYMONTHDAY=1",
            local(NEW_YORK, 2026, 9, 1, 7, 45),
            {"freq": MONTHLY, "bymonthday": 1},
        ),
        # 02:30 does not exist on the day clocks go forward and exists twice on the day they
        # go back: dateutil with zoneinfo reads both with fold=0 (the offset before the
        # change), as RFC 5545 3.3.5 asks.
        ("Europe/Berlin", "FREQ=DAILY", local(BERLIN, 2026, 3, 27, 2, 30), {"freq": DAILY}),
        ("Europe/Berlin", "FREQ=DAILY", local(BERLIN, 2026, 10, 23, 2, 30), {"freq": DAILY}),
        ("America/New_York", "FREQ=DAILY", local(NEW_YORK, 2026, 3, 6, 2, 30), {"freq": DAILY}),
        ("America/New_York", "FREQ=DAILY", local(NEW_YORK, 2026, 10, 30, 1, 30), {"freq": DAILY}),
    ],
    ids=[
        "berlin-weekly-spring",
        "berlin-weekly-autumn",
        "berlin-daily-spring",
        "berlin-daily-autumn",
        "new-york-weekly-spring",
        "new-york-weekly-autumn",
        "new-york-byday-spring",
        "new-york-monthly-autumn",
        "berlin-skipped-time",
        "berlin-repeated-time",
        "new-york-skipped-time",
        "new-york-repeated-time",
    ],
)
async def test_a_timed_series_keeps_its_local_time_across_daylight_saving_changes(
    client: httpx.AsyncClient,
    alice: Headers,
    clock: FixedClock,
    zone: str,
    rule: str,
    start: datetime,
    expected: dict[str, Any],
) -> None:
    await set_zone(client, alice, zone)
    task = await create(client, alice, due_at=stamp(start), recurrence=rule)
    occurrences = first(rrule(dtstart=start, **expected), 5)

    dues = await walk(client, alice, task, clock, steps=4)

    assert dues == timed(occurrences)
    # The series does cross a change of offset, or the case would prove nothing.
    assert len({each.utcoffset() for each in occurrences}) == 2


async def test_a_timed_series_follows_the_zone_set_after_it_was_created(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    task = await create(client, alice, due_at="2026-03-22T08:00:00Z", recurrence="FREQ=WEEKLY")
    await set_zone(client, alice, "Europe/Berlin")

    # The zone at the time of completing decides: 09:00 in Berlin, kept over the change.
    assert await walk(client, alice, task, clock, steps=1) == [
        "2026-03-22T08:00:00Z",
        "2026-03-29T07:00:00Z",
    ]


async def test_a_timed_series_in_utc_by_default_never_shifts(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    start = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
    task = await create(client, alice, due_at=stamp(start), recurrence="FREQ=DAILY")

    dues = await walk(client, alice, task, clock, steps=4)

    assert dues == timed(first(rrule(DAILY, dtstart=start), 5))


# Ends: COUNT and UNTIL


async def test_the_last_occurrence_of_a_count_series_completes_the_task_for_good(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock, rows: Rows
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY;COUNT=3")
    expected = all_day(rrule(DAILY, count=3, dtstart=datetime(2026, 3, 1)))

    assert await walk(client, alice, task, clock, steps=2) == expected
    done = await finish(client, alice, task["id"], clock, "set", expected[-1])

    assert done["recurrence"] == "FREQ=DAILY;COUNT=3"
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["completed"], str(stored["due_date"])) == (True, "2026-03-03")
    listed = await client.get("/api/tasks?status=completed", headers=alice)
    assert [each["id"] for each in listed.json()] == [task["id"]]


@pytest.mark.parametrize("how", HOWS)
async def test_a_finished_series_reopened_and_completed_again_does_not_start_over(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock, how: str
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY;COUNT=2")
    await walk(client, alice, task, clock, steps=1)
    await finish(client, alice, task["id"], clock, how, "2026-03-02")

    reopened = await client.patch(
        f"/api/tasks/{task['id']}/complete", json={"completed": False}, headers=alice
    )
    assert reopened.status_code == 200
    assert (reopened.json()["completed"], reopened.json()["completed_at"]) == (False, None)
    assert reopened.json()["due_date"] == "2026-03-02"

    await finish(client, alice, task["id"], clock, how, "2026-03-02")


async def test_a_timed_count_series_ends_after_count_occurrences(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, "America/New_York")
    start = local(NEW_YORK, 2026, 3, 2, 9)
    task = await create(
        client, alice, due_at=stamp(start), recurrence="FREQ=WEEKLY;BYDAY=MO,FR;COUNT=4"
    )
    expected = timed(rrule(WEEKLY, byweekday=(MO, FR), count=4, dtstart=start))

    assert await walk(client, alice, task, clock, steps=3) == expected
    await finish(client, alice, task["id"], clock, "toggle", expected[-1])


@pytest.mark.parametrize(
    ("rule", "start", "expected"),
    [
        # UNTIL on an occurrence includes it (RFC 5545 3.3.10); between two it ends before.
        (
            "FREQ=WEEKLY;UNTIL=20260315",
            date(2026, 3, 1),
            rrule(WEEKLY, until=datetime(2026, 3, 15), dtstart=datetime(2026, 3, 1)),
        ),
        (
            "FREQ=DAILY;INTERVAL=2;UNTIL=20260306",
            date(2026, 3, 1),
            rrule(DAILY, interval=2, until=datetime(2026, 3, 6), dtstart=datetime(2026, 3, 1)),
        ),
        (
            "FREQ=MONTHLY;BYMONTHDAY=31;UNTIL=20260730",
            date(2026, 1, 31),
            rrule(
                MONTHLY, bymonthday=31, until=datetime(2026, 7, 30), dtstart=datetime(2026, 1, 31)
            ),
        ),
    ],
    ids=["on-an-occurrence", "between-occurrences", "skipped-months"],
)
async def test_an_all_day_series_ends_at_its_until_date(
    client: httpx.AsyncClient,
    alice: Headers,
    clock: FixedClock,
    rule: str,
    start: date,
    expected: rrule,
) -> None:
    dues = all_day(expected)
    task = await create(client, alice, due_date=start.isoformat(), recurrence=rule)

    assert await walk(client, alice, task, clock, steps=len(dues) - 1) == dues
    await finish(client, alice, task["id"], clock, "patch", dues[-1])


async def test_a_timed_series_ends_at_its_utc_until(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, "Europe/Berlin")
    start = local(BERLIN, 2026, 3, 27, 9)
    # 07:00Z on 29 March is 09:00 summer time: the third occurrence, and the last.
    until = datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    task = await create(
        client, alice, due_at=stamp(start), recurrence="FREQ=DAILY;UNTIL=20260329T070000Z"
    )
    expected = timed(rrule(DAILY, until=until, dtstart=start))
    assert expected[-1] == "2026-03-29T07:00:00Z"

    assert await walk(client, alice, task, clock, steps=len(expected) - 1) == expected
    await finish(client, alice, task["id"], clock, "toggle", expected[-1])


@pytest.mark.parametrize(
    "body",
    [
        {"due_date": "2026-03-01", "recurrence": "FREQ=DAILY;UNTIL=20260310T000000Z"},
        {"due_at": "2026-03-01T09:00:00Z", "recurrence": "FREQ=DAILY;UNTIL=20260310"},
    ],
)
async def test_an_until_of_the_other_form_is_422(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, body: dict[str, str]
) -> None:
    response = await client.post("/api/tasks", json={"title": "Task", **body}, headers=alice)

    assert response.status_code == 422
    assert await rows("SELECT id FROM tasks") == []


async def test_switching_the_kind_of_due_under_an_until_of_the_old_kind_is_422(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    task = await create(
        client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY;UNTIL=20260310"
    )

    response = await client.patch(
        f"/api/tasks/{task['id']}", json={"due_at": "2026-03-01T09:00:00Z"}, headers=alice
    )

    assert response.status_code == 422
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (str(stored["due_date"]), stored["due_at"], stored["version"]) == ("2026-03-01", None, 1)

    both = await client.patch(
        f"/api/tasks/{task['id']}",
        json={"due_at": "2026-03-01T09:00:00Z", "recurrence": "FREQ=DAILY;UNTIL=20260310T090000Z"},
        headers=alice,
    )
    assert both.status_code == 200, both.text


# Where a series starts


async def test_a_new_due_starts_the_series_again_and_count_counts_from_it(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY;COUNT=3")
    assert await walk(client, alice, task, clock, steps=1) == ["2026-03-01", "2026-03-02"]

    moved = await client.patch(
        f"/api/tasks/{task['id']}", json={"due_date": "2026-04-10"}, headers=alice
    )
    assert moved.status_code == 200

    # Three occurrences from the new due, as if the rule had just been set.
    expected = all_day(rrule(DAILY, count=3, dtstart=datetime(2026, 4, 10)))
    assert await walk(client, alice, moved.json(), clock, steps=2) == expected
    await finish(client, alice, task["id"], clock, "toggle", expected[-1])


async def test_a_new_timed_due_starts_the_series_again_at_its_own_time(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, "Europe/Berlin")
    task = await create(
        client, alice, due_at="2026-03-20T08:00:00Z", recurrence="FREQ=WEEKLY;COUNT=2"
    )
    assert await walk(client, alice, task, clock, steps=1) == [
        "2026-03-20T08:00:00Z",
        "2026-03-27T08:00:00Z",
    ]
    start = local(BERLIN, 2026, 3, 25, 18, 15)

    moved = await client.patch(
        f"/api/tasks/{task['id']}", json={"due_at": stamp(start)}, headers=alice
    )
    assert moved.status_code == 200

    expected = timed(rrule(WEEKLY, count=2, dtstart=start))
    assert await walk(client, alice, moved.json(), clock, steps=1) == expected
    await finish(client, alice, task["id"], clock, "set", expected[-1])


async def test_an_until_before_the_due_leaves_the_due_as_the_only_occurrence(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    task = await create(
        client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY;UNTIL=20260201"
    )

    await finish(client, alice, task["id"], clock, "toggle", "2026-03-01")


async def test_a_frontend_completing_by_sending_back_the_whole_task_advances_it(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, "Europe/Berlin")
    task = await create(client, alice, due_at="2026-03-22T08:00:00Z", recurrence="FREQ=WEEKLY")

    for method in ("PUT", "PATCH"):
        read = (await client.get(f"/api/tasks/{task['id']}", headers=alice)).json()
        clock.advance(60)
        response = await client.request(
            method, f"/api/tasks/{task['id']}", json={**read, "completed": True}, headers=alice
        )
        assert response.status_code == 200, response.text
        assert (response.json()["completed"], response.json()["version"]) == (
            False,
            read["version"] + 1,
        )

    expected = timed(first(rrule(WEEKLY, dtstart=local(BERLIN, 2026, 3, 22, 9)), 3))
    assert due_of(response.json()) == expected[-1]


async def test_sending_back_the_task_as_read_does_not_restart_the_series(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY;COUNT=3")
    [_, current] = await walk(client, alice, task, clock, steps=1)
    read = (await client.get(f"/api/tasks/{task['id']}", headers=alice)).json()

    # A frontend PUTs the whole task it read, with a new title: the due is not a new one.
    echoed = await client.put(
        f"/api/tasks/{task['id']}", json={**read, "title": "Renamed"}, headers=alice
    )
    assert echoed.status_code == 200, echoed.text

    assert await walk(client, alice, echoed.json(), clock, steps=1) == [current, "2026-03-03"]
    await finish(client, alice, task["id"], clock, "toggle", "2026-03-03")


async def test_a_due_the_rule_would_not_produce_is_the_first_occurrence(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    # 4 March 2026 is a Wednesday; the rule alone gives Mondays.
    start = datetime(2026, 3, 4)
    task = await create(
        client, alice, due_date="2026-03-04", recurrence="FREQ=WEEKLY;BYDAY=MO;COUNT=3"
    )
    expected = all_day(with_dtstart(start, rrule(WEEKLY, byweekday=MO, dtstart=start), 3))
    assert expected == ["2026-03-04", "2026-03-09", "2026-03-16"]

    assert await walk(client, alice, task, clock, steps=2) == expected
    await finish(client, alice, task["id"], clock, "patch", expected[-1])


async def test_a_timed_due_the_rule_would_not_produce_is_the_first_occurrence(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    await set_zone(client, alice, "America/New_York")
    start = local(NEW_YORK, 2026, 3, 4, 12, 0)  # a Wednesday
    task = await create(
        client, alice, due_at=stamp(start), recurrence="FREQ=MONTHLY;BYDAY=1FR;COUNT=3"
    )
    expected = timed(with_dtstart(start, rrule(MONTHLY, byweekday=FR(1), dtstart=start), 3))

    assert await walk(client, alice, task, clock, steps=2) == expected
    await finish(client, alice, task["id"], clock, "set", expected[-1])


async def test_a_rule_set_on_a_task_with_a_due_starts_from_that_due(
    client: httpx.AsyncClient, alice: Headers, clock: FixedClock
) -> None:
    task = await create(client, alice, due_date="2026-03-04")
    start = datetime(2026, 3, 4)

    ruled = await client.patch(
        f"/api/tasks/{task['id']}",
        json={"recurrence": "FREQ=MONTHLY;BYMONTHDAY=1;COUNT=3"},
        headers=alice,
    )
    assert ruled.status_code == 200

    expected = all_day(with_dtstart(start, rrule(MONTHLY, bymonthday=1, dtstart=start), 3))
    assert expected == ["2026-03-04", "2026-04-01", "2026-05-01"]
    assert await walk(client, alice, ruled.json(), clock, steps=2) == expected
    await finish(client, alice, task["id"], clock, "toggle", expected[-1])


async def test_setting_completed_false_on_an_open_occurrence_moves_nothing(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY")

    for url in (f"/api/tasks/{task['id']}/complete", f"/api/tasks/{task['id']}"):
        response = await client.patch(url, json={"completed": False}, headers=alice)
        assert response.status_code == 200
        assert (response.json()["completed"], response.json()["due_date"]) == (False, "2026-03-01")


# Concurrent completions


@pytest.mark.parametrize("how", HOWS)
async def test_two_completions_with_the_same_if_match_advance_once(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, how: str
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY")
    expected = all_day(first(rrule(DAILY, dtstart=datetime(2026, 3, 1)), 6))

    for version in range(1, 6):
        headers = {**alice, "If-Match": f'"{version}"'}
        responses = await asyncio.gather(
            complete(client, headers, task["id"], how), complete(client, headers, task["id"], how)
        )

        winner, loser = sorted(responses, key=lambda response: response.status_code)
        assert (winner.status_code, loser.status_code) == (200, 412), loser.text
        assert winner.json()["due_date"] == expected[version]
        # The loser is told the current task: the one the winner made.
        assert loser.json()["task"] == winner.json()
        stored = await rows.task(task["id"])
        assert stored is not None
        assert (stored["version"], stored["completed"]) == (version + 1, False)
        assert str(stored["due_date"]) == expected[version]


async def test_concurrent_completions_without_if_match_each_advance_once(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    task = await create(client, alice, due_date="2026-03-01", recurrence="FREQ=DAILY")
    expected = all_day(first(rrule(DAILY, dtstart=datetime(2026, 3, 1)), 13))

    responses = await asyncio.gather(
        *(complete(client, alice, task["id"], HOWS[i % 3]) for i in range(12))
    )

    assert [response.status_code for response in responses] == [200] * 12
    # Each one completed the occurrence it found: twelve in a row, none lost or doubled.
    assert sorted(response.json()["due_date"] for response in responses) == expected[1:]
    stored = await rows.task(task["id"])
    assert stored is not None
    assert (stored["version"], str(stored["due_date"])) == (13, "2026-03-13")
