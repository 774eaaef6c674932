"""The app against its own OpenAPI document, through the schemathesis engine, in-process (ASGI).

Every phase (examples, coverage, fuzzing, stateful sequences over the OpenAPI links) and every
check runs, with two identities, alice and bob, declared as peers: object_level_authorization
replays one's reads as the other and fails if anything leaks. Schemathesis acts as alice; bob
owns tasks made before the run that carry every planning field (tags and priorities the
document's examples use, dues around today, reminders in the next 24 hours), and two checks of
this file's own hold them apart: no response alice gets holds a task of bob's (listings with
any filter or sort, reminders, moves), and a move next to one of bob's tasks is the same 422 a
missing neighbour gets, leaving his task as it was, as a change of alice's time zone leaves his.
SCHEMATHESIS_EXAMPLES raises the example count from the small default used in the normal run.
"""

import json
import os
import re
import time
import uuid
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.checks import CheckContext
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import HookContext
from starlette.testclient import TestClient

from tests.conftest import bearer, make_settings, make_token, wipe
from todo_api.app import create_app

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
ALICE, BOB = "alice", "bob"
# An id no task has: task ids count up from 1.
MISSING = 2**62
_LARGEST_ID = 2**63 - 1
# Probes of moves next to bob's tasks, and of bob's side after alice's time zone changes, per
# run: each costs several requests, and what lasts is also seen by the last look, at the end.
MOVE_PROBES = 5
ZONE_PROBES = 3


def _wfc_document(path: Path) -> Path:
    """Web Fuzzing Commons auth document: one fixed Authorization header per identity."""
    expiry = int(time.time()) + 24 * 3600
    users = [
        {
            "name": user,
            "fixedHeaders": [
                {"name": "Authorization", "value": f"Bearer {make_token(user, exp=expiry)}"}
            ],
        }
        for user in (ALICE, BOB)
    ]
    path.write_text(json.dumps({"auth": users}))
    return path


# Known zones, for time zone names that fit the document's string but name no zone.
_ZONES = sorted(zoneinfo.available_timezones())


@schemathesis.hook
def before_call(_context: HookContext, case: Case[Any], _kwargs: dict[str, Any]) -> None:
    """Inputs whose meaning no schema can state, made meaningful before each request.

    A cursor means something only if the server issued it (a made-up one is rightly 400), and
    reusing an Idempotency-Key with another body is rightly 422. Schema-valid cursors are
    dropped and valid keys made unique per request; malformed ones stay, for the negative
    tests. Cursors and key replays have tests of their own (tests/tasks, tests/idempotency).
    Bodies: `_meaningful_body`.
    """
    if (
        case.query
        and isinstance(case.query.get("cursor"), str)
        and len(case.query["cursor"]) <= 1024
    ):
        del case.query["cursor"]
    for name, value in list((case.headers or {}).items()):
        if name.lower() == "idempotency-key" and isinstance(value, str) and _KEY.fullmatch(value):
            case.headers[name] = uuid.uuid4().hex
    if isinstance(case.body, dict):
        _meaningful_body(_operation_id(case), case.body)


_KEY = re.compile(r'"?[\x20-\x7E]{1,255}"?')


def _meaningful_body(operation: str, body: dict[str, Any]) -> None:
    """What JSON Schema cannot say about a body, said for this one.

    - a time zone is one of the IANA names the server knows (the document says "string", as a
      browser's time zone is one to a typed client): a valid string becomes a known zone
      (unknown names have tests of their own, tests/users);
    - `integer` admits 41.0 (JSON Schema counts numbers, not their spelling), which the API's
      strict ids refuse: a whole float becomes the integer;
    - `maxItems` counts what is sent and the API what is left once duplicates merge: the items
      of a list longer than allowed are made distinct, so it is longer for the API too.
    """
    zone = body.get("time_zone")
    known = zone in _ZONES or not (isinstance(zone, str) and 1 <= len(zone) <= 64)
    if operation == "update_me" and not known:
        body["time_zone"] = _ZONES[len(str(zone)) * 7 % len(_ZONES)]
    for name in ("before", "after"):
        value = body.get(name)
        if isinstance(value, float) and value.is_integer():
            body[name] = value = int(value)
        if isinstance(value, int) and value > _LARGEST_ID and float(value) == float(_LARGEST_ID):
            # 2**63 - 1 has no float: numbers that compare equal to it as floats pass the
            # document's `maximum` in a validator that compares floats.
            body[name] = _LARGEST_ID
    for name, longest, item in (("tags", 20, "tag {}"), ("reminders", 5, "PT{}M")):
        values = body.get(name)
        if isinstance(values, list) and len(values) > longest:
            body[name] = [item.format(n) for n in range(1, len(values) + 1)]


