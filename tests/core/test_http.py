"""HTTP-level behaviour: body limits, content types, problem+json for every error, headers, CORS."""

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Rows, client_with, live_server

Headers = dict[str, str]
LIMIT = 64 * 1024


def padded_body(size: int) -> bytes:
    """A JSON object of exactly `size` bytes."""
    skeleton = json.dumps({"title": "x", "description": ""})
    body = json.dumps({"title": "x", "description": "d" * (size - len(skeleton))}).encode()
    assert len(body) == size
    return body


async def test_body_over_64_kib_is_413_problem_json(
    client: httpx.AsyncClient, alice: Headers, rows: Rows
) -> None:
    response = await client.post(
        "/api/tasks",
        content=padded_body(LIMIT + 1),
        headers={**alice, "Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert await rows("SELECT * FROM tasks") == []


# Every route that reads a body, under both prefixes: the limit is set route by route.
BODY_ROUTES = [
    *(
        (method, prefix + suffix)
        for prefix in ("/api/tasks", "/api/alice/tasks")
        for method, suffix in [
            ("POST", ""),
            ("PUT", "/1"),
            ("PATCH", "/1"),
            ("PATCH", "/1/complete"),
            ("POST", "/1/move"),
        ]
    ),
    ("PATCH", "/api/me"),
]


async def test_every_route_that_takes_a_body_is_checked_for_its_limit(app: FastAPI) -> None:
    # The limit is set route by route, so a new body route without it would read any size.
    examples = {"{task_id}": "1", "{user_id}": "alice"}
    taking_a_body = set()
    for template, operations in app.openapi()["paths"].items():
        path = template
        for name, value in examples.items():
            path = path.replace(name, value)
        taking_a_body |= {(m.upper(), path) for m, op in operations.items() if "requestBody" in op}

    assert taking_a_body == set(BODY_ROUTES)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
async def test_chunked_body_over_64_kib_is_413(
    client: httpx.AsyncClient, alice: Headers, method: str, path: str
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = padded_body(LIMIT + 4096)
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    response = await client.request(
        method, path, content=chunks(), headers={**alice, "Content-Type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


async def test_body_of_exactly_64_kib_is_read_and_validated(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    response = await client.post(
        "/api/tasks",
        content=padded_body(LIMIT),
        headers={**alice, "Content-Type": "application/json"},
    )

    # Read in full and judged on its merits: the description is far over 1000 characters.
    assert response.status_code == 422


async def test_oversized_body_on_a_route_without_a_body_is_still_problem_json(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    response = await client.request(
        "DELETE", "/api/tasks/1", content=b"x" * (LIMIT + 1), headers=alice
    )

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
async def test_non_json_body_is_415_and_stores_nothing(
    client: httpx.AsyncClient, alice: Headers, rows: Rows, content_type: str | None
) -> None:
    headers = {**alice, **({"Content-Type": content_type} if content_type else {})}

    response = await client.post("/api/tasks", content=b'{"title": "x"}', headers=headers)

    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    assert await rows("SELECT * FROM tasks") == []


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "application/merge-patch+json", "APPLICATION/JSON"],
)
async def test_json_content_types_with_parameters_are_accepted(
    client: httpx.AsyncClient, alice: Headers, content_type: str
) -> None:
    response = await client.post(
        "/api/tasks", content=b'{"title": "x"}', headers={**alice, "Content-Type": content_type}
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    "body", [b"{not json", b"[1, 2]", b'"title"', b"null", b"42", b'{"title": "\xff\xfe"}']
)
async def test_body_that_is_not_a_json_object_is_422(
    client: httpx.AsyncClient, alice: Headers, body: bytes
) -> None:
    response = await client.post(
        "/api/tasks", content=body, headers={**alice, "Content-Type": "application/json"}
    )

    assert response.status_code == 422
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 422
    assert problem["errors"]
    assert all(set(issue) == {"loc", "msg"} for issue in problem["errors"])


async def test_validation_errors_do_not_echo_the_input(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    secret_looking = "sk_live_" + "z" * 300

    response = await client.post("/api/tasks", json={"title": secret_looking}, headers=alice)

    assert response.status_code == 422
    assert secret_looking not in response.text


async def test_unknown_route_is_404_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Not Found"


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient, alice: Headers) -> None:
    response = await client.delete("/api/tasks", headers=alice)

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


async def test_api_responses_are_uncacheable_and_nosniff(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    for response in (
        await client.get("/api/tasks", headers=alice),
        await client.get("/api/tasks"),
        await client.get("/api/tasks/999", headers=alice),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


class TestCors:
    async def test_preflight_from_the_frontend_allows_authorization(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.options(
            "/api/tasks",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )

        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()

    async def test_paging_and_location_headers_are_exposed(
        self, client: httpx.AsyncClient, alice: Headers
    ) -> None:
        response = await client.get(
            "/api/tasks", headers={**alice, "Origin": "http://localhost:3000"}
        )

        exposed = {
            h.strip().lower() for h in response.headers["Access-Control-Expose-Headers"].split(",")
        }
        assert {"link", "x-total-count", "location"} <= exposed
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"

    async def test_other_origins_get_no_cors_grant(
        self, client: httpx.AsyncClient, alice: Headers
    ) -> None:
        response = await client.get(
            "/api/tasks", headers={**alice, "Origin": "https://evil.example"}
        )

        assert "Access-Control-Allow-Origin" not in response.headers

    async def test_credentialed_calls_from_a_listed_origin_are_allowed(
        self, app: FastAPI, alice: Headers
    ) -> None:
        # What a browser sends for `fetch(url, {credentials: "include"})` from the frontend,
        # over a real socket: the preflight, then the call with the cookie it carries.
        origin = {"Origin": "http://localhost:3000"}
        async with live_server(app) as base, httpx.AsyncClient(base_url=base) as browser:
            preflight = await browser.options(
                "/api/v1/tasks",
                headers={
                    **origin,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization,content-type",
                },
            )
            call = await browser.post(
                "/api/v1/tasks",
                json={"title": "From the browser"},
                headers={**alice, **origin, "Cookie": "better-auth.session_token=opaque"},
            )

        for response in (preflight, call):
            assert response.headers["Access-Control-Allow-Origin"] == origin["Origin"]
            assert response.headers["Access-Control-Allow-Credentials"] == "true"
        assert preflight.status_code == 200
        assert call.status_code == 201
        assert "origin" in call.headers["Vary"].lower()

    async def test_a_wildcard_origin_never_allows_credentials(
        self, database_url: str, alice: Headers
    ) -> None:
        origin = {"Origin": "https://anyone.example"}
        async with client_with(database_url, cors_origins=["*"]) as client:
            preflight = await client.options(
                "/api/tasks", headers={**origin, "Access-Control-Request-Method": "GET"}
            )
            call = await client.get("/api/tasks", headers={**alice, **origin})

        for response in (preflight, call):
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert "Access-Control-Allow-Credentials" not in response.headers

    async def test_errors_carry_cors_headers_too(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/tasks", headers={"Origin": "http://localhost:3000"})

        assert response.status_code == 401
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"


async def test_request_headers_are_capped_in_total(
    client: httpx.AsyncClient, alice: Headers
) -> None:
    padding = {f"X-Pad-{i}": "p" * 1000 for i in range(17)}

    response = await client.get("/api/tasks", headers={**alice, **padding})

    assert response.status_code == 431
    assert response.headers["content-type"] == "application/problem+json"


async def test_headers_under_the_caps_pass(client: httpx.AsyncClient, alice: Headers) -> None:
    padding = {f"X-Pad-{i}": "p" * 1000 for i in range(10)}

    response = await client.get("/api/tasks", headers={**alice, **padding})

    assert response.status_code == 200
