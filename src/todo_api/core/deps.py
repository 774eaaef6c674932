"""The dependencies routes declare: the app's runtime, the caller, their rate limit, and a
database connection (autocommit or one transaction)."""

import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param

from todo_api.core.auth import InvalidToken, MissingCredentials, PathUserMismatch, Principal
from todo_api.core.connections import Database
from todo_api.core.http import RATE_LIMIT_HEADERS
from todo_api.core.state import Runtime

logger = logging.getLogger("todo_api.auth")


def runtime_of(request: Request) -> Runtime:
    """The app's runtime, set once by `create_app`."""
    built: Runtime = request.app.state.runtime
    return built


async def runtime(request: Request) -> Runtime:
    # A coroutine: FastAPI runs a plain function dependency in a worker thread.
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(runtime)]


class BearerAuthentication(SecurityBase):
    """The caller, from `Authorization: Bearer <token>`, in a single dependency.

    OpenAPI documents it as the HTTP bearer scheme, as FastAPI's HTTPBearer would be; used as
    a sub-dependency, HTTPBearer cost a second dependency resolution on every request.
    """

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            description="A Better Auth JWT: HS256/384/512 with BETTER_AUTH_SECRET, "
            "or its JWKS keys."
        )
        self.scheme_name = "HTTPBearer"

    async def __call__(self, request: Request) -> Principal:
        app = runtime_of(request)
        scheme, token = get_authorization_scheme_param(request.headers.get("Authorization"))
        try:
            if scheme.lower() != "bearer" or not token:
                raise MissingCredentials
            principal = await app.verifier.verify(token)
        except (MissingCredentials, InvalidToken) as error:
            address = request.client.host if request.client else "unknown"
            logger.warning(
                "authentication failed: %s",
                error.message,
                extra={"event": "auth_failed", "client": address},
            )
            # Guessing tokens costs the guesser: failures are budgeted per client address.
            if app.rate_limiter is not None:
                await app.rate_limiter.charge_anonymous(address)
            raise
        request.state.user_id = principal.user_id  # for the access log
        return principal


authenticate = BearerAuthentication()
Authenticated = Annotated[Principal, Depends(authenticate)]


async def rate_limited(request: Request, user: Authenticated) -> Principal:
    """The caller, counted against their budget: 429 when it is spent; otherwise the
    remaining budget goes out in the RateLimit headers of whatever the response is (a 304 or
    an error too), which the edge middleware adds."""
    limiter = runtime_of(request).rate_limiter
    if limiter is not None and (quota := await limiter.charge_user(user.user_id)):
        request.scope["state"][RATE_LIMIT_HEADERS] = quota.headers
    return user


# Every route that knows its caller counts them: authenticated first (401), then counted (429).
CurrentUser = Annotated[Principal, Depends(rate_limited)]


async def require_path_user(user_id: str, user: CurrentUser) -> None:
    """For the `/api/{user_id}/tasks` compatibility paths: the path must name the caller."""
    if user_id != user.user_id:
        logger.warning(
            "user %s used the path of user %s",
            user.user_id,
            user_id,
            extra={"event": "path_user_mismatch", "user_id": user.user_id},
        )
        raise PathUserMismatch


async def get_database(request: Request) -> Database:
    """For routes whose statements each stand alone (reads, single-statement writes): each
    runs on a connection of its own and commits on its own. Skipping BEGIN and COMMIT saves
    two round trips on every such request; a statement is atomic either way."""
    return runtime_of(request).pool.autocommit


async def get_transaction(request: Request) -> AsyncIterator[Database]:
    """For routes that write with several statements: one transaction, committed when the
    route returns and rolled back if it raises. Services never commit."""
    async with runtime_of(request).pool.transaction() as database:
        yield database


DatabaseDep = Annotated[Database, Depends(get_database)]
# scope="function": commit before the response is sent, so a failed commit is never a 2xx.
TransactionDep = Annotated[Database, Depends(get_transaction, scope="function")]
