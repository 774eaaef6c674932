"""Planning filters and sorts, paged through `Link` cursors, against a model of the tasks.

Each example is a fresh user with generated tasks (priorities, all-day and timed dues with
many equal keys, tags in mixed case, some completed), a time zone set before or after the
tasks exist, and random moves. Then every planning sort, each with generated filters, is read
a few tasks a page by following `Link: rel="next"`: the pages together must be exactly the
model's list, in the model's order, with the model's count in every `X-Total-Count`.

The model follows the contract's words: "today" is the user's zone's day at the fixed clock's
now; an all-day due sorts as 00:00 of its day in that zone; tasks without a due come last in
both directions; ties go by id in the sort's direction.
"""

import asyncio
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import bearer, client_for, make_settings, running
from todo_api.core.clock import FixedClock

NOW = datetime(2026, 3, 10, 22, 30, tzinfo=UTC)
# At NOW it is already 11 March in Kolkata and Kiritimati, still 10 March elsewhere; New York
# changed to summer time two days before, inside the range of generated dues.
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati")
PRIORITIES = ("none", "low", "medium", "high", "urgent")
TAGS = ("work", "home", "Errands", "café")
# Days around today: the edges of `upcoming` (1 and 7 days after, not 8) and of `overdue`.
DAY_OFFSETS = (-8, -1, 0, 1, 2, 7, 8)
SORTS = ("due", "+due", "-due", "priority", "+priority", "-priority", "position", "-position")
DUE_FILTERS = ("overdue", "today", "upcoming", "none", "any")
spellings = st.sampled_from([str.lower, str.upper, str.title])


@dataclass
class Task:
    """What the model knows of a task: enough to filter and sort it."""

    id: int
    priority: str
    due_date: date | None
    due_at: datetime | None
    tags: list[str]
    completed: bool

    def day(self, zone: ZoneInfo) -> date | None:
        """The due's day in the user's zone."""
        if self.due_at is not None:
            return self.due_at.astimezone(zone).date()
        return self.due_date

    def due_key(self, zone: ZoneInfo) -> datetime | None:
        """The instant the due sorts by: an all-day due is 00:00 of its day in the zone."""
        if self.due_date is not None:
            return datetime.combine(self.due_date, time(), zone).astimezone(UTC)
        return self.due_at


@st.composite
def dues(draw: st.DrawFn) -> dict[str, str]:
    """An all-day or timed due near NOW, or none; times are chosen to tie with other dues."""
    kind = draw(st.sampled_from(["none", "date", "at", "at"]))
    day = NOW.date() + timedelta(days=draw(st.sampled_from(DAY_OFFSETS)))
    if kind == "none":
        return {}
    if kind == "date":
        return {"due_date": day.isoformat()}
    # Midnight UTC (the all-day key in UTC), NOW itself (not yet overdue), a second before it,
    # or the last microsecond of a UTC day.
    moment = draw(
        st.sampled_from(
            [
                datetime.combine(day, time(), UTC),
                NOW,
                NOW - timedelta(seconds=1),
                datetime.combine(day, time(23, 59, 59, 999999), UTC),
                datetime.combine(day, time(12), UTC),
            ]
        )
    )
    # Sent with a Z, or with the offset of some zone (the same instant).
    offset = draw(st.sampled_from([None, *ZONES]))
    sent = moment if offset is None else moment.astimezone(ZoneInfo(offset))
    return {"due_at": sent.isoformat().replace("+00:00", "Z")}


@st.composite
def local_midnight_dues(draw: st.DrawFn, zone: str) -> dict[str, str]:
    """A timed due at 00:00 of a day in the user's zone: the same key as that all-day due."""
    day = NOW.date() + timedelta(days=draw(st.sampled_from(DAY_OFFSETS)))
    moment = datetime.combine(day, time(), ZoneInfo(zone)).astimezone(UTC)
    return {"due_at": moment.isoformat().replace("+00:00", "Z")}


