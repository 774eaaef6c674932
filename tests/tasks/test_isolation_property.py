"""Random interleavings of three users' operations: each sees exactly their own tasks, always.

A Hypothesis state machine drives the real app: every rule is a real request, and after every
step each user's manual-order listing and counts must equal a model built from that user's
operations only. Operations aimed at another user's task must be 404 and leave the model (and
the rows) alone; a move next to another user's task must be the 422 a missing one gets.

The clock stands still (a FixedClock), so "now", "today" in each user's time zone, overdue,
reminders and the next occurrence of a recurring task are exact in the model. The time zones
keep one UTC offset all year, so a daily series steps by 24 hours wherever its owner is; the
wall-clock rules across daylight-saving changes are tests/tasks/test_recurrence.py's.
"""

import asyncio
import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import bearer, client_for, make_settings, running
from todo_api.core.clock import FixedClock

USERS = ("alice", "bob", "carol")
HEADERS = {user: bearer(user) for user in USERS}
users = st.sampled_from(USERS)
# Control characters are legal but trimmed differently by Python and by pydantic's Rust core;
# leaving them out keeps the model's `strip()` honest.
titles = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=30
).filter(lambda s: s.strip())

NOW = datetime(2026, 6, 15, 10, 30, tzinfo=UTC)
# One offset all year each; at NOW their "today"s are June 14th, 15th and 16th.
ZONES = ("UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata")
PRIORITIES = ("none", "low", "medium", "high", "urgent")
# Spellings that differ only in case (Straße and STRASSE casefold alike) and surrounding space.
TAGS = ("work", "WORK", " home ", "Straße", "STRASSE", "ärger")
# Each rule with its step in days: without BY parts, occurrences are the start plus steps.
RULES = {"FREQ=DAILY": 1, "FREQ=WEEKLY": 7, "FREQ=DAILY;INTERVAL=3": 3}
REMINDERS = {"PT15M": timedelta(minutes=15), "PT1H": timedelta(hours=1), "P1D": timedelta(days=1)}
# An id no task ever has (ids count up from 1).
MISSING = 2**62