# Operations whose schema-valid input may still be refused for what is stored or for another
# parameter's value, and the refusals that mean that (the problem's `errors`). Anything else
# refused on schema-valid input is still a failure (`refused_only_for_state`).
_UPDATES = ("replace_task", "patch_task", "replace_task_for_user", "patch_task_for_user")
_MOVES = ("move_task", "move_task_for_user")
_STATE_REFUSALS: dict[str, tuple[int, set[str], re.Pattern[str]]] = {
    # A rule or reminders need a due once the change is applied to the stored task; an UNTIL
    # must have the stored due's form.
    **{
        operation: (
            422,
            {"due_date", "due_at", "recurrence", "reminders"},
            re.compile(r"a recurrence needs a due|reminders need a due_at|UNTIL must be"),
        )
        for operation in _UPDATES
    },
    # A neighbour that is no task of the caller's (a schema cannot know which ids are), or the
    # moved task itself (the path's id).
    **{
        operation: (
            422,
            {"before", "after"},
            re.compile(r"no such task|a task cannot be moved next to itself"),
        )
        for operation in _MOVES
    },
    # `due_to` must not come before `due_from`.
    **{
        operation: (400, {"due_to"}, re.compile(r"must not be before due_from"))
        for operation in ("list_tasks", "list_tasks_for_user")
    },
    # `until` must come after `from` (by default, now) and at most 31 days after it.
    "list_reminders": (400, {"until"}, re.compile(r"must be (after|at most 31 days after) from")),
}


@dataclass
class Peers:
    """Bob's side of the run, and what the checks saw; one per test."""

    probe: TestClient
    bob_tasks: dict[int, str] = field(default_factory=dict)  # id -> the body as stored
    bob_me: Any = None
    move_probes: list[int] = field(default_factory=list)  # the statuses the probes got
    zone_probes: int = 0
    succeeded: set[str] = field(default_factory=set)  # operations that got a 2xx
    list_parameters: set[str] = field(default_factory=set)  # query names of 2xx listings
    sorts: set[str] = field(default_factory=set)  # sort keys of 2xx listings

    def send(self, user: str, method: str, path: str, body: Any = None) -> Any:
        return self.probe.request(method, path, json=body, headers=bearer(user))

    def seed(self) -> None:
        """Bob's tasks, one for every filter and sort the listing has, and his time zone."""
        now = datetime.now(UTC)
        today = now.date()
        tasks: list[dict[str, Any]] = [
            {
                "title": "Bob's errand",
                "priority": "urgent",
                "tags": ["errands", "home"],
                "due_at": (now + timedelta(days=2)).isoformat(),
                # Due in two days: reminded 36 hours before, within the next 24 hours.
                "reminders": ["PT1H", "P1DT12H"],
            },
            {
                "title": "Bob's rent",
                "priority": "high",
                "due_date": (today - timedelta(days=2)).isoformat(),
                "recurrence": "FREQ=WEEKLY",
                "tags": ["home"],
            },
            {
                "title": "Bob's plan",
                "priority": "low",
                "due_date": (today + timedelta(days=3)).isoformat(),
            },
            {"title": "Bob's milk", "description": "2 litres", "tags": ["errands"]},
            {"title": "Bob's done", "completed": True, "priority": "medium"},
        ]
        for task in tasks:
            created = self.send(BOB, "POST", "/api/tasks", task)
            assert created.status_code == 201, created.text
            self.bob_tasks[created.json()["id"]] = created.text
        zone = self.send(BOB, "PATCH", "/api/me", {"time_zone": "Pacific/Kiritimati"})
        assert zone.status_code == 200, zone.text
        self.bob_me = zone.json()

    def bob_unchanged(self) -> None:
        """Bob's tasks byte for byte as made, his zone and counts as they were."""
        for task_id, stored in self.bob_tasks.items():
            now = self.send(BOB, "GET", f"/api/tasks/{task_id}")
            assert now.text == stored, f"bob's task {task_id} changed: {stored} -> {now.text}"
        me = self.send(BOB, "GET", "/api/me").json()
        assert me == self.bob_me, f"bob's /api/me changed: {self.bob_me} -> {me}"

    def probe_move(self, task_id: int, field: str) -> None:
        """Alice's move next to bob's task: the answer a missing neighbour gets, to the byte."""
        path = f"/api/tasks/{task_id}/move"
        bobs = self.send(ALICE, "POST", path, {field: next(iter(self.bob_tasks))})
        missing = self.send(ALICE, "POST", path, {field: MISSING})
        assert bobs.status_code in {404, 422}, bobs.text
        assert (bobs.status_code, bobs.headers["content-type"], bobs.content) == (
            missing.status_code,
            missing.headers["content-type"],
            missing.content,
        ), f"next to bob's task: {bobs.text}; next to no task: {missing.text}"
        self.move_probes.append(bobs.status_code)
        self.bob_unchanged()


