"""The token matrix: what gets in, what gets a 401, and what gets a 503."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import anyio
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import SECRET, client_with, make_token
from tests.core.conftest import JwksServer, new_key


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/me", headers=auth(token))


def assert_invalid_token(response: httpx.Response, detail_part: str = "") -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.headers["content-type"] == "application/problem+json"
    assert detail_part.lower() in response.json()["detail"].lower()


class TestMissingAndMalformed:
    async def test_missing_header_is_401_with_a_bare_bearer_challenge(
        self, client: httpx.AsyncClient
    ) -> None:
        for path in ("/api/tasks", "/api/me", "/api/tasks/1"):
            response = await client.get(path)
            assert response.status_code == 401
            assert response.headers["WWW-Authenticate"] == "Bearer"

    async def test_another_scheme_counts_as_missing(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/me", headers={"Authorization": "Basic YWxpY2U6cHc="})

        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"

    @pytest.mark.parametrize("token", ["abc", "a.b.c", "a.b", "Zm9v.YmFy.YmF6", "..."])
    async def test_malformed_token_is_invalid_token(
        self, client: httpx.AsyncClient, token: str
    ) -> None:
        assert_invalid_token(await me(client, token))

    async def test_oversized_authorization_is_refused_before_verification(
        self, client: httpx.AsyncClient
    ) -> None:
        token = make_token("alice", padding="x" * 9000)

        response = await me(client, token)

        assert response.status_code == 431
        assert response.headers["content-type"] == "application/problem+json"

    async def test_detail_never_echoes_the_token(self, client: httpx.AsyncClient) -> None:
        token = make_token("alice", key="another-secret-another-secret-another-secret")

        response = await me(client, token)

        assert token not in response.text
        assert token.split(".")[1] not in response.headers["WWW-Authenticate"]


class TestHmacTokens:
    async def test_valid_token_identifies_the_user(self, client: httpx.AsyncClient) -> None:
        response = await me(client, make_token("alice"))

        assert response.status_code == 200
        assert response.json()["user_id"] == "alice"

    @pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
    async def test_each_hmac_size_is_accepted(
        self, client: httpx.AsyncClient, algorithm: str
    ) -> None:
        key = SECRET * 2  # long enough for HS512 without a short-key warning
        async with client_with(client_url(client), better_auth_secret=key) as other:
            response = await me(other, make_token("alice", key=key, algorithm=algorithm))
        assert response.status_code == 200

    async def test_wrong_secret_is_a_bad_signature(self, client: httpx.AsyncClient) -> None:
        token = make_token("alice", key="not-the-secret-not-the-secret-not-the-secret")

        assert_invalid_token(await me(client, token), "signature")

    # Offsets from the moment the token is minted: times taken at collection go stale during
    # a long run (a "future" nbf is in the past by the time the test runs).
    @pytest.mark.parametrize(
        ("offsets", "detail"),
        [
            ({"exp": -31 - 60}, "expired"),
            ({"exp": None}, "exp"),
            ({"nbf": 120}, "not valid yet"),
            ({"iat": 120}, "not valid yet"),
        ],
    )
    async def test_time_claims_are_enforced(
        self, client: httpx.AsyncClient, offsets: dict[str, int | None], detail: str
    ) -> None:
        now = int(time.time())
        claims: dict[str, Any] = {k: None if s is None else now + s for k, s in offsets.items()}

        assert_invalid_token(await me(client, make_token("alice", **claims)), detail)

    async def test_thirty_seconds_of_clock_skew_are_tolerated(
        self, client: httpx.AsyncClient
    ) -> None:
        now = int(time.time())
        token = make_token("alice", exp=now - 10, nbf=now + 10, iat=now + 10)

        assert (await me(client, token)).status_code == 200

    async def test_alg_none_is_refused(self, client: httpx.AsyncClient) -> None:
        header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
        body = (
            base64.urlsafe_b64encode(
                json.dumps({"sub": "alice", "exp": int(time.time()) + 600}).encode()
            )
            .rstrip(b"=")
            .decode()
        )

        assert_invalid_token(await me(client, f"{header}.{body}."), "algorithm")

    async def test_asymmetric_token_without_a_key_set_is_401(
        self, client: httpx.AsyncClient
    ) -> None:
        key = new_key("RS256")

        assert_invalid_token(
            await me(client, key.sign({"sub": "alice", "exp": int(time.time()) + 600})),
            "no key set",
        )

    async def test_iss_and_aud_are_ignored_when_not_configured(
        self, client: httpx.AsyncClient
    ) -> None:
        token = make_token("alice", iss="https://anything.example", aud=["x", "y"])

        assert (await me(client, token)).status_code == 200

    async def test_configured_issuer_and_audience_are_enforced(
        self, client: httpx.AsyncClient
    ) -> None:
        url = client_url(client)
        async with client_with(
            url, jwt_issuer="https://auth.example/", jwt_audience="todo"
        ) as other:
            good = make_token("alice", iss="https://auth.example", aud=["web", "todo"])
            assert (await me(other, good)).status_code == 200
            assert_invalid_token(
                await me(other, make_token("alice", iss="https://evil.example", aud="todo")),
                "issuer",
            )
            assert_invalid_token(
                await me(other, make_token("alice", iss="https://auth.example", aud="web")),
                "audience",
            )
            assert_invalid_token(await me(other, make_token("alice", aud="todo")), "issuer")


class TestUserIdClaims:
    @pytest.mark.parametrize(
        "claims",
        [
            {"sub": "u1"},
            {"user_id": "u1"},
            {"userId": "u1"},
            {"id": "u1"},
            {"user": {"id": "u1", "email": "u1@example.com"}, "session": {"id": "s1"}},
            {"sub": "u1", "user_id": "other", "id": "other"},
            {"sub": None, "userId": "u1"},
        ],
    )
    async def test_user_id_comes_from_the_first_present_claim(
        self, client: httpx.AsyncClient, claims: dict[str, Any]
    ) -> None:
        response = await me(client, make_token(None, **claims))

        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == "u1"

    @pytest.mark.parametrize(
        "claims",
        [
            {},
            {"sub": ""},
            {"user_id": 42},
            {"sub": "x" * 256},
            {"user": {"id": 7}},
            {"user": "u1"},
            {"sub": 5},
            {"sub": "al\x00ice"},
            {"sub": "alice\n"},
            {"sub": "\x7f"},
            {"sub": "u\x85"},
            {"sub": "lone \ud800 surrogate"},
            {"user": {"id": "u\x00"}},
        ],
    )
    async def test_no_usable_user_id_is_401(
        self, client: httpx.AsyncClient, claims: dict[str, Any]
    ) -> None:
        assert_invalid_token(await me(client, make_token(None, **claims)))

    @pytest.mark.parametrize(("method", "path"), [("GET", "/api/tasks"), ("POST", "/api/tasks")])
    async def test_a_user_id_with_a_nul_is_401_on_every_route(
        self, client: httpx.AsyncClient, method: str, path: str
    ) -> None:
        token = make_token("al\x00ice")

        response = await client.request(method, path, json={"title": "x"}, headers=auth(token))

        assert_invalid_token(response)

    async def test_user_ids_in_any_script_are_accepted(self, client: httpx.AsyncClient) -> None:
        response = await me(client, make_token("ユーザー 🙂 \u00a0ü"))

        assert response.status_code == 200
        assert response.json()["user_id"] == "ユーザー 🙂 \u00a0ü"

    async def test_a_255_character_user_id_is_accepted(self, client: httpx.AsyncClient) -> None:
        response = await me(client, make_token("x" * 255))

        assert response.status_code == 200


def client_url(client: httpx.AsyncClient) -> str:
    """The database URL of the app behind `client`, for a second, differently configured app."""
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    url: str = transport.app.state.runtime.settings.database_url  # type: ignore[attr-defined]
    return url


def claims_for(issuer: str, user: str = "alice", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    # Exactly what Better Auth's jwt plugin puts in a token.
    return {
        "sub": user,
        "id": user,
        "email": f"{user}@example.com",
        "name": user.title(),
        "emailVerified": True,
        "iat": now,
        "exp": now + 900,
        "iss": issuer,
        "aud": issuer,
        **extra,
    }


class TestJwks:
    @pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "ES512", "RS256", "PS256"])
    async def test_better_auth_tokens_of_every_algorithm_are_accepted(
        self, client: httpx.AsyncClient, jwks: JwksServer, algorithm: str
    ) -> None:
        key = new_key(algorithm)
        jwks.publish(key)
        async with client_with(client_url(client), better_auth_url=jwks.base_url) as other:
            response = await me(other, key.sign(claims_for(jwks.base_url)))

        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == "alice"

    async def test_issuer_and_audience_default_to_better_auth_url(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        key = new_key("EdDSA")
        jwks.publish(key)
        async with client_with(client_url(client), better_auth_url=jwks.base_url + "/") as other:
            assert (await me(other, key.sign(claims_for(jwks.base_url + "/")))).status_code == 200
            wrong_iss = claims_for(jwks.base_url, iss="https://elsewhere.example")
            assert_invalid_token(await me(other, key.sign(wrong_iss)), "issuer")
            wrong_aud = claims_for(jwks.base_url, aud="https://elsewhere.example")
            assert_invalid_token(await me(other, key.sign(wrong_aud)), "audience")

    async def test_each_key_verifies_only_its_own_algorithm_family(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        ec_key, rsa_key = new_key("ES256"), new_key("RS256")
        jwks.publish(ec_key, rsa_key)
        claims = claims_for(jwks.base_url)
        pem = rsa_key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        async with client_with(
            client_url(client), better_auth_url=jwks.base_url, better_auth_secret=None
        ) as other:
            # An RS256 token naming the EC key: that key only ever verifies ES256.
            swapped = jwt.encode(
                claims, rsa_key.private, algorithm="RS256", headers={"kid": ec_key.kid}
            )
            assert_invalid_token(await me(other, swapped), "unknown key")
            # The classic confusion: HS256 "signed" with the public key as the HMAC secret.
            confused = jwt.encode(claims, SECRET, algorithm="HS256", headers={"kid": rsa_key.kid})
            confused = _resign_hmac(confused, pem)
            assert_invalid_token(await me(other, confused), "hmac")

    async def test_key_confusion_is_refused_even_with_a_secret_configured(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        rsa_key = new_key("RS256")
        jwks.publish(rsa_key)
        pem = rsa_key.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        token = _resign_hmac(make_token("alice", headers={"kid": rsa_key.kid}), pem)
        async with client_with(client_url(client), better_auth_url=jwks.base_url) as other:
            assert_invalid_token(await me(other, token), "signature")
            # And the secret never verifies an asymmetric token.
            forged = _with_header(make_token("alice"), {"alg": "RS256", "kid": rsa_key.kid})
            assert_invalid_token(await me(other, forged))

    async def test_rotation_to_a_new_kid_is_picked_up_with_one_shared_fetch(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        old, new = new_key("EdDSA"), new_key("EdDSA")
        jwks.publish(old)
        async with client_with(client_url(client), better_auth_url=jwks.base_url) as other:
            assert (await me(other, old.sign(claims_for(jwks.base_url)))).status_code == 200
            assert jwks.fetches == 1
            jwks.publish(old, new)
            jwks.delay = 0.2
            statuses: list[int] = []

            async def call() -> None:
                statuses.append((await me(other, new.sign(claims_for(jwks.base_url)))).status_code)

            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(call)

        assert statuses == [200] * 20
        assert jwks.fetches == 2, "concurrent requests with the new kid must share one refetch"

    async def test_unknown_kids_refetch_at_most_once_per_five_seconds(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        known = new_key("EdDSA")
        jwks.publish(known)
        async with client_with(client_url(client), better_auth_url=jwks.base_url) as other:
            await me(other, known.sign(claims_for(jwks.base_url)))
            for _ in range(5):
                stranger = new_key("EdDSA")
                assert_invalid_token(
                    await me(other, stranger.sign(claims_for(jwks.base_url))), "unknown key"
                )

        assert jwks.fetches == 2

    async def test_a_key_withdrawn_from_the_set_stops_its_cached_tokens(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        old, new = new_key("EdDSA"), new_key("EdDSA")
        jwks.publish(old)
        async with client_with(client_url(client), better_auth_url=jwks.base_url) as other:
            old_token = old.sign(claims_for(jwks.base_url))
            assert (await me(other, old_token)).status_code == 200
            # Better Auth restarts with a fresh key: the old one is no longer published.
            jwks.publish(new)
            assert (await me(other, new.sign(claims_for(jwks.base_url)))).status_code == 200

            assert_invalid_token(await me(other, old_token), "unknown key")

    async def test_token_from_another_better_auth_instance_is_401(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        ours, theirs = new_key("EdDSA", kid="same-kid"), new_key("EdDSA", kid="same-kid")
        jwks.publish(ours)
        async with client_with(client_url(client), better_auth_url=jwks.base_url) as other:
            assert_invalid_token(
                await me(other, theirs.sign(claims_for(jwks.base_url))), "signature"
            )

    async def test_unreachable_key_set_is_503_quickly(
        self, client: httpx.AsyncClient, free_tcp_port: int
    ) -> None:
        dead = f"http://127.0.0.1:{free_tcp_port}"
        key = new_key("EdDSA")
        async with client_with(client_url(client), better_auth_url=dead) as other:
            started = time.monotonic()
            first = await me(other, key.sign(claims_for(dead)))
            second = await me(other, key.sign(claims_for(dead)))
            elapsed = time.monotonic() - started

        for response in (first, second):
            assert response.status_code == 503
            assert response.headers["Retry-After"].isdigit()
            assert response.headers["content-type"] == "application/problem+json"
        assert elapsed < 5

    async def test_key_set_server_error_is_503_and_recovers(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        key = new_key("ES256")
        jwks.publish(key)
        jwks.status = 500
        async with client_with(
            client_url(client), better_auth_url=jwks.base_url, jwks_cache_seconds=0.01
        ) as other:
            assert (await me(other, key.sign(claims_for(jwks.base_url)))).status_code == 503
            jwks.status = 200
            await anyio.sleep(5.1)
            assert (await me(other, key.sign(claims_for(jwks.base_url)))).status_code == 200

    async def test_jwks_url_setting_overrides_the_default_path(
        self, client: httpx.AsyncClient, jwks: JwksServer
    ) -> None:
        key = new_key("PS256")
        jwks.publish(key)
        async with client_with(
            client_url(client),
            better_auth_jwks_url=f"{jwks.base_url}/api/auth/jwks",
            jwt_issuer="issuer-x",
            jwt_audience="aud-x",
        ) as other:
            token = key.sign(claims_for(jwks.base_url, iss="issuer-x", aud="aud-x"))
            assert (await me(other, token)).status_code == 200


def _with_header(token: str, header: dict[str, Any]) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([encoded, *token.split(".")[1:]])


def _resign_hmac(token: str, key: bytes) -> str:
    """Re-sign a token's header and body with HMAC-SHA256 under `key`, bypassing PyJWT's guard."""
    signing_input = ".".join(token.split(".")[:2]).encode()
    signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    return signing_input.decode() + "." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


class TestVerifiedTokenCache:
    async def test_a_cached_token_still_expires(self, client: httpx.AsyncClient) -> None:
        token = make_token("alice", exp=int(time.time()) - 28)

        first = await me(client, token)
        await anyio.sleep(2.5)
        later = await me(client, token)

        assert first.status_code == 200, "inside the 30 s leeway"
        assert_invalid_token(later, "expired")

    async def test_a_rejected_token_is_not_remembered_as_valid(
        self, client: httpx.AsyncClient
    ) -> None:
        forged = make_token("alice", key="not-the-secret-not-the-secret-not-the-secret")

        for _ in range(2):
            assert_invalid_token(await me(client, forged), "signature")
