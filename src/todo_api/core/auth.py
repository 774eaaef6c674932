"""Bearer-token authentication: Better Auth JWTs, HMAC-signed or verified against its JWKS."""

import asyncio
import logging
import time
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from todo_api.core.config import Settings
from todo_api.core.errors import AppError, ServiceUnavailable

logger = logging.getLogger("todo_api.auth")

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
# What Better Auth's jwt plugin can sign with; each key type admits only its own family.
_KEY_ALGORITHMS: Mapping[tuple[str, str | None], frozenset[str]] = {
    ("OKP", "Ed25519"): frozenset({"EdDSA"}),
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("RSA", None): frozenset({"RS256", "PS256"}),
}
ASYMMETRIC_ALGORITHMS = frozenset().union(*_KEY_ALGORITHMS.values())
USER_ID_CLAIMS = ("sub", "user_id", "userId", "id")
VERIFIED_CACHE_SIZE = 10_000
MAX_USER_ID_LENGTH = 255
LEEWAY_SECONDS = 30
# A token with an unknown `kid` refetches the key set at most this often.
MIN_REFETCH_SECONDS = 5.0


class MissingCredentials(AppError):
    status = 401
    detail = "Authorization: Bearer <token> is required"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": "Bearer"})


class InvalidToken(AppError):
    status = 401
    detail = "Token is invalid"

    def __init__(self, detail: str) -> None:
        # RFC 6750 section 3: the error code tells clients to get a new token, not to retry.
        super().__init__(
            detail,
            headers={
                "WWW-Authenticate": f'Bearer error="invalid_token", error_description="{detail}"'
            },
        )


class PathUserMismatch(AppError):
    status = 403
    detail = "The user id in the path is not the token's user"


class KeySetUnavailable(ServiceUnavailable):
    detail = "The token signing keys cannot be fetched right now; retry shortly"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    user_id: str


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key: Any
    algorithms: frozenset[str]


def _parse_jwk(jwk: Mapping[str, Any]) -> tuple[str | None, VerificationKey] | None:
    if jwk.get("use", "sig") != "sig":
        return None
    kty, crv = str(jwk.get("kty")), jwk.get("crv")
    allowed = _KEY_ALGORITHMS.get((kty, None if kty == "RSA" else str(crv)), frozenset())
    if "alg" in jwk:
        allowed &= {jwk["alg"]}
    if not allowed:
        return None
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=min(allowed)).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
        logger.warning("ignoring an unusable key in the key set (kid=%r)", jwk.get("kid"))
        return None
    kid = jwk.get("kid")
    return (kid if isinstance(kid, str) else None), VerificationKey(key, allowed)


class KeySet:
    """A JWKS fetched over HTTP without blocking the event loop, cached, refetched on rotation."""

    def __init__(self, url: str, client: httpx.AsyncClient, *, max_age: float, timeout: float):
        self.url = url
        self._client = client
        self._max_age = max_age
        self._timeout = timeout
        self._keys: list[tuple[str | None, VerificationKey]] | None = None
        self._fetched_at = 0.0
        self._quiet_until = 0.0
        # Bumped on every fetch: tokens verified against an older key set are checked again.
        self.generation = 0
        self._last_fetch_failed = False
        self._lock = asyncio.Lock()

    async def keys_for(self, kid: str | None, algorithm: str) -> list[VerificationKey]:
        if not self._satisfies(kid):
            await self._refresh(kid)
        if self._keys is None or (self._last_fetch_failed and kid and not self._has(kid)):
            raise KeySetUnavailable
        return [
            key
            for key_id, key in self._keys
            if algorithm in key.algorithms and (kid is None or key_id == kid)
        ]

    def _satisfies(self, kid: str | None) -> bool:
        fresh = time.monotonic() - self._fetched_at <= self._max_age
        return self._keys is not None and fresh and (kid is None or self._has(kid))

    def _has(self, kid: str) -> bool:
        return any(key_id == kid for key_id, _ in self._keys or ())

    async def _refresh(self, kid: str | None) -> None:
        # Concurrent callers queue on the lock; a caller whose need the fetch before it met
        # returns at once, so one rotation costs one fetch however many requests carry it.
        async with self._lock:
            if self._satisfies(kid) or time.monotonic() < self._quiet_until:
                return
            first_load = self._keys is None
            try:
                response = await self._client.get(self.url, timeout=self._timeout)
                response.raise_for_status()
                document = response.json()
                keys = [parsed for jwk in document["keys"] if (parsed := _parse_jwk(jwk))]
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
                logger.warning("cannot fetch the key set from %s: %s", self.url, error)
                self._last_fetch_failed = True
                self._quiet_until = time.monotonic() + MIN_REFETCH_SECONDS
                return
            self._keys = keys
            self.generation += 1
            self._fetched_at = time.monotonic()
            self._last_fetch_failed = False
            # The first load may be followed at once by a rotation; refetches are rationed.
            self._quiet_until = 0.0 if first_load else self._fetched_at + MIN_REFETCH_SECONDS