_PEERS: Peers | None = None


def _operation_id(case: Case[Any]) -> str:
    operation: str = case.operation.definition.raw.get("operationId", "")
    return operation


def _json(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _tasks_in(body: Any) -> Iterator[dict[str, Any]]:
    """Every object in a body that stands for a task: one with an id, or a reminder's task_id."""
    if isinstance(body, list):
        for item in body:
            yield from _tasks_in(item)
    elif isinstance(body, dict):
        if "task_id" in body or ("id" in body and "user_id" in body):
            yield body
        for value in body.values():
            yield from _tasks_in(value)


@schemathesis.check
def no_task_of_another_user(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """A response to one user never holds a task of another: not in any listing (whatever its
    filters and sort), reminder, move or /api/me. Moves next to bob's tasks and changes of
    alice's time zone are probed for what they do to bob's side."""
    peers, identity = _PEERS, case.auth_identity
    if peers is None or identity not in {ALICE, BOB} or not 200 <= response.status_code < 300:
        return
    operation = _operation_id(case)
    peers.succeeded.add(operation)
    if operation == "list_tasks":
        peers.list_parameters.update(case.query or {})
        peers.sorts.add(str((case.query or {}).get("sort", "created_at")).lstrip("+- "))
    others = set() if identity == BOB else set(peers.bob_tasks)
    for task in _tasks_in(_json(response)):
        assert task.get("user_id", identity) == identity, f"{identity} got {task}"
        assert task.get("id", task.get("task_id")) not in others, f"{identity} got bob's {task}"
    if identity == ALICE and operation == "update_me" and peers.zone_probes < ZONE_PROBES:
        peers.zone_probes += 1
        peers.bob_unchanged()


@schemathesis.check
def move_next_to_another_users_task_is_a_missing_one(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> None:
    """Each move alice makes next to a task is made again next to bob's and next to none."""
    peers = _PEERS
    if (
        peers is None
        or _operation_id(case) != "move_task"
        or case.auth_identity != ALICE
        or len(peers.move_probes) >= MOVE_PROBES
        or not isinstance(case.body, dict)
    ):
        return
    task_id = case.path_parameters.get("task_id")
    for name in ("before", "after"):
        if isinstance(case.body.get(name), int) and isinstance(task_id, int) and task_id >= 1:
            peers.probe_move(task_id, name)
            return


@schemathesis.check
def refused_only_for_state(ctx: CheckContext, response: Response, case: Case[Any]) -> None:
    """Schema-valid input refused on the operations that `_STATE_REFUSALS` names is refused
    only for what is stored or for another parameter's value (positive_data_acceptance lets
    these statuses through for them)."""
    rule = _STATE_REFUSALS.get(_operation_id(case))
    meta = case.meta
    if rule is None or meta is None or not meta.generation.mode.is_positive:
        return
    status, fields, messages = rule
    if response.status_code != status:
        return
    problem = _json(response)
    errors = problem.get("errors", []) if isinstance(problem, dict) else []
    assert errors, f"refused without saying why: {response.text}"
    for error in errors:
        # Anything else schema-valid input is refused for, the document could state.
        assert error["loc"][-1] in fields, f"refused for another field: {error}"
        assert messages.search(error["msg"]), f"refused for another reason: {error}"


def _failures(scenario: events.ScenarioFinished) -> list[str]:
    found = []
    for checks in scenario.recorder.checks.values():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                found.append(
                    f"{scenario.recorder.label} [{check.name}] {failure.title}: {failure.message}"
                    f"\n{check.failure_info.code_sample}"
                )
    return found


def test_the_api_conforms_to_its_openapi_and_never_crosses_users(
    database_url: str, tmp_path: Path
) -> None:
    global _PEERS  # noqa: PLW0603 (the checks above are registered once, for the whole process)
    # Schemathesis sends far more than a user's per-minute budget; limiting is tested apart.
    settings = make_settings(database_url, rate_limit_enabled=False)
    app = create_app(settings)
    # The default list plus 412: a stale If-Match is a state conflict, like 409, not a
    # rejection of the data (If-Match values are any strings to a generator).
    accepted: list[str | int] = ["2xx", "3xx", 401, 403, 404, 409, 412, 429, "5xx"]
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261125,
            "generation": {"max-examples": EXAMPLES},
            "checks": {
                "enabled": True,
                "positive_data_acceptance": {"expected-statuses": accepted},
            },
            # Plus the refusals that depend on stored tasks or on another parameter, which
            # `refused_only_for_state` narrows down to exactly those.
            "operations": [
                {
                    "include-operation-id": [operation],
                    "checks": {
                        "positive_data_acceptance": {"expected-statuses": [*accepted, status]}
                    },
                }
                for operation, (status, _, _) in _STATE_REFUSALS.items()
            ],
            "phases": {"stateful": {"max-steps": max(2 * EXAMPLES, 20)}},
            "auth": {
                "wfc": {
                    "path": str(_wfc_document(tmp_path / "auth.json")),
                    # Every operation as alice (bob's credentials serve the peer probes only),
                    # so bob's tasks change only if alice reaches them.
                    "user": ALICE,
                    "peers": [ALICE, BOB],
                }
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)

    problems: list[str] = []
    phases_run: set[str] = set()
    # Bob's side goes through an app of its own (its own pool) on the same database.
    with TestClient(create_app(settings)) as probe:
        _PEERS = peers = Peers(probe)
        try:
            peers.seed()
            for event in from_schema(schema).execute():
                if isinstance(event, events.ScenarioFinished):
                    phases_run.add(str(event.phase))
                    problems += _failures(event)
                elif isinstance(event, events.NonFatalError):
                    problems.append(f"error in {event.label}: {event.info.format()}")
                elif isinstance(event, events.FatalError):
                    raise event.exception
            if 422 not in peers.move_probes:
                # No generated move hit one of alice's tasks: probe one.
                made = peers.send(ALICE, "POST", "/api/tasks", {"title": "Probe"})
                peers.probe_move(made.json()["id"], "before")
            peers.bob_unchanged()
        finally:
            _PEERS = None
            wipe(database_url)

    assert not problems, "\n\n".join(dict.fromkeys(problems))
    assert phases_run, "schemathesis ran nothing"
    # The planning operations and the listing's new parameters were all exercised.
    assert {"move_task", "update_me", "list_reminders"} <= peers.succeeded, peers.succeeded
    new_parameters = {"priority", "tag", "due", "due_from", "due_to"}
    assert new_parameters <= peers.list_parameters, peers.list_parameters
    assert {"due", "priority", "position"} <= peers.sorts, peers.sorts
    print(f"\nschemathesis phases: {sorted(phases_run)}; move probes: {peers.move_probes}")
