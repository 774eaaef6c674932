"""Random interleavings of three users' operations: each sees exactly their own tasks, always.

A Hypothesis state machine drives the real app: every rule is a real request, and after every
step each user's listing and counts must equal a model built from that user's operations only.
Operations aimed at another user's task must be 404 and leave the model (and the rows) alone.
"""

import asyncio
from collections.abc import Coroutine
from typing import Any

import httpx
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.conftest import bearer, client_for, make_settings, running

USERS = ("alice", "bob", "carol")
HEADERS = {user: bearer(user) for user in USERS}
users = st.sampled_from(USERS)
# Control characters are legal but trimmed differently by Python and by pydantic's Rust core;
# leaving them out keeps the model's `strip()` honest.
titles = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=30
).filter(lambda s: s.strip())


def make_machine(database_url: str) -> type[RuleBasedStateMachine]:
    class Isolation(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = asyncio.Runner()
            # The app with its lifespan running (its connection pool open), on an empty table.
            self.lifespan = running(make_settings(database_url))
            self.app = self.runner.run(self.lifespan.__aenter__())
            self.client = client_for(self.app)
            self.model: dict[str, dict[int, dict[str, Any]]] = {user: {} for user in USERS}
            self.owners: dict[int, str] = {}
            self.deleted: list[int] = []

        def run(self, coroutine: Coroutine[Any, Any, httpx.Response]) -> httpx.Response:
            return self.runner.run(coroutine)

        def target(self, pick: int) -> int:
            known = [*self.owners, *self.deleted]
            return known[pick % len(known)] if known else 10**9

        @rule(user=users, title=titles, completed=st.booleans())
        def create(self, user: str, title: str, completed: bool) -> None:
            response = self.run(
                self.client.post(
                    "/api/tasks",
                    json={"title": title, "completed": completed},
                    headers=HEADERS[user],
                )
            )
            assert response.status_code == 201
            task = response.json()
            assert task["user_id"] == user
            self.model[user][task["id"]] = {"title": title.strip(), "completed": completed}
            self.owners[task["id"]] = user

        @rule(user=users, pick=st.integers(min_value=0), title=titles)
        def rename(self, user: str, pick: int, title: str) -> None:
            task_id = self.target(pick)
            response = self.run(
                self.client.put(
                    f"/api/tasks/{task_id}", json={"title": title}, headers=HEADERS[user]
                )
            )
            if self.owners.get(task_id) == user:
                assert response.status_code == 200
                self.model[user][task_id]["title"] = title.strip()
            else:
                assert response.status_code == 404

        @rule(user=users, pick=st.integers(min_value=0))
        def toggle(self, user: str, pick: int) -> None:
            task_id = self.target(pick)
            response = self.run(
                self.client.patch(f"/api/tasks/{task_id}/complete", headers=HEADERS[user])
            )
            if self.owners.get(task_id) == user:
                assert response.status_code == 200
                task = self.model[user][task_id]
                task["completed"] = not task["completed"]
            else:
                assert response.status_code == 404

        @rule(user=users, pick=st.integers(min_value=0))
        def delete(self, user: str, pick: int) -> None:
            task_id = self.target(pick)
            response = self.run(self.client.delete(f"/api/tasks/{task_id}", headers=HEADERS[user]))
            if self.owners.get(task_id) == user:
                assert response.status_code == 204
                del self.model[user][task_id]
                del self.owners[task_id]
                self.deleted.append(task_id)
            else:
                assert response.status_code == 404

        @rule(user=users, pick=st.integers(min_value=0))
        def read(self, user: str, pick: int) -> None:
            task_id = self.target(pick)
            response = self.run(self.client.get(f"/api/tasks/{task_id}", headers=HEADERS[user]))
            if self.owners.get(task_id) == user:
                assert response.json()["title"] == self.model[user][task_id]["title"]
            else:
                assert response.status_code == 404

        @invariant()
        def each_user_sees_exactly_their_model(self) -> None:
            for user in USERS:
                listing = self.run(self.client.get("/api/tasks?limit=200", headers=HEADERS[user]))
                seen = {
                    t["id"]: {"title": t["title"], "completed": t["completed"]}
                    for t in listing.json()
                }
                assert seen == self.model[user]
                assert listing.headers["X-Total-Count"] == str(len(seen))
                counts = self.run(self.client.get("/api/me", headers=HEADERS[user])).json()["tasks"]
                done = sum(t["completed"] for t in self.model[user].values())
                assert counts == {
                    "total": len(seen),
                    "completed": done,
                    "pending": len(seen) - done,
                    "overdue": 0,
                    "due_today": 0,
                }

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
            max_examples=15,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