@st.composite
def task_bodies(draw: st.DrawFn, zone: str) -> dict[str, Any]:
    tags = draw(st.lists(st.sampled_from(TAGS), max_size=3, unique=True))
    due = draw(st.one_of(dues(), local_midnight_dues(zone)))
    return {
        "title": "Task",
        "priority": draw(st.sampled_from(PRIORITIES)),
        "tags": [draw(spellings)(tag) for tag in tags],
        "completed": draw(st.booleans()),
        **due,
    }


# (which task, how, where): a neighbour is picked among the user's tasks like the mover.
moves = st.tuples(
    st.integers(min_value=0), st.sampled_from(["before", "after"]), st.integers(min_value=0)
) | st.tuples(st.integers(min_value=0), st.just("to"), st.sampled_from(["top", "bottom"]))


FILTERS = ("status", "priority", "tag", "due", "due_range")


@st.composite
def filters(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Query parameters for up to two of the planning filters and status (with more, few
    tasks would be left to page through)."""
    params: list[tuple[str, str]] = []
    chosen = draw(st.sets(st.sampled_from(FILTERS), max_size=2))
    if "status" in chosen:
        params.append(("status", draw(st.sampled_from(["all", "pending", "completed"]))))
    if "priority" in chosen:
        wanted = draw(st.lists(st.sampled_from(PRIORITIES), min_size=1, max_size=4, unique=True))
        params.append(("priority", ",".join(wanted)))
    if "tag" in chosen:
        tags = [
            draw(spellings)(tag)
            for tag in draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=2, unique=True))
        ]
        if draw(st.booleans()):
            params += [("tag", tag) for tag in tags]  # the parameter repeated
        else:
            params.append(("tag", ",".join(tags)))
    if "due" in chosen:
        params.append(("due", draw(st.sampled_from(DUE_FILTERS))))
    if "due_range" in chosen:
        names = draw(st.sampled_from([("due_from",), ("due_to",), ("due_from", "due_to")]))
        days = sorted(NOW.date() + timedelta(days=draw(st.integers(-9, 9))) for _ in names)
        params += [(name, day.isoformat()) for name, day in zip(names, days, strict=True)]
    return params


@dataclass(frozen=True)
class Scenario:
    zone: str
    zone_first: bool
    bodies: list[dict[str, Any]]
    moves: list[tuple[int, str, int | str]]
    queries: list[tuple[str, list[tuple[str, str]], int]]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    zone = draw(st.sampled_from(ZONES))
    return Scenario(
        zone=zone,
        zone_first=draw(st.booleans()),
        bodies=draw(st.lists(task_bodies(zone), min_size=6, max_size=14)),
        moves=draw(st.lists(moves, max_size=8)),
        # Every sort, each with its own filters and page size.
        queries=[(sort, draw(filters()), draw(st.integers(1, 4))) for sort in SORTS],
    )


def boundaries(zone_first: bool) -> Scenario:
    """Dues on each edge the filters draw, for a user in Kolkata (UTC+05:30), where at NOW it
    is 04:00 on 11 March: the edges of today, of overdue and of the 7 upcoming days."""

    def at(text: str, **body: Any) -> dict[str, Any]:
        return {
            "title": "Task",
            "due_at": text,
            "priority": "high",
            "tags": ["home", "Work"],
            **body,
        }

    def on(day: str, **body: Any) -> dict[str, Any]:
        return {"title": "Task", "due_date": day, "priority": "low", "tags": ["Home"], **body}

    bodies = [
        at("2026-03-10T22:30:00Z", completed=False),  # now: due today, not yet overdue
        at("2026-03-10T22:29:59Z", completed=False),  # a second ago: overdue
        at("2026-03-10T22:29:59Z", completed=True),  # completed: never overdue
        on("2026-03-11", completed=False),  # today: not overdue
        on("2026-03-10", completed=False),  # yesterday in Kolkata, still today in UTC
        at("2026-03-10T18:29:59.999999Z", completed=False),  # the last instant of yesterday
        at("2026-03-11T00:00:00+05:30", completed=False),  # 00:00 today: ties with today's
        on("2026-03-12", completed=True),  # the first upcoming day
        on("2026-03-18", completed=False),  # the seventh, the last
        on("2026-03-19", completed=False),  # the eighth: not upcoming
        at("2026-03-18T23:59:59.999999+05:30", completed=False),  # the end of the seventh
        at("2026-03-18T18:30:00Z", completed=False, priority="low"),  # 00:00 of the eighth
        {"title": "Task", "priority": "high", "tags": ["WORK", "home"], "completed": False},
        {"title": "Task", "priority": "none", "tags": [], "completed": True},
    ]
    queries = [
        (sort, [("due", due)], 2) for due in DUE_FILTERS for sort in ("due", "-due", "priority")
    ]
    queries += [
        ("due", [("due_from", "2026-03-11"), ("due_to", "2026-03-18")], 3),
        ("-due", [("due_from", "2026-03-19")], 1),
        ("+due", [("due_to", "2026-03-10"), ("status", "pending")], 1),
        ("-priority", [("tag", "work"), ("tag", "HOME")], 1),
        ("+priority", [("tag", "Work,home"), ("due", "none")], 1),
        ("priority", [("priority", "high,low"), ("status", "completed")], 1),
        ("position", [("due", "overdue"), ("priority", "high")], 1),
    ]
    return Scenario(
        "Asia/Kolkata", zone_first, bodies, [(3, "after", 9), (0, "to", "bottom")], queries
    )


def matches(task: Task, params: list[tuple[str, str]], zone: ZoneInfo) -> bool:
    """Every filter holds (they combine with AND)."""
    return all(passes(task, name, value, zone) for name, value in params)


def passes(task: Task, name: str, value: str, zone: ZoneInfo) -> bool:
    day = task.day(zone)
    if name == "status":
        return value == "all" or task.completed == (value == "completed")
    if name == "priority":
        return task.priority in value.split(",")
    if name == "tag":  # every tag asked for, ignoring case
        return {tag.casefold() for tag in value.split(",")} <= {t.casefold() for t in task.tags}
    if name == "due":
        return due_matches(task, value, NOW.astimezone(zone).date(), day)
    bound = date.fromisoformat(value)
    return day is not None and (day >= bound if name == "due_from" else day <= bound)


def due_matches(task: Task, value: str, today: date, day: date | None) -> bool:
    if day is None:
        return value == "none"
    # Only overdue looks at completion; a timed due is overdue from its instant on, an
    # all-day one from the next day.
    due_passed = task.due_at < NOW if task.due_at is not None else day < today
    return {
        "overdue": due_passed and not task.completed,
        "today": day == today,
        "upcoming": today < day <= today + timedelta(days=7),
        "none": False,
        "any": True,
    }[value]


def ordered(tasks: list[Task], manual: list[int], sort: str, zone: ZoneInfo) -> list[Task]:
    key = sort.lstrip("+-")
    descending = sort.startswith("-") or (key == "priority" and not sort.startswith("+"))
    if key == "position":
        rank = {task_id: place for place, task_id in enumerate(manual)}
        return sorted(tasks, key=lambda task: rank[task.id], reverse=descending)
    if key == "priority":
        return sorted(
            tasks, key=lambda task: (PRIORITIES.index(task.priority), task.id), reverse=descending
        )
    dated = [task for task in tasks if task.due_key(zone) is not None]
    undated = [task for task in tasks if task.due_key(zone) is None]
    return [
        *sorted(dated, key=lambda task: (task.due_key(zone), task.id), reverse=descending),
        *sorted(undated, key=lambda task: task.id, reverse=descending),
    ]


def next_link(response: httpx.Response) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


class Checker:
    """Runs scenarios against one app; every example is a new user."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.users = itertools.count()

    async def run(self, scenario: Scenario) -> None:
        headers = bearer(f"planner-{next(self.users)}")
        if scenario.zone_first:
            await self.set_zone(headers, scenario.zone)
        tasks: dict[int, Task] = {}
        manual: list[int] = []
        for body in scenario.bodies:
            response = await self.client.post("/api/tasks", json=body, headers=headers)
            assert response.status_code == 201, response.text
            created = response.json()
            tasks[created["id"]] = Task(
                id=created["id"],
                priority=body["priority"],
                due_date=date.fromisoformat(body["due_date"]) if "due_date" in body else None,
                due_at=datetime.fromisoformat(body["due_at"]) if "due_at" in body else None,
                tags=body["tags"],
                completed=body["completed"],
            )
            manual.insert(0, created["id"])  # new tasks go first
        if not scenario.zone_first:
            await self.set_zone(headers, scenario.zone)
        for pick, kind, target in scenario.moves:
            if manual:
                await self.move(headers, manual, pick, kind, target)
        zone = ZoneInfo(scenario.zone)
        for sort, params, limit in scenario.queries:
            chosen = [task for task in tasks.values() if matches(task, params, zone)]
            expected = [task.id for task in ordered(chosen, manual, sort, zone)]
            seen = await self.pages(headers, [("sort", sort), *params], limit, len(expected))
            assert seen == expected, (sort, params, limit)

    async def set_zone(self, headers: dict[str, str], zone: str) -> None:
        response = await self.client.patch("/api/me", json={"time_zone": zone}, headers=headers)
        assert response.status_code == 200, response.text

    async def move(
        self, headers: dict[str, str], manual: list[int], pick: int, kind: str, target: int | str
    ) -> None:
        mover = manual[pick % len(manual)]
        if isinstance(target, str):
            body: dict[str, Any] = {kind: target}
        else:
            body = {kind: manual[target % len(manual)]}
        response = await self.client.post(f"/api/tasks/{mover}/move", json=body, headers=headers)
        if body.get(kind) == mover:
            assert response.status_code == 422, response.text
            return
        assert response.status_code == 200, response.text
        manual.remove(mover)
        if kind == "to":
            manual.insert(0 if body["to"] == "top" else len(manual), mover)
        else:
            manual.insert(manual.index(body[kind]) + (kind == "after"), mover)

    async def pages(
        self, headers: dict[str, str], params: list[tuple[str, str]], limit: int, total: int
    ) -> list[int]:
        """Every page, following Link; each carries the full count and at most `limit`."""
        url: str | None = f"/api/tasks?{urlencode([*params, ('limit', str(limit))])}"
        seen: list[int] = []
        for _ in range(total // limit + 2):
            if url is None:
                break
            response = await self.client.get(url, headers=headers)
            assert response.status_code == 200, (url, response.text)
            assert response.headers["X-Total-Count"] == str(total), url
            page = [task["id"] for task in response.json()]
            url = next_link(response)
            # A page is full unless it is the last, and the last one says so.
            assert len(page) == limit if url is not None else len(page) <= limit, url
            seen += page
        assert url is None, "more pages than the count allows"
        return seen


@pytest.fixture
def checker(database_url: str) -> Iterator[tuple[asyncio.Runner, Checker]]:
    # A sync fixture around an app in its own event loop: Hypothesis calls the property once
    # per example, and each example runs to completion in that loop.
    configured = make_settings(database_url, rate_limit_enabled=False)
    lifespan = running(configured, clock=FixedClock(NOW))
    with asyncio.Runner() as runner:
        app = runner.run(lifespan.__aenter__())
        client = client_for(app)
        try:
            yield runner, Checker(client)
        finally:
            runner.run(client.aclose())
            runner.run(lifespan.__aexit__(None, None, None))


def test_every_planning_filter_and_sort_pages_through_exactly_the_models_list(
    checker: tuple[asyncio.Runner, Checker],
) -> None:
    runner, check = checker

    @settings(
        max_examples=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(scenarios())
    # The edges, every time (zone set before the tasks exist, and after: all-day dues move).
    @example(boundaries(zone_first=True))
    @example(boundaries(zone_first=False))
    def property_(scenario: Scenario) -> None:
        runner.run(check.run(scenario))

    property_()