class TokenVerifier:
    def __init__(self, settings: Settings, client: httpx.AsyncClient):
        secret = settings.better_auth_secret
        self._secret = secret.get_secret_value().encode() if secret else None
        jwks_url = settings.jwks_url
        self._key_set = (
            KeySet(
                jwks_url,
                client,
                max_age=settings.jwks_cache_seconds,
                timeout=settings.jwks_fetch_timeout,
            )
            if jwks_url
            else None
        )
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        # Better Auth sets both `iss` and `aud` to its base URL unless configured otherwise.
        self._jwks_default = settings.better_auth_url
        # A frontend sends the same token for its whole 15-minute life: verify it once, and
        # again only when it expires or the key set it was verified against is replaced (a
        # key Better Auth no longer publishes must stop working).
        self._verified: dict[str, tuple[Principal, float, int | None]] = {}

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires, generation = cached
            current = self._key_set.generation if self._key_set else None
            if time.time() <= expires and (generation is None or generation == current):
                return principal
            del self._verified[token]
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise InvalidToken("Token is malformed") from None
        algorithm = header.get("alg")
        if algorithm in HMAC_ALGORITHMS:
            if self._secret is None:
                raise InvalidToken("HMAC-signed tokens are not accepted")
            keys: list[Any] = [self._secret]
            issuer, audience = self._issuer, self._audience
            generation = None
        elif algorithm in ASYMMETRIC_ALGORITHMS:
            if self._key_set is None:
                raise InvalidToken("Asymmetric tokens are not accepted: no key set is configured")
            kid = header.get("kid")
            found = await self._key_set.keys_for(kid if isinstance(kid, str) else None, algorithm)
            if not found:
                raise InvalidToken("Token is signed with an unknown key")
            keys = [entry.key for entry in found]
            generation = self._key_set.generation
            issuer = self._issuer or self._jwks_default
            audience = self._audience or self._jwks_default
        else:
            raise InvalidToken("Token algorithm is not accepted")
        claims = _decode(token, keys, algorithm)
        _check_claim(claims, "iss", issuer)
        _check_claim(claims, "aud", audience)
        principal = Principal(user_id=_user_id(claims))
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]  # the oldest entry
        self._verified[token] = (principal, float(claims["exp"]) + LEEWAY_SECONDS, generation)
        return principal


def _decode(token: str, keys: list[Any], algorithm: str) -> dict[str, Any]:
    for key in keys:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp"], "verify_aud": False, "verify_iss": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise InvalidToken("Token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("Token is not valid yet") from None
        except jwt.MissingRequiredClaimError:
            raise InvalidToken("Token has no expiry (exp)") from None
        except jwt.InvalidTokenError:
            raise InvalidToken("Token is malformed") from None
        return claims
    raise InvalidToken("Token signature is invalid")


def _check_claim(claims: Mapping[str, Any], name: str, expected: str | None) -> None:
    if expected is None:
        return
    value = claims.get(name)
    values = value if isinstance(value, list) else [value]
    wanted = expected.rstrip("/")
    if not any(isinstance(v, str) and v.rstrip("/") == wanted for v in values):
        label = "issuer" if name == "iss" else "audience"
        raise InvalidToken(f"Token {label} is not accepted")


def _user_id(claims: Mapping[str, Any]) -> str:
    value: object = None
    for claim in USER_ID_CLAIMS:
        if claims.get(claim) is not None:
            value = claims[claim]
            break
    else:
        user = claims.get("user")
        if isinstance(user, Mapping):
            value = user.get("id")
    if (
        not isinstance(value, str)
        or not value
        or len(value) > MAX_USER_ID_LENGTH
        # Control characters (NUL among them: PostgreSQL text cannot hold it) and unpaired
        # surrogates (no UTF-8 form) could never be stored as an owner.
        or any(unicodedata.category(char) in _UNSTORABLE for char in value)
    ):
        raise InvalidToken("Token carries no valid user id")
    return value


_UNSTORABLE = frozenset({"Cc", "Cs"})
