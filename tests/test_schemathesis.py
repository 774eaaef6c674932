"""The app against its own OpenAPI document, through the schemathesis engine, in-process (ASGI).

Every phase (examples, coverage, fuzzing, stateful sequences over the OpenAPI links) and every
check runs, with two identities, alice and bob, declared as peers: object_level_authorization
replays one's reads as the other and fails if anything leaks. SCHEMATHESIS_EXAMPLES raises the
example count from the small default used in the normal run.
"""

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis import Case
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.hooks import HookContext

from tests.conftest import make_settings, make_token, wipe
from todo_api.app import create_app

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))


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
        for user in ("alice", "bob")
    ]
    path.write_text(json.dumps({"auth": users}))
    return path


@schemathesis.hook
def before_call(_context: HookContext, case: Case[Any], _kwargs: dict[str, Any]) -> None:
    """Two inputs whose meaning no schema can state, made meaningful before each request.

    A cursor means something only if the server issued it (a made-up one is rightly 400), and
    reusing an Idempotency-Key with another body is rightly 422. Schema-valid cursors are
    dropped and valid keys made unique per request; malformed ones stay, for the negative
    tests. Cursors and key replays have tests of their own (tests/tasks, tests/idempotency).
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


_KEY = re.compile(r'"?[\x20-\x7E]{1,255}"?')


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
    # Schemathesis sends far more than a user's per-minute budget; limiting is tested apart.
    app = create_app(make_settings(database_url, rate_limit_enabled=False))
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261125,
            "generation": {"max-examples": EXAMPLES},
            "checks": {
                "enabled": True,
                # The default list plus 412: a stale If-Match is a state conflict, like 409,
                # not a rejection of the data (If-Match values are any strings to a generator).
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", 401, 403, 404, 409, 412, 429, "5xx"]
                },
            },
            "phases": {"stateful": {"max-steps": max(2 * EXAMPLES, 20)}},
            "auth": {
                "wfc": {
                    "path": str(_wfc_document(tmp_path / "auth.json")),
                    "peers": ["alice", "bob"],
                }
            },
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)

    problems: list[str] = []
    phases_run: set[str] = set()
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                phases_run.add(str(event.phase))
                problems += _failures(event)
            elif isinstance(event, events.NonFatalError):
                problems.append(f"error in {event.label}: {event.info.format()}")
            elif isinstance(event, events.FatalError):
                raise event.exception
    finally:
        wipe(database_url)

    assert not problems, "\n\n".join(dict.fromkeys(problems))
    assert phases_run, "schemathesis ran nothing"
    print(f"\nschemathesis phases: {sorted(phases_run)}")
