"""Database URLs and engines, fair admission to the connection pool, and fault classification."""

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Table, event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from todo_api.core.config import Settings

# libpq's sslmode values map one to one onto asyncpg's `ssl` argument.
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
# Query parameters that only libpq understands; asyncpg rejects them as unknown arguments.
_LIBPQ_ONLY = {"sslmode", "channel_binding"}
# SQLSTATE classes that mean "the database is not there right now", not "your query is wrong":
# 08 connection exception, 53 insufficient resources, 57P operator intervention (shutdown,
# cannot connect now), 40 transaction rollback (serialization failure, deadlock).
_UNAVAILABLE_SQLSTATES = ("08", "53", "57P", "40")


def engine_arguments(settings: Settings) -> tuple[URL, dict[str, Any]]:
    """The SQLAlchemy URL and connect arguments for DATABASE_URL, Neon URLs included."""
    url = make_url(settings.sqlalchemy_url)
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite+aiosqlite"), {"timeout": 15}
    if url.drivername in {"postgres", "postgresql", "postgresql+asyncpg"}:
        url = url.set(drivername="postgresql+asyncpg")
    connect_args: dict[str, Any] = {
        "timeout": settings.database_connect_timeout,
        "command_timeout": settings.database_command_timeout,
    }
    sslmode = url.query.get("sslmode")
    if isinstance(sslmode, str) and sslmode in _SSL_MODES:
        connect_args["ssl"] = sslmode
    url = url.difference_update_query(_LIBPQ_ONLY)
    if settings.transaction_pooled:
        # A transaction-mode pooler gives each transaction whichever server connection is
        # free, and the next transaction on it may be another client's. So statements are
        # unnamed and uncached: asyncpg then sends each one's Parse again with its Bind and
        # Execute, and the next statement replaces it, so none is left on a server
        # connection. asyncpg closes a named one only later, when the client may already be
        # on another server connection, where the Close does nothing.
        url = url.update_query_dict({"prepared_statement_cache_size": "0"})
        connect_args["statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = _unnamed
    return url, connect_args


def driver_arguments(settings: Settings) -> tuple[str, dict[str, Any]]:
    """The DSN and connect arguments for asyncpg itself, from the same settings."""
    url, connect_args = engine_arguments(settings)
    # Only asyncpg's own arguments; the rest are for SQLAlchemy's asyncpg dialect.
    connect_args.pop("prepared_statement_name_func", None)
    url = url.difference_update_query(["prepared_statement_cache_size"])
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return dsn, connect_args


def _unnamed() -> str:
    return ""


def create_engine(settings: Settings) -> AsyncEngine:
    url, connect_args = engine_arguments(settings)
    if url.get_backend_name() == "sqlite":
        # A file gets a pool sized like PostgreSQL's, so ConnectionSlots matches it; an
        # in-memory database is one shared connection (StaticPool), which takes no sizes.
        in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
        pool: dict[str, Any] = (
            {}
            if in_memory
            else {
                "pool_size": settings.database_pool_size,
                "max_overflow": settings.database_max_overflow,
                "pool_timeout": settings.database_pool_timeout,
            }
        )
        engine = create_async_engine(
            url, connect_args=connect_args, isolation_level="AUTOCOMMIT", **pool
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # PostgreSQL requests take connections from asyncpg's own pool (core.connections): this
    # engine supplies the dialect statements are compiled for and serves the migrations, in
    # PostgreSQL's default transactional mode (a failed revision leaves nothing behind). It
    # keeps no connections of its own.
    return create_async_engine(url, connect_args=connect_args, poolclass=NullPool)


class ConnectionSlots:
    """First come, first served admission to the connection pool.

    asyncpg's pool lets a request that arrives just as a connection is returned take it ahead
    of the request that was woken for it, which goes back to the end of the line
    (asyncpg#1247; SQLAlchemy's pool has the same flaw, sqlalchemy#7679). Under load a few
    requests would then wait out the pool timeout while others barge past. Since Python 3.11
    an asyncio.Semaphore queues its waiters in order and lets no newcomer pass them. Requests
    and the background pruning take a slot before a connection, one slot per pooled
    connection, so they wait here, in order.
    Only /ready goes straight to the pool, so that a saturated worker still answers its probe
    (within its own timeout); a request may then briefly wait in the pool behind it.
    """

    def __init__(self, settings: Settings):
        self._slots = asyncio.Semaphore(
            settings.database_pool_size + settings.database_max_overflow
        )
        self._timeout = settings.database_pool_timeout

    async def __aenter__(self) -> None:
        if not self._slots.locked():  # the common case needs no timer
            await self._slots.acquire()
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._slots.acquire()
        except TimeoutError:
            # The pool's own error for the same condition, so it is answered the same way.
            raise exc.TimeoutError(
                f"no database connection became free within {self._timeout:g} s"
            ) from None

    async def __aexit__(self, *_: object) -> None:
        self._slots.release()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked per connection.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def upsert(dialect: str, table: Table) -> postgresql.Insert | sqlite.Insert:
    """INSERT with ON CONFLICT support, for the named dialect (`connection.dialect.name`)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def is_unavailable(error: BaseException) -> bool:
    """True when an error means the database cannot be reached, so a retry may succeed."""
    if isinstance(error, exc.TimeoutError | OSError | asyncio.TimeoutError):
        return True
    if isinstance(error, exc.DBAPIError):
        if error.connection_invalidated or isinstance(
            error, exc.OperationalError | exc.InterfaceError
        ):
            return True
        cause = error.orig.__cause__ if error.orig is not None else None
        sqlstate = getattr(error.orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
        return isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES)
    # Statements run on the asyncpg connection itself (Database) raise asyncpg's own errors.
    if isinstance(error, asyncpg.PostgresError):
        return str(error.sqlstate).startswith(_UNAVAILABLE_SQLSTATES)
    # A connection left mid-exchange by a failure (its protocol state), or one used after it
    # closed; asyncpg says the latter only in its message. Other interface errors are bugs.
    if isinstance(error, asyncpg.InternalClientError):
        return True
    return isinstance(error, asyncpg.InterfaceError) and any(
        sign in str(error) for sign in _CLOSED_SIGNS
    )


# What asyncpg's InterfaceError says of a connection or pool that is closed or closing.
_CLOSED_SIGNS = (
    "connection is closed",
    "connection was closed",
    "pool is closing",
    "pool is closed",
)


# What statements on the driver connection raise, for the error handlers to classify.
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
