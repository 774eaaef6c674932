"""GET /api/me: who the token says you are, and your own counts only."""

import httpx

from tests.conftest import Rows
from tests.tasks.test_routes import create

Headers = dict[str, str]


async def test_me_counts_only_the_callers_tasks(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    await create(client, alice, completed=True)
    await create(client, alice)
    await create(client, alice)
    await create(client, bob, completed=True)

    alice_me = (await client.get("/api/me", headers=alice)).json()
    bob_me = (await client.get("/api/me", headers=bob)).json()

    assert alice_me == {
        "user_id": "alice",
        "time_zone": "UTC",
        "tasks": {"total": 3, "completed": 1, "pending": 2, "overdue": 0, "due_today": 0},
    }
    assert bob_me == {
        "user_id": "bob",
        "time_zone": "UTC",
        "tasks": {"total": 1, "completed": 1, "pending": 0, "overdue": 0, "due_today": 0},
    }


async def test_me_for_a_new_user_is_zero_and_writes_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    response = await client.get("/api/me", headers=alice)

    assert response.json() == {
        "user_id": "alice",
        "time_zone": "UTC",
        "tasks": {"total": 0, "completed": 0, "pending": 0, "overdue": 0, "due_today": 0},
    }
    assert await rows("SELECT * FROM users") == []