# Dues on a quarter-hour grid (every zone's midnight and NOW itself are on it), a few days
# around NOW at most, so that a due "today" in one zone is often on another day in the next.
due_dates = st.integers(-3, 3).map(lambda days: NOW.date() + timedelta(days=days))
due_times = st.integers(-3 * 96, 3 * 96).map(lambda q: NOW + timedelta(minutes=15 * q))
reminder_lists = st.lists(st.sampled_from(list(REMINDERS)), min_size=1, max_size=3)
days = st.integers(-4, 4).map(lambda n: NOW.date() + timedelta(days=n))


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def day_start(day: date, zone: str) -> datetime:
    return datetime.combine(day, time(), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@st.composite
def plans(draw: st.DrawFn) -> dict[str, Any]:
    """Every planning field at once, consistent: valid whatever the task held before."""
    due = draw(st.sampled_from(["none", "date", "time", "time"]))
    due_date = draw(due_dates) if due == "date" else None
    due_at = draw(due_times) if due == "time" else None
    return {
        "priority": draw(st.sampled_from(PRIORITIES)),
        "tags": draw(st.lists(st.sampled_from(TAGS), max_size=3)),
        "due_date": due_date.isoformat() if due_date else None,
        "due_at": rfc3339(due_at) if due_at else None,
        "recurrence": draw(st.none() | st.sampled_from(list(RULES))) if due != "none" else None,
        "reminders": draw(reminder_lists) if due_at else [],
    }


FILTERS: dict[str, st.SearchStrategy[Any]] = {
    "status": st.sampled_from(["pending", "completed"]),
    "priority": st.sets(st.sampled_from(PRIORITIES), min_size=1, max_size=3),
    "tag": st.lists(st.sampled_from([*TAGS, "ÄRGER", "nothing"]), min_size=1, max_size=2),
    "due": st.sampled_from(["overdue", "today", "upcoming", "none", "any"]),
    "due_from": days,
    "due_to": days,
}


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    """Up to three of the listing's filters: more would rarely leave a task to list."""
    names = draw(st.lists(st.sampled_from(list(FILTERS)), max_size=3, unique=True))
    return {name: draw(FILTERS[name]) for name in names}


@dataclass
class Task:
    """What the model knows of a task: what its owner sent, and what the contract makes of it."""

    title: str
    completed: bool
    priority: str = "none"
    due_date: date | None = None
    due_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    recurrence: str | None = None
    reminders: list[str] = field(default_factory=list)
    series_start: date | datetime | None = None
    version: int = 1

    def plan(self, body: dict[str, Any]) -> None:
        """Apply a body holding every planning field (the contract's rules for them)."""
        self.priority = body["priority"]
        merged: dict[str, str] = {}
        for tag in body["tags"]:  # trimmed, merged ignoring case (first spelling), sorted
            merged.setdefault(tag.strip().casefold(), tag.strip())
        self.tags = [merged[key] for key in sorted(merged)]
        due_date = date.fromisoformat(body["due_date"]) if body["due_date"] else None
        due_at = datetime.fromisoformat(body["due_at"]) if body["due_at"] else None
        rule = body["recurrence"]
        # A series starts again from its due when the due or the rule changes.
        if rule is None:
            self.series_start = None
        elif (rule, due_date, due_at) != (self.recurrence, self.due_date, self.due_at):
            self.series_start = due_date or due_at
        self.due_date, self.due_at, self.recurrence = due_date, due_at, rule
        self.reminders = sorted(set(body["reminders"]), key=REMINDERS.__getitem__)

    def set_completed(self, done: bool) -> None:
        """Completing a recurring task moves it to its next occurrence and leaves it open."""
        if done and not self.completed and self.recurrence is not None:
            step = timedelta(days=RULES[self.recurrence])
            if isinstance(self.series_start, datetime) and self.due_at is not None:
                steps = (self.due_at - self.series_start) // step + 1
                self.due_at = self.series_start + steps * step
            else:
                assert isinstance(self.series_start, date)
                assert self.due_date is not None
                steps = (self.due_date - self.series_start) // step + 1
                self.due_date = self.series_start + steps * step
        else:
            self.completed = done

    def due_key(self, zone: str) -> datetime | None:
        """The instant the due sorts and filters by: an all-day due at its day's start."""
        if self.due_at is not None:
            return self.due_at
        return day_start(self.due_date, zone) if self.due_date is not None else None

    def due_within(self, first: date | None, last: date | None, zone: str) -> bool:
        """Whether the due's day, in `zone`, is from `first` to `last` (None: unbounded)."""
        key = self.due_key(zone)
        return (
            key is not None
            and (first is None or day_start(first, zone) <= key)
            and (last is None or key < day_start(last + timedelta(days=1), zone))
        )

    def overdue(self, zone: str) -> bool:
        if self.completed:
            return False
        if self.due_at is not None:
            return self.due_at < NOW
        return self.due_date is not None and self.due_date < NOW.astimezone(ZoneInfo(zone)).date()

    def wire(self) -> dict[str, Any]:
        """The fields the API returns that the model knows, as the API writes them."""
        return {
            "title": self.title,
            "completed": self.completed,
            "completed_at": rfc3339(NOW) if self.completed else None,
            "priority": self.priority,
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "due_at": rfc3339(self.due_at) if self.due_at else None,
            "tags": self.tags,
            "recurrence": self.recurrence,
            "reminders": self.reminders,
            "version": self.version,
        }


def seen(task: dict[str, Any]) -> dict[str, Any]:
    return {name: task[name] for name in Task("", completed=False).wire()}


def make_machine(database_url: str) -> type[RuleBasedStateMachine]:
    class Isolation(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = asyncio.Runner()
            # The app with its lifespan running (its connection pool open), on an empty table,
            # its clock fixed. Rate limits, which a still clock never refills, are tested apart.
            self.lifespan = running(
                make_settings(database_url, rate_limit_enabled=False), clock=FixedClock(NOW)
            )
            self.app = self.runner.run(self.lifespan.__aenter__())
            self.client = client_for(self.app)
            self.tasks: dict[int, Task] = {}
            self.owners: dict[int, str] = {}
            # Each user's tasks in manual order, first to last.
            self.order: dict[str, list[int]] = {user: [] for user in USERS}
            self.zone = dict.fromkeys(USERS, "UTC")
            self.deleted: list[int] = []

        def run(self, coroutine: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
            return self.runner.run(coroutine)

        def target(self, user: str, pick: int, mine: bool) -> int:
            """One of the user's tasks (`mine`, when they have one), or any id ever handed out:
            another user's task, a deleted one, their own."""
            known = self.order[user] if mine and self.order[user] else [*self.owners, *self.deleted]
            return known[pick % len(known)] if known else MISSING

        def owned(self, user: str, task_id: int) -> Task | None:
            return self.tasks[task_id] if self.owners.get(task_id) == user else None

        def expect_task(
            self, response: httpx.Response, user: str, task_id: int, status: int = 200
        ) -> None:
            assert response.status_code == status, response.text
            body = response.json()
            assert (body["id"], body["user_id"]) == (task_id, user)
            assert seen(body) == self.tasks[task_id].wire()

        @initialize(
            tasks=st.lists(
                st.tuples(users, titles, st.booleans(), plans()),
                min_size=3,
                max_size=8,
            )
        )
        def some_tasks(self, tasks: list[tuple[str, str, bool, dict[str, Any] | None]]) -> None:
            """Every run starts with tasks, so the rules find some to act on."""
            for task in tasks:
                self.create(*task)

        @rule(user=users, title=titles, completed=st.booleans(), plan=st.none() | plans())
        def create(
            self, user: str, title: str, completed: bool, plan: dict[str, Any] | None
        ) -> None:
            body = {"title": title, "completed": completed, **(plan or {})}
            response = self.run(self.client.post("/api/tasks", json=body, headers=HEADERS[user]))
            assert response.status_code == 201, response.text
            task_id = response.json()["id"]
            self.tasks[task_id] = task = Task(title.strip(), completed)
            if plan is not None:
                task.plan(plan)
            self.owners[task_id] = user
            self.order[user].insert(0, task_id)  # new tasks go first
            self.expect_task(response, user, task_id, 201)

        @rule(user=users, pick=st.integers(min_value=0), mine=st.booleans(), title=titles)
        def rename(self, user: str, pick: int, mine: bool, title: str) -> None:
            task_id = self.target(user, pick, mine)
            response = self.run(
                self.client.put(
                    f"/api/tasks/{task_id}", json={"title": title}, headers=HEADERS[user]
                )
            )
            if task := self.owned(user, task_id):
                task.title = title.strip()
                task.version += 1
                self.expect_task(response, user, task_id)
            else:
                assert response.status_code == 404

        @rule(user=users, pick=st.integers(min_value=0), mine=st.booleans(), plan=plans())
        def plan(self, user: str, pick: int, mine: bool, plan: dict[str, Any]) -> None:
            task_id = self.target(user, pick, mine)
            response = self.run(
                self.client.patch(f"/api/tasks/{task_id}", json=plan, headers=HEADERS[user])
            )
            if task := self.owned(user, task_id):
                task.plan(plan)
                task.version += 1
                self.expect_task(response, user, task_id)
            else:
                assert response.status_code == 404

        @rule(user=users, pick=st.integers(min_value=0), mine=st.booleans())
        def toggle(self, user: str, pick: int, mine: bool) -> None:
            task_id = self.target(user, pick, mine)
            response = self.run(
                self.client.patch(f"/api/tasks/{task_id}/complete", headers=HEADERS[user])
            )
            if task := self.owned(user, task_id):
                task.set_completed(not task.completed)
                task.version += 1
                self.expect_task(response, user, task_id)
            else:
                assert response.status_code == 404

        @rule(
            user=users,
            pick=st.integers(min_value=0),
            mine=st.booleans(),
            done=st.booleans(),
            through_update=st.booleans(),
        )
        def complete(
            self, user: str, pick: int, mine: bool, done: bool, through_update: bool
        ) -> None:
            """`{"completed": ...}` on the completion route or in an update: a recurring task
            advances instead of completing."""
            task_id = self.target(user, pick, mine)
            path = f"/api/tasks/{task_id}" if through_update else f"/api/tasks/{task_id}/complete"
            response = self.run(
                self.client.patch(path, json={"completed": done}, headers=HEADERS[user])
            )
            if task := self.owned(user, task_id):
                task.set_completed(done)
                task.version += 1
                self.expect_task(response, user, task_id)
            else:
                assert response.status_code == 404

        @rule(
            user=users,
            pick=st.integers(min_value=0),
            mine=st.booleans(),
            where=st.sampled_from(["before", "after", "top", "bottom"]),
            neighbour_pick=st.integers(min_value=0),
            neighbour_mine=st.booleans(),
        )
        def move(
            self,
            user: str,
            pick: int,
            mine: bool,
            where: str,
            neighbour_pick: int,
            neighbour_mine: bool,
        ) -> None:
            task_id = self.target(user, pick, mine)
            neighbour = self.target(user, neighbour_pick, neighbour_mine)
            body: dict[str, Any] = (
                {"to": where} if where in {"top", "bottom"} else {where: neighbour}
            )
            url = f"/api/tasks/{task_id}/move"
            response = self.run(self.client.post(url, json=body, headers=HEADERS[user]))
            task = self.owned(user, task_id)
            if task is None:
                assert response.status_code == 404
                return
            order = self.order[user]
            if "to" not in body and neighbour == task_id:
                assert response.status_code == 422
                return
            if "to" not in body and self.owners.get(neighbour) != user:
                # Another user's task and no task at all: the same answer, to the byte.
                assert response.status_code == 422
                missing = self.run(
                    self.client.post(url, json={where: MISSING}, headers=HEADERS[user])
                )
                assert (missing.status_code, missing.headers["content-type"]) == (
                    422,
                    response.headers["content-type"],
                )
                assert missing.content == response.content
                return
            order.remove(task_id)
            if where == "top":
                order.insert(0, task_id)
            elif where == "bottom":
                order.append(task_id)
            else:
                order.insert(order.index(neighbour) + (where == "after"), task_id)
            task.version += 1
            self.expect_task(response, user, task_id)

        @rule(user=users, pick=st.integers(min_value=0), mine=st.booleans())
        def delete(self, user: str, pick: int, mine: bool) -> None:
            task_id = self.target(user, pick, mine)
            response = self.run(self.client.delete(f"/api/tasks/{task_id}", headers=HEADERS[user]))
            if self.owned(user, task_id):
                assert response.status_code == 204
                del self.tasks[task_id]
                del self.owners[task_id]
                self.order[user].remove(task_id)
                self.deleted.append(task_id)
            else:
                assert response.status_code == 404

        @rule(user=users, pick=st.integers(min_value=0), mine=st.booleans())
        def read(self, user: str, pick: int, mine: bool) -> None:
            task_id = self.target(user, pick, mine)
            response = self.run(self.client.get(f"/api/tasks/{task_id}", headers=HEADERS[user]))
            if self.owned(user, task_id):
                self.expect_task(response, user, task_id)
            else:
                assert response.status_code == 404

        @rule(user=users, zone=st.sampled_from(ZONES))
        def set_time_zone(self, user: str, zone: str) -> None:
            response = self.run(
                self.client.patch("/api/me", json={"time_zone": zone}, headers=HEADERS[user])
            )
            assert response.status_code == 200, response.text
            self.zone[user] = zone
            assert response.json() == self.me(user)

        @rule(
            user=users,
            chosen=filters(),
            sort=st.sampled_from(
                ["due", "-due", "+due", "priority", "+priority", "position", "-position"]
            ),
            limit=st.sampled_from([3, 200]),
        )
        def list_filtered(self, user: str, chosen: dict[str, Any], sort: str, limit: int) -> None:
            """The new filters and sorts, every page followed: exactly the model's tasks in the
            model's order, so never another user's."""
            status: str | None = chosen.get("status")
            priority: set[str] | None = chosen.get("priority")
            tags: list[str] = chosen.get("tag", [])
            due: str | None = chosen.get("due")
            due_from: date | None = chosen.get("due_from")
            due_to: date | None = chosen.get("due_to")
            if due_from and due_to and due_to < due_from:
                due_from, due_to = due_to, due_from
            params: list[tuple[str, str | int | float | bool | None]] = [
                ("sort", sort),
                ("limit", limit),
            ]
            params += [("tag", tag) for tag in tags]  # repeated: every one must be carried
            for name, value in (("status", status), ("due", due)):
                if value is not None:
                    params.append((name, value))
            if priority is not None:
                params.append(("priority", ",".join(sorted(priority))))
            for name, day in (("due_from", due_from), ("due_to", due_to)):
                if day is not None:
                    params.append((name, day.isoformat()))

            zone = self.zone[user]
            today = NOW.astimezone(ZoneInfo(zone)).date()
            keys = {tag.strip().casefold() for tag in tags}
            windows: dict[str, Callable[[Task], bool]] = {
                "overdue": lambda task: task.overdue(zone),
                "today": lambda task: task.due_within(today, today, zone),
                "upcoming": lambda task: task.due_within(
                    today + timedelta(days=1), today + timedelta(days=7), zone
                ),
                "none": lambda task: task.due_key(zone) is None,
                "any": lambda task: task.due_key(zone) is not None,
            }

            def matches(task: Task) -> bool:
                return (
                    (status is None or task.completed == (status == "completed"))
                    and (priority is None or task.priority in priority)
                    and keys <= {tag.casefold() for tag in task.tags}
                    and (due is None or windows[due](task))
                    and (due_from is None or task.due_within(due_from, None, zone))
                    and (due_to is None or task.due_within(None, due_to, zone))
                )

            expected = self.in_order(
                user, [i for i in self.order[user] if matches(self.tasks[i])], sort
            )
            listed: list[dict[str, Any]] = []
            url: str | None = "/api/tasks"
            first = True
            while url is not None:
                response = self.run(
                    self.client.get(url, params=params if first else None, headers=HEADERS[user])
                )
                assert response.status_code == 200, response.text
                assert response.headers["X-Total-Count"] == str(len(expected))
                listed += response.json()
                link = re.fullmatch(r'<([^>]*)>; rel="next"', response.headers.get("Link", ""))
                url, first = (link[1] if link else None), False
                assert len(listed) <= len(expected), "more pages than tasks"
            assert [task["user_id"] for task in listed] == [user] * len(listed)
            assert [task["id"] for task in listed] == expected
            assert [seen(task) for task in listed] == [self.tasks[i].wire() for i in expected]

        def in_order(self, user: str, ids: list[int], sort: str) -> list[int]:
            name = sort.lstrip("+-")
            descending = sort.startswith("-") or (name == "priority" and sort[0] != "+")
            zone = self.zone[user]
            key: Callable[[int], Any] = {
                "position": self.order[user].index,
                "priority": lambda i: PRIORITIES.index(self.tasks[i].priority),
                "due": lambda i: self.tasks[i].due_key(zone),
            }[name]
            # Ties by id in the sort's direction; tasks without a due last either way.
            with_key = sorted(
                (i for i in ids if key(i) is not None),
                key=lambda i: (key(i), i),
                reverse=descending,
            )
            return with_key + sorted((i for i in ids if key(i) is None), reverse=descending)

        @rule(
            user=users,
            start=st.none() | st.tuples(st.integers(-5, 1), st.integers(0, 95)),
            length=st.sampled_from([timedelta(hours=1), timedelta(days=7), timedelta(days=31)]),
        )
        def reminders(self, user: str, start: tuple[int, int] | None, length: timedelta) -> None:
            """Exactly the user's reminders in the window, earliest first: never another's."""
            if start is None:  # the default window: the next 24 hours
                begin, end = NOW, NOW + timedelta(days=1)
                params = {}
            else:  # a day and a quarter-hour in it; up to 31 days long, the most allowed
                begin = NOW + timedelta(days=start[0], minutes=15 * start[1])
                end = begin + length
                params = {"from": rfc3339(begin), "until": rfc3339(end)}
            response = self.run(
                self.client.get("/api/reminders", params=params, headers=HEADERS[user])
            )
            assert response.status_code == 200, response.text
            expected = sorted(
                (
                    (task.due_at - REMINDERS[offset], task_id, task.title, task.due_at)
                    for task_id in self.order[user]
                    if not (task := self.tasks[task_id]).completed and task.due_at is not None
                    for offset in task.reminders
                    if begin <= task.due_at - REMINDERS[offset] < end
                ),
            )
            assert response.json() == [
                {
                    "task_id": task_id,
                    "title": title,
                    "due_at": rfc3339(due_at),
                    "remind_at": rfc3339(remind_at),
                }
                for remind_at, task_id, title, due_at in expected
            ]

        def me(self, user: str) -> dict[str, Any]:
            """GET /api/me as the model has it."""
            zone = self.zone[user]
            today = NOW.astimezone(ZoneInfo(zone)).date()
            mine = [self.tasks[i] for i in self.order[user]]
            done = sum(task.completed for task in mine)
            return {
                "user_id": user,
                "time_zone": zone,
                "tasks": {
                    "total": len(mine),
                    "completed": done,
                    "pending": len(mine) - done,
                    "overdue": sum(task.overdue(zone) for task in mine),
                    "due_today": sum(task.due_within(today, today, zone) for task in mine),
                },
            }

        @invariant()
        def each_user_sees_exactly_their_model(self) -> None:
            for user in USERS:
                listing = self.run(
                    self.client.get("/api/tasks?sort=position&limit=200", headers=HEADERS[user])
                )
                order = self.order[user]
                assert [(t["id"], t["user_id"]) for t in listing.json()] == [
                    (i, user) for i in order
                ]
                assert [seen(t) for t in listing.json()] == [self.tasks[i].wire() for i in order]
                assert listing.headers["X-Total-Count"] == str(len(order))
                me = self.run(self.client.get("/api/me", headers=HEADERS[user]))
                assert me.json() == self.me(user)

        def teardown(self) -> None:
            async def close() -> None:
                await self.client.aclose()
                await self.lifespan.__aexit__(None, None, None)

            self.runner.run(close())
            self.runner.close()

    return Isolation


def test_users_never_see_change_or_count_each_others_tasks(database_url: str) -> None:
    run_state_machine_as_test(
        make_machine(database_url),
        settings=settings(
            max_examples=12,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
