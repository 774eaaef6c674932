"""End to end with the real Better Auth: its tokens are accepted, and nothing else is.

Better Auth (`interop/better-auth/server.mjs`, npm `better-auth`) and todo-api run as real
processes on 127.0.0.1 and talk over real HTTP. Users sign up through Better Auth's HTTP API as a
browser does, get their JWT from `GET /api/auth/token` (what `authClient.token()` calls), and use
our API exactly as the frontend guide (docs/frontend.md) shows. No token is minted in Python:
they come from Better Auth itself, or from `jose` in Node (mint-hs256.mjs) for the HS256 shapes.
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest

from tests.interop.conftest import (
    FRONTEND_GUIDE,
    FRONTEND_GUIDE_HEADING,
    SHARED_SECRET,
    Api,
    BetterAuth,
    FrontendUser,
    NodeProject,
    mint_hs256,
    run_guide_examples,
    running_api,
    running_better_auth,
    start_api,
    start_better_auth,
)

# Every algorithm Better Auth's jwt plugin can sign with (jwks.keyPairConfig.alg).
ALGORITHMS = ["EdDSA", "ES256", "ES512", "RS256", "PS256"]
LEEWAY_SECONDS = 30  # todo_api.core.auth.LEEWAY_SECONDS, the clock skew the API forgives
# How long a rotated or restarted Better Auth may take to be trusted: the API refetches a key
# set at most every 5 s, plus slack for a loaded machine.
ROTATION_DEADLINE = 15.0


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A token's header and claims, read (not verified) to assert on what Better Auth issued."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return jwt.get_unverified_header(token), claims


def api_env(better_auth: BetterAuth, **extra: str) -> dict[str, str]:
    """The `.env` the frontend guide tells an operator to write, for this Better Auth."""
    return {
        "BETTER_AUTH_URL": better_auth.url,
        "BETTER_AUTH_SECRET": SHARED_SECRET,
        "CORS_ORIGINS": f"http://localhost:3000,{better_auth.url}",
        **extra,
    }


class Frontend:
    """The frontend guide's `fetch` calls, request for request, in one signed-in browser."""

    def __init__(self, api: httpx.Client, get_token: Callable[[], str]) -> None:
        self.http = api
        self._get_token = get_token
        self.token = get_token()

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}

    def send(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """`apiFetch`: on a 401 with error="invalid_token", one retry with a fresh token."""
        response = self.http.request(method, path, headers=self.headers(), json=body)
        challenge = response.headers.get("www-authenticate", "")
        if response.status_code == 401 and 'error="invalid_token"' in challenge:
            self.token = self._get_token()
            response = self.http.request(method, path, headers=self.headers(), json=body)
        return response

    def list(self) -> httpx.Response:
        return self.send("GET", "/api/tasks?status=all&sort=-created_at&limit=20")

    def create(self, title: str, description: str | None = None) -> httpx.Response:
        body = (
            {"title": title}
            if description is None
            else {"title": title, "description": description}
        )
        return self.send("POST", "/api/tasks", body)

    def get(self, task_id: int) -> httpx.Response:
        return self.send("GET", f"/api/tasks/{task_id}")

    def update(self, task_id: int, changes: dict[str, Any]) -> httpx.Response:
        return self.send("PATCH", f"/api/tasks/{task_id}", changes)

    def toggle(self, task_id: int) -> httpx.Response:
        return self.send("PATCH", f"/api/tasks/{task_id}/complete")

    def delete(self, task_id: int) -> httpx.Response:
        return self.send("DELETE", f"/api/tasks/{task_id}")

    def me(self) -> httpx.Response:
        return self.send("GET", "/api/me")


def me(http: httpx.Client, token: str) -> httpx.Response:
    return http.get("/api/me", headers={"Authorization": f"Bearer {token}"})


def assert_invalid_token(response: httpx.Response, detail: str | None = None) -> None:
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    if detail is not None:
        assert response.json()["detail"] == detail


def accepted_within(http: httpx.Client, token: str, deadline: float) -> float:
    """Seconds until the API accepts `token` (polling twice a second), failing past `deadline`."""
    started = time.monotonic()
    while True:
        response = me(http, token)
        elapsed = time.monotonic() - started
        if response.status_code == 200:
            return elapsed
        assert response.status_code == 401, response.text
        if elapsed > deadline:
            pytest.fail(f"not accepted within {deadline:.0f} s: {response.json()['detail']}")
        time.sleep(0.5)


@dataclass
class Stack:
    better_auth: BetterAuth
    api: Api


class Stacks:
    """One Better Auth and one API per key algorithm; only the last one asked for keeps running."""

    def __init__(self, project: NodeProject, root: Path) -> None:
        self._project = project
        self._root = root
        self._current: tuple[str, Stack, contextlib.ExitStack] | None = None

    def get(self, algorithm: str) -> Stack:
        if self._current and self._current[0] == algorithm:
            return self._current[1]
        self.close()
        with contextlib.ExitStack() as running:
            better_auth = start_better_auth(self._project, algorithm=algorithm, COOKIE_CACHE="jwt")
            running.callback(better_auth.stop)
            api = start_api(self._root / algorithm, api_env(better_auth))
            running.callback(api.service.stop)
            stack = Stack(better_auth, api)
            self._current = (algorithm, stack, running.pop_all())
        return stack

    def close(self) -> None:
        if self._current:
            self._current[2].close()
            self._current = None


@pytest.fixture(scope="module")
def stacks(node_project: NodeProject, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    pool = Stacks(node_project, tmp_path_factory.mktemp("stacks"))
    try:
        yield pool
    finally:
        pool.close()


@dataclass
class ShortLived:
    node_project: NodeProject
    better_auth_url: str
    api_url: str
    user: FrontendUser
    http: httpx.Client
    token: str
    past_exp: httpx.Response
    checked_at: float


@pytest.fixture(scope="module", autouse=True)
def short_lived(
    node_project: NodeProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ShortLived]:
    """Better Auth issuing 1-second tokens, started before every other test in this module.

    The expiry test at the end must wait until exp + 30 s of leeway; starting the clock here
    lets the rest of the module run in that time instead of a bare sleep.
    """
    with (
        running_better_auth(node_project, JWT_EXPIRATION_TIME="1s") as better_auth,
        running_api(tmp_path_factory.mktemp("short-lived"), api_env(better_auth)) as api,
        api.client(better_auth.url) as http,
    ):
        user = better_auth.sign_up("dora")
        token = user.token()
        # Past its exp, but within the API's 30 s leeway for clock skew: still accepted.
        time.sleep(max(0.0, unverified(token)[1]["exp"] + 1.0 - time.time()))
        checked_at = time.time()
        past_exp = me(http, token)
        yield ShortLived(
            node_project, better_auth.url, api.url, user, http, token, past_exp, checked_at
        )


def test_cors_lets_only_the_configured_frontend_origin_call_the_api(stacks: Stacks) -> None:
    stack = stacks.get("EdDSA")
    origin = stack.better_auth.url
    user = stack.better_auth.sign_up("erin")
    with stack.api.client(origin) as http:
        preflight = http.options(
            "/api/tasks",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type"} <= {h.strip() for h in allowed.split(",")}

        listed = Frontend(http, user.token).list()
        assert listed.headers["access-control-allow-origin"] == origin
        exposed = {
            h.strip().lower() for h in listed.headers["access-control-expose-headers"].split(",")
        }
        assert {"link", "x-total-count", "location"} <= exposed

    with stack.api.client("http://elsewhere.example") as other:
        refused = other.options(
            "/api/tasks",
            headers={
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers


CLAIM_SHAPES: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
    ("sub", lambda user_id: {"sub": user_id}),
    ("user_id", lambda user_id: {"user_id": user_id}),
    ("userId", lambda user_id: {"userId": user_id}),
    ("id", lambda user_id: {"id": user_id}),
    ("user.id", lambda user_id: {"user": {"id": user_id, "email": "x@example.com"}}),
]


def test_hs256_tokens_minted_with_jose_and_the_shared_secret(
    stacks: Stacks, node_project: NodeProject
) -> None:
    stack = stacks.get("EdDSA")
    user_ids = [f"jose-{name}" for name, _ in CLAIM_SHAPES]
    claim_sets = [
        shape(user_id) for (_, shape), user_id in zip(CLAIM_SHAPES, user_ids, strict=True)
    ]
    good = mint_hs256(node_project, claim_sets, SHARED_SECRET)
    forged = mint_hs256(node_project, claim_sets, SHARED_SECRET[::-1])
    with stack.api.client(stack.better_auth.url) as http:
        for (shape, _), user_id, token, bad in zip(
            CLAIM_SHAPES, user_ids, good, forged, strict=True
        ):
            assert unverified(token)[0]["alg"] == "HS256"
            answer = me(http, token)
            assert answer.status_code == 200, f"{shape}: {answer.text}"
            assert answer.json()["user_id"] == user_id, shape
            assert_invalid_token(me(http, bad), "Token signature is invalid")

        # Better Auth's own session_data cookie-cache token (strategy "jwt"): the user.id shape.
        frank = stack.better_auth.sign_up("frank")
        cookie_token = frank.session_data_cookie()
        assert unverified(cookie_token)[0]["alg"] == "HS256"
        assert me(http, cookie_token).json()["user_id"] == frank.id


def test_the_frontend_guide_examples_run_as_written(
    stacks: Stacks, node_project: NodeProject
) -> None:
    """The section's `apiFetch` and route calls, run in Node with Better Auth's own client."""
    stack = stacks.get("EdDSA")
    assert FRONTEND_GUIDE_HEADING in FRONTEND_GUIDE.read_text()
    outcome = run_guide_examples(
        node_project, stack.better_auth.url, stack.api.url, guide=FRONTEND_GUIDE
    )
    user_id, results = outcome["userId"], outcome["results"]

    assert [(c["method"], c["status"]) for c in outcome["calls"]] == [
        ("GET", 200),
        ("POST", 201),
        ("GET", 200),
        ("PATCH", 200),
        ("PATCH", 200),
        ("DELETE", 204),
        ("GET", 200),
    ]
    assert (results["tasks"], results["total"]) == ([], 0)
    task = results["task"]
    assert (task["title"], task["description"], task["user_id"]) == (
        "Buy milk",
        "2 litres",
        user_id,
    )
    assert results["fetched"] == task
    assert results["updated"]["title"] == "Buy oat milk"
    assert results["toggled"]["completed"] is True
    assert results["deleted"] == 204
    assert results["me"] == {
        "user_id": user_id,
        "time_zone": "UTC",
        "tasks": {"total": 0, "completed": 0, "pending": 0, "overdue": 0, "due_today": 0},
    }


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_two_frontend_users_each_see_only_their_own_tasks(stacks: Stacks, algorithm: str) -> None:
    stack = stacks.get(algorithm)
    better_auth = stack.better_auth
    alice, bob = better_auth.sign_up("alice"), better_auth.sign_up("bob")
    with stack.api.client(better_auth.url) as http:
        as_alice, as_bob = Frontend(http, alice.token), Frontend(http, bob.token)

        header, claims = unverified(as_alice.token)
        assert header["alg"] == algorithm
        assert claims["sub"] == alice.id
        assert claims["iss"] == claims["aud"] == better_auth.url
        assert claims["exp"] - claims["iat"] == 15 * 60  # jwt.expirationTime's default

        milk = as_alice.create("Buy milk", "2 litres")
        assert milk.status_code == 201, milk.text
        assert milk.headers["location"] == f"/api/tasks/{milk.json()['id']}"
        assert milk.headers["access-control-allow-origin"] == better_auth.url
        bread = as_alice.create("Buy bread")
        walk = as_bob.create("Walk the dog")
        milk_id, bread_id, walk_id = milk.json()["id"], bread.json()["id"], walk.json()["id"]
        assert {milk.json()["user_id"], bread.json()["user_id"]} == {alice.id}
        assert walk.json()["user_id"] == bob.id

        listed = as_alice.list()
        assert listed.status_code == 200
        assert [t["id"] for t in listed.json()] == [bread_id, milk_id]
        assert listed.headers["x-total-count"] == "2"
        assert [t["id"] for t in as_bob.list().json()] == [walk_id]
        first_page = as_alice.send("GET", "/api/tasks?limit=1")
        assert [t["id"] for t in first_page.json()] == [bread_id]
        next_page = as_alice.send("GET", first_page.links["next"]["url"])
        assert [t["id"] for t in next_page.json()] == [milk_id]
        assert "next" not in next_page.links

        assert as_alice.get(milk_id).json()["description"] == "2 litres"
        updated = as_alice.update(milk_id, {"title": "Buy oat milk"})
        assert (updated.status_code, updated.json()["title"]) == (200, "Buy oat milk")
        toggled = as_alice.toggle(milk_id)
        assert (toggled.status_code, toggled.json()["completed"]) == (200, True)
        assert as_alice.toggle(milk_id).json()["completed"] is False
        assert as_alice.toggle(milk_id).json()["completed"] is True
        explicit = as_alice.send("PATCH", f"/api/tasks/{milk_id}/complete", {"completed": True})
        assert (explicit.status_code, explicit.json()["completed"]) == (200, True)

        # Another user's task is a 404 for every route, and stays untouched.
        assert as_bob.get(milk_id).status_code == 404
        assert as_bob.update(milk_id, {"title": "mine now"}).status_code == 404
        assert as_bob.toggle(milk_id).status_code == 404
        assert as_bob.delete(milk_id).status_code == 404
        assert as_alice.get(walk_id).status_code == 404
        assert as_alice.delete(walk_id).status_code == 404
        assert as_bob.get(walk_id).status_code == 200
        assert as_alice.get(milk_id).json()["title"] == "Buy oat milk"

        deleted = as_alice.delete(bread_id)
        assert (deleted.status_code, deleted.content) == (204, b"")
        assert as_alice.get(bread_id).status_code == 404

        alice_me, bob_me = as_alice.me().json(), as_bob.me().json()
        no_dues = {"overdue": 0, "due_today": 0}
        assert alice_me == {
            "user_id": alice.id,
            "time_zone": "UTC",
            "tasks": {"total": 1, "completed": 1, "pending": 0, **no_dues},
        }
        assert bob_me == {
            "user_id": bob.id,
            "time_zone": "UTC",
            "tasks": {"total": 1, "completed": 0, "pending": 1, **no_dues},
        }

        # The token the jwt plugin puts in get-session's `set-auth-jwt` header works the same.
        assert me(http, alice.session_jwt_header()).json()["user_id"] == alice.id


def test_rotated_and_restarted_better_auth_keys(node_project: NodeProject, tmp_path: Path) -> None:
    with contextlib.ExitStack() as running:
        first = running.enter_context(running_better_auth(node_project, JWKS_ROTATION_INTERVAL="2"))
        api = running.enter_context(running_api(tmp_path / "api", api_env(first)))
        http = running.enter_context(api.client(first.url))

        alice = first.sign_up("alice")
        before = alice.token()
        assert me(http, before).status_code == 200

        # jwks.rotationInterval = 2 s: after that Better Auth signs with a new key.
        deadline = time.monotonic() + 10
        after = alice.token()
        while unverified(after)[0]["kid"] == unverified(before)[0]["kid"]:
            assert time.monotonic() < deadline, "Better Auth did not rotate its key"
            time.sleep(0.5)
            after = alice.token()
        rotated = accepted_within(http, after, ROTATION_DEADLINE)
        assert me(http, before).status_code == 200  # old keys stay published (grace period)

        # Restarted with a fresh database, at the same URL: new keys, new users.
        port = urlsplit(first.url).port
        assert port is not None
        first.stop()
        second = running.enter_context(running_better_auth(node_project, port=port))
        assert second.url == first.url
        carol = second.sign_up("carol")
        fresh = carol.token()
        waited = accepted_within(http, fresh, ROTATION_DEADLINE)
        assert me(http, fresh).json()["user_id"] == carol.id

        # The previous instance's tokens are signed with keys nobody publishes any more.
        assert_invalid_token(me(http, before), "Token is signed with an unknown key")
        assert_invalid_token(me(http, after), "Token is signed with an unknown key")

        # And a token from another Better Auth running beside it (other keys, other URL).
        other = running.enter_context(running_better_auth(node_project))
        assert_invalid_token(me(http, other.sign_up("mallory").token()))
    print(
        f"rotated key accepted after {rotated:.1f} s, restarted Better Auth's after {waited:.1f} s"
    )


def test_a_better_auth_token_issued_already_expired_is_rejected(
    node_project: NodeProject, tmp_path: Path
) -> None:
    """jwt.expirationTime "-2m": Better Auth signs exp = iat - 120 s, past the 30 s leeway."""
    with (
        running_better_auth(node_project, JWT_EXPIRATION_TIME="-2m") as better_auth,
        running_api(tmp_path / "api", api_env(better_auth)) as api,
        api.client(better_auth.url) as http,
    ):
        token = better_auth.sign_up("gus").token()
        claims = unverified(token)[1]
        assert claims["exp"] <= claims["iat"] - 120
        assert_invalid_token(me(http, token), "Token has expired")


def test_a_better_auth_token_for_another_audience_is_rejected(
    node_project: NodeProject, tmp_path: Path
) -> None:
    """Same Better Auth, same keys, but `jwt.audience` names another service: not for us."""
    with (
        running_better_auth(node_project, JWT_AUDIENCE="https://other-api.example") as better_auth,
        running_api(tmp_path / "api", api_env(better_auth)) as api,
        api.client(better_auth.url) as http,
    ):
        token = better_auth.sign_up("hank").token()
        assert unverified(token)[1]["aud"] == "https://other-api.example"
        assert_invalid_token(me(http, token), "Token audience is not accepted")

        # The guide's remedy: JWT_AUDIENCE set to the same value (and a trailing / is ignored).
        matching = {
            "BETTER_AUTH_URL": f"{better_auth.url}/",
            "JWT_AUDIENCE": "https://other-api.example",
        }
        with (
            running_api(tmp_path / "audience", api_env(better_auth, **matching)) as configured,
            configured.client(better_auth.url) as fixed,
        ):
            assert me(fixed, token).status_code == 200


def test_a_better_auth_token_expires_after_its_exp_and_the_leeway(short_lived: ShortLived) -> None:
    """jwt.expirationTime "1s": accepted just past exp, 401 once exp + 30 s has passed.

    The wait is bounded by exp + 30 s + 1.5 s from the token's issue (at most about 33 s when
    this test runs alone); in a full run the rest of the module has usually used that time up.
    """
    token = short_lived.token
    exp = unverified(token)[1]["exp"]
    assert short_lived.checked_at > exp
    assert short_lived.past_exp.status_code == 200, short_lived.past_exp.text
    time.sleep(max(0.0, exp + LEEWAY_SECONDS + 1.5 - time.time()))

    assert_invalid_token(me(short_lived.http, token), "Token has expired")

    # The guide's apiFetch: on invalid_token, get a fresh token from Better Auth and retry.
    frontend = Frontend(short_lived.http, short_lived.user.token)
    frontend.token = token
    answer = frontend.me()
    assert answer.status_code == 200
    assert answer.json()["user_id"] == short_lived.user.id

    # The same, with the guide's own code starting from the expired token.
    outcome = run_guide_examples(
        short_lived.node_project, short_lived.better_auth_url, short_lived.api_url, token
    )
    statuses = [call["status"] for call in outcome["calls"]]
    assert statuses == [401, 200, 201, 200, 200, 200, 204, 200]
    assert outcome["results"]["me"]["user_id"] == outcome["userId"]
