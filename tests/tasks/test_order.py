"""Manual order: POST /api/tasks/{id}/move and `sort=position`.

Every expected order is written out here (or kept by a list that the moves are applied to),
and checked against the listing, the positions the API returns and the stored rows.
"""

import asyncio
import itertools
import os
import secrets
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from tests.conftest import ADMIN_URL, Rows, bearer, client_for, make_settings, running
from tests.tasks.test_routes import create
from todo_api.core.clock import FixedClock
from todo_api.core.config import Settings
from todo_api.migrations import upgrade

Headers = dict[str, str]
START = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # A thousand moves in a row would meet the per-user rate limit, which is not under test.
    return make_settings(database_url, rate_limit_enabled=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def move(
    client: httpx.AsyncClient, headers: Headers, task_id: int, body: Any
) -> httpx.Response:
    return await client.post(f"/api/tasks/{task_id}/move", json=body, headers=headers)


async def manual_order(
    client: httpx.AsyncClient, headers: Headers, sort: str = "position"
) -> list[dict[str, Any]]:
    response = await client.get(f"/api/tasks?sort={sort}&limit=200", headers=headers)
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()
    assert response.headers["X-Total-Count"] == str(len(tasks))
    return tasks


def assert_strictly_ordered(positions: list[str]) -> None:
    """Byte order, as the contract sorts positions; equal neighbours would be a tie."""
    keys = [position.encode() for position in positions]
    assert all(a < b for a, b in itertools.pairwise(keys)), positions


async def titles_in_order(client: httpx.AsyncClient, headers: Headers) -> str:
    tasks = await manual_order(client, headers)
    assert_strictly_ordered([task["position"] for task in tasks])
    return "".join(task["title"] for task in tasks)


async def create_named(
    client: httpx.AsyncClient, headers: Headers, names: Iterable[str]
) -> dict[str, int]:
    """One task per letter, created in that order (so listed in the reverse)."""
    return {name: (await create(client, headers, title=name))["id"] for name in names}


# Placing


async def test_new_tasks_go_first_in_manual_order(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    await create_named(client, alice, "abc")

    assert await titles_in_order(client, alice) == "cba"
    descending = await manual_order(client, alice, "-position")
    assert "".join(task["title"] for task in descending) == "abc"


async def test_a_new_task_goes_before_one_just_moved_to_the_top(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    ids = await create_named(client, alice, "abc")
    assert (await move(client, alice, ids["a"], {"to": "top"})).status_code == 200
    assert (await move(client, alice, ids["b"], {"before": ids["a"]})).status_code == 200

    await create(client, alice, title="d")

    assert await titles_in_order(client, alice) == "dbac"


@pytest.mark.parametrize(
    ("mover", "body", "expected"),
    [
        ("a", {"before": "d"}, "eadcb"),
        ("e", {"after": "c"}, "dceba"),
        ("b", {"after": "a"}, "edcab"),  # after the last
        ("a", {"before": "e"}, "aedcb"),  # before the first
        ("a", {"after": "e"}, "eadcb"),
        ("e", {"before": "a"}, "dcbea"),
        ("c", {"to": "top"}, "cedba"),
        ("c", {"to": "bottom"}, "edbac"),
        # Already there: still a move (200, version + 1), and the order stays.
        ("e", {"to": "top"}, "edcba"),
        ("a", {"to": "bottom"}, "edcba"),
        ("d", {"before": "c"}, "edcba"),
        ("d", {"after": "e"}, "edcba"),
    ],
)
async def test_a_move_places_the_task_exactly_there(
    client: httpx.AsyncClient,
    alice: Headers,
    rows: Rows,
    clock: FixedClock,
    mover: str,
    body: dict[str, str],
    expected: str,
) -> None:
    ids = await create_named(client, alice, "abcde")
    assert await titles_in_order(client, alice) == "edcba"
    before = (await client.get(f"/api/tasks/{ids[mover]}", headers=alice)).json()
    clock.advance(60)

    sent = {key: ids[value] if key != "to" else value for key, value in body.items()}
    response = await move(client, alice, ids[mover], sent)

    assert response.status_code == 200, response.text
    moved = response.json()
    assert moved["id"] == ids[mover]
    assert moved["version"] == before["version"] + 1
    assert response.headers["ETag"] == f'"{before["version"] + 1}"'
    assert moved["updated_at"] == stamp(clock.now())
    # Nothing but the place, the version and the time changes.
    unchanged = {k: v for k, v in moved.items() if k not in {"position", "version", "updated_at"}}
    assert unchanged == {k: before[k] for k in unchanged}
    assert await titles_in_order(client, alice) == expected
    stored = await rows.task(ids[mover])
    assert stored is not None
    assert (stored["position"], stored["version"]) == (moved["position"], moved["version"])


async def test_a_run_of_mixed_moves_keeps_the_order_a_list_would(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    ids = await create_named(client, alice, "abcdefg")
    order = list("gfedcba")
    # Moves that reach every end and the same places more than once.
    moves: list[tuple[str, str, str]] = [
        ("a", "to", "top"),
        ("b", "before", "a"),
        ("g", "after", "b"),
        ("c", "to", "bottom"),
        ("d", "after", "c"),
        ("e", "before", "g"),
        ("a", "after", "d"),
        ("f", "before", "b"),
        ("b", "to", "top"),
        ("g", "to", "bottom"),
        ("c", "after", "b"),
        ("d", "before", "c"),
        ("e", "after", "a"),
    ]
    for mover, kind, target in moves:
        order.remove(mover)
        if kind == "to":
            order.insert(0 if target == "top" else len(order), mover)
            body: dict[str, Any] = {"to": target}
        else:
            order.insert(order.index(target) + (kind == "after"), mover)
            body = {kind: ids[target]}

        response = await move(client, alice, ids[mover], body)

        assert response.status_code == 200, response.text
        assert await titles_in_order(client, alice) == "".join(order), (mover, kind, target)


async def test_a_thousand_moves_into_one_gap_keep_a_strict_order_and_touch_no_other_task(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows, clock: FixedClock
) -> None:
    # Listed head, anchor, x, y, tail; x and y take turns to move right after the anchor, so
    # every new place is squeezed between the anchor and the other mover's latest place.
    ids = await create_named(client, alice, ["tail", "y", "x", "anchor", "head"])
    await create(client, bob, title="bob's")
    others = "SELECT id, position, version, updated_at FROM tasks WHERE id NOT IN (:x, :y)"
    untouched = await rows(others, x=ids["x"], y=ids["y"])
    listed = await manual_order(client, alice)
    assert [task["title"] for task in listed] == ["head", "anchor", "x", "y", "tail"]
    places = {task["title"]: task["position"] for task in listed}
    order = ["head", "anchor", "x", "y", "tail"]

    for step in range(1000):
        clock.advance(1)  # every change would carry its own updated_at
        mover, other = ("x", "y") if step % 2 == 0 else ("y", "x")

        response = await move(client, alice, ids[mover], {"after": ids["anchor"]})

        assert response.status_code == 200, (step, response.text)
        places[mover] = response.json()["position"]
        order = ["head", "anchor", mover, other, "tail"]
        assert_strictly_ordered([places[name] for name in order])
        if step % 100 == 99:
            listed = await manual_order(client, alice)
            assert [task["title"] for task in listed] == order, step
            assert [task["position"] for task in listed] == [places[name] for name in order]

    assert await rows(others, x=ids["x"], y=ids["y"]) == untouched
    movers = await rows(
        "SELECT id, position, version FROM tasks WHERE id IN (:x, :y) ORDER BY id",
        x=ids["x"],
        y=ids["y"],
    )
    assert sorted((row["position"], row["version"]) for row in movers) == sorted(
        (places[name], 501) for name in ("x", "y")
    )
    listed = await manual_order(client, alice)
    assert [task["title"] for task in listed] == order


async def test_concurrent_moves_and_creates_never_share_a_place(
    app: FastAPI, alice: Headers, rows: Rows
) -> None:
    async with client_for(app) as first, client_for(app) as second:
        ids = await create_named(first, alice, ["tail", *"fedcba", "anchor"])
        movers = [ids[name] for name in "abcdef"]

        def moves(
            client: httpx.AsyncClient, offset: int
        ) -> list[Coroutine[Any, Any, httpx.Response]]:
            bodies: list[dict[str, Any]] = [
                {"after": ids["anchor"]},
                {"before": ids["tail"]},
                {"to": "top"},
                {"before": ids["anchor"]},  # the first place but one: also from the top
                {"to": "bottom"},
            ]
            return [
                move(client, alice, movers[(i + offset) % len(movers)], bodies[i % len(bodies)])
                for i in range(40)
            ]

        creates = [
            first.post("/api/tasks", json={"title": f"new {i}"}, headers=alice) for i in range(10)
        ] + [
            second.post("/api/tasks", json={"title": f"new {i}"}, headers=alice) for i in range(10)
        ]
        responses = await asyncio.gather(*moves(first, 0), *moves(second, 3), *creates)

        statuses = sorted(response.status_code for response in responses)
        assert statuses == [200] * 80 + [201] * 20, [
            r.text for r in responses if r.status_code >= 300
        ]
        stored = await rows("SELECT position FROM tasks WHERE user_id = 'alice'")
        assert len(stored) == 28
        assert len({row["position"] for row in stored}) == 28
        listed = await manual_order(first, alice)
        assert len(listed) == 28
        assert_strictly_ordered([task["position"] for task in listed])
        # Each move counted once, on its mover only; the anchor and the tail never changed.
        versions = {task["id"]: task["version"] for task in listed}
        assert sum(versions[task_id] - 1 for task_id in movers) == 80
        assert (versions[ids["anchor"]], versions[ids["tail"]]) == (1, 1)


# Refused moves


@pytest.fixture
async def abc(client: httpx.AsyncClient, alice: Headers) -> dict[str, int]:
    return await create_named(client, alice, "abc")


async def snapshot(rows: Rows) -> list[dict[str, Any]]:
    """What a move could change, for every task of every user."""
    return await rows("SELECT id, position, version, updated_at FROM tasks ORDER BY id")


async def assert_nothing_moved(rows: Rows, before: list[dict[str, Any]]) -> None:
    assert await snapshot(rows) == before


@pytest.mark.parametrize("side", ["before", "after"])
async def test_a_missing_neighbour_and_another_users_task_are_the_same_422(
    client: httpx.AsyncClient,
    alice: Headers,
    bob: Headers,
    rows: Rows,
    abc: dict[str, int],
    side: str,
) -> None:
    bobs = await create(client, bob, title="bob's")
    missing = bobs["id"] + 1000
    before = await snapshot(rows)

    foreign = await move(client, alice, abc["a"], {side: bobs["id"]})
    absent = await move(client, alice, abc["a"], {side: missing})

    assert (foreign.status_code, absent.status_code) == (422, 422)
    assert foreign.headers["content-type"] == "application/problem+json"
    # Nothing tells a task of someone else's from no task at all.
    assert foreign.json() == absent.json()
    assert foreign.json()["errors"][0]["loc"] == ["body", side]
    await assert_nothing_moved(rows, before)


@pytest.mark.parametrize("side", ["before", "after"])
async def test_moving_a_task_next_to_itself_is_422(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, abc: dict[str, int], side: str
) -> None:
    before = await snapshot(rows)

    response = await move(client, alice, abc["b"], {side: abc["b"]})

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", side]
    await assert_nothing_moved(rows, before)


# Bodies that do not name exactly one place, given the ids of tasks a, b and c.
NOT_ONE_PLACE: dict[str, Callable[[dict[str, int]], object]] = {
    "empty": lambda ids: {},
    "before and after": lambda ids: {"before": ids["a"], "after": ids["c"]},
    "before and to": lambda ids: {"before": ids["a"], "to": "top"},
    "after and to": lambda ids: {"after": ids["c"], "to": "bottom"},
    "all three": lambda ids: {"before": ids["a"], "after": ids["c"], "to": "top"},
    "unknown to": lambda ids: {"to": "middle"},
    "to in capitals": lambda ids: {"to": "TOP"},
    "empty to": lambda ids: {"to": ""},
    "null to": lambda ids: {"to": None},
    "null before": lambda ids: {"before": None},
    "unknown field": lambda ids: {"before": ids["a"], "extra": 1},
    "a position": lambda ids: {"position": "a0"},
    "id as a string": lambda ids: {"before": str(ids["a"])},
    "id as a boolean": lambda ids: {"after": True},
    "id zero": lambda ids: {"before": 0},
    "negative id": lambda ids: {"after": -1},
    "an array": lambda ids: [],
    "a string": lambda ids: "top",
}


@pytest.mark.parametrize("case", NOT_ONE_PLACE)
async def test_a_body_that_is_not_exactly_one_place_is_422(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, abc: dict[str, int], case: str
) -> None:
    before = await snapshot(rows)

    response = await move(client, alice, abc["b"], NOT_ONE_PLACE[case](abc))

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    await assert_nothing_moved(rows, before)


async def test_moving_another_users_task_is_404_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, rows: Rows, abc: dict[str, int]
) -> None:
    bobs = await create(client, bob, title="bob's")
    await create(client, bob, title="bob's other")
    before = await snapshot(rows)

    for body in ({"to": "top"}, {"to": "bottom"}, {"after": abc["a"]}, {"before": abc["c"]}):
        foreign = await move(client, alice, bobs["id"], body)
        absent = await move(client, alice, bobs["id"] + 1000, body)
        assert (foreign.status_code, absent.status_code) == (404, 404), body
        assert foreign.json() == absent.json()

    await assert_nothing_moved(rows, before)


async def test_a_stale_if_match_is_412_with_the_current_task_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, abc: dict[str, int]
) -> None:
    renamed = await client.patch(f"/api/tasks/{abc['a']}", json={"title": "A"}, headers=alice)
    assert renamed.json()["version"] == 2
    before = await snapshot(rows)

    stale = await client.post(
        f"/api/tasks/{abc['a']}/move", json={"to": "top"}, headers={**alice, "If-Match": '"1"'}
    )

    assert stale.status_code == 412
    assert stale.headers["ETag"] == '"2"'
    assert stale.json()["task"] == renamed.json()
    await assert_nothing_moved(rows, before)
    assert await titles_in_order(client, alice) == "cbA"

    current = await client.post(
        f"/api/tasks/{abc['a']}/move", json={"to": "top"}, headers={**alice, "If-Match": '"2"'}
    )

    assert current.status_code == 200
    assert current.json()["version"] == 3
    assert await titles_in_order(client, alice) == "Acb"


# The database's collation


async def _admin_sql(sql: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _listed_after_moves(configured: Settings) -> list[str]:
    headers = bearer("alice")
    async with running(configured) as application, client_for(application) as http:
        ids = await create_named(http, headers, ["tail", "y", "x", "head"])
        # Squeezed against the tail: the new keys end in upper- and lower-case letters.
        for name in ("x", "y"):
            response = await move(http, headers, ids[name], {"before": ids["tail"]})
            assert response.status_code == 200, response.text
        return [task["title"] for task in await manual_order(http, headers)]


@pytest.mark.postgres_only
def test_manual_order_is_byte_order_on_a_database_with_a_linguistic_collation(
    database_url: str,
) -> None:
    if make_settings(database_url).database_pool_mode == "transaction":
        pytest.skip("makes its own database: once, without the pooler, is enough")
    name = f"todo_api_collation_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        # Managed PostgreSQL often defaults to en-US rules, where "l" sorts before "V".
        asyncio.run(
            _admin_sql(
                f'CREATE DATABASE "{name}" TEMPLATE template0 '
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    except asyncpg.PostgresError as error:
        pytest.skip(f"no ICU collations on this server: {error}")
    try:
        url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
        configured = make_settings(url.render_as_string(hide_password=False))
        upgrade(configured)

        assert asyncio.run(_listed_after_moves(configured)) == ["head", "x", "y", "tail"]
    finally:
        asyncio.run(_admin_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.parametrize("prefix", ["/api/alice", "/api/v1", "/api/v1/alice"])
async def test_moves_work_under_the_compatibility_paths(
    client: httpx.AsyncClient, alice: Headers, abc: dict[str, int], prefix: str
) -> None:
    response = await client.post(
        f"{prefix}/tasks/{abc['a']}/move", json={"to": "top"}, headers=alice
    )

    assert response.status_code == 200, response.text
    assert await titles_in_order(client, alice) == "acb"


async def test_a_move_under_another_users_path_is_403_and_changes_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, abc: dict[str, int]
) -> None:
    before = await snapshot(rows)

    response = await client.post(
        f"/api/bob/tasks/{abc['a']}/move", json={"to": "top"}, headers=alice
    )

    assert response.status_code == 403
    await assert_nothing_moved(rows, before)
