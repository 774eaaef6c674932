"""Where requests get a database connection, and the object they run statements through.

On PostgreSQL requests take connections from asyncpg's own pool and run the repositories'
statements on them: SQLAlchemy Core statements compiled once per process
(`core.sql.compile_for`), prepared once per connection by asyncpg's statement cache. A
statement is one round trip, with none of SQLAlchemy's per-execution work and no greenlet
hop on checkout. On SQLite (development) the SQLAlchemy engine serves, as usual.
"""

from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from todo_api.core.config import Settings
from todo_api.core.db import ConnectionSlots, driver_arguments
from todo_api.core.sql import Compiled, compile_for


class Database:
    """What repositories run statements through: one connection, or the pool (`autocommit`)."""

    __slots__ = ("dialect",)
    dialect: str

    async def fetch(self, statement: Executable, params: dict[str, Any]) -> Sequence[Any]:
        raise NotImplementedError

    async def fetchrow(self, statement: Executable, params: dict[str, Any]) -> Any | None:
        raise NotImplementedError

    async def execute(self, statement: Executable, params: dict[str, Any]) -> None:
        raise NotImplementedError

    async def fetchval(self, statement: Executable, params: dict[str, Any]) -> Any:
        row = await self.fetchrow(statement, params)
        return None if row is None else row[0]

    def transaction(self) -> AbstractAsyncContextManager["Database"]:
        """Statements that must see and write one state together (read under a lock, then
        write): a transaction, or the one this already is."""
        raise NotImplementedError


class Connection(Database):
    """Statements on one connection: asyncpg's on PostgreSQL, SQLAlchemy's elsewhere."""

    __slots__ = ("_dialect", "connection", "driver")

    def __init__(
        self,
        dialect: Dialect,
        *,
        driver: Any = None,
        connection: AsyncConnection | None = None,
    ) -> None:
        self._dialect = dialect
        self.dialect = dialect.name
        self.driver = driver  # an asyncpg connection, on PostgreSQL
        self.connection = connection  # a SQLAlchemy connection, elsewhere

    def transaction(self) -> AbstractAsyncContextManager[Database]:
        # Services are handed a connection only inside a transaction (`TransactionDep`, or
        # every checkout behind a transaction-mode pooler).
        return nullcontext(self)

    def _compiled(self, statement: Executable) -> Compiled:
        key = (self.dialect, statement)
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = _COMPILED[key] = compile_for(statement, self._dialect)
        return compiled

    async def fetch(self, statement: Executable, params: dict[str, Any]) -> Sequence[Any]:
        if self.connection is not None:
            return (await self.connection.execute(statement, params)).all()
        compiled = self._compiled(statement)
        rows: Sequence[Any] = await self.driver.fetch(compiled.sql, *compiled.arguments(params))
        return rows

    async def fetchrow(self, statement: Executable, params: dict[str, Any]) -> Any | None:
        if self.connection is not None:
            return (await self.connection.execute(statement, params)).first()
        compiled = self._compiled(statement)
        return await self.driver.fetchrow(compiled.sql, *compiled.arguments(params))

    async def execute(self, statement: Executable, params: dict[str, Any]) -> None:
        if self.connection is not None:
            await self.connection.execute(statement, params)
            return
        compiled = self._compiled(statement)
        await self.driver.execute(compiled.sql, *compiled.arguments(params))


class Autocommit(Database):
    """Each statement on a connection checked out for it alone, and committed on its own.

    A request whose statements need no common transaction (most run one) holds a connection
    only while a statement runs, and leaves nothing to clean up when it ends: its dependency
    is a plain function, not a generator (FastAPI's cleanup of which costs more than the
    statement's own checkout).
    """

    __slots__ = ("_pool",)

    def __init__(self, pool: "DatabasePool") -> None:
        self._pool = pool
        self.dialect = pool.dialect

    async def fetch(self, statement: Executable, params: dict[str, Any]) -> Sequence[Any]:
        async with self._pool.connection() as connection:
            return await connection.fetch(statement, params)

    async def fetchrow(self, statement: Executable, params: dict[str, Any]) -> Any | None:
        async with self._pool.connection() as connection:
            return await connection.fetchrow(statement, params)

    async def execute(self, statement: Executable, params: dict[str, Any]) -> None:
        async with self._pool.connection() as connection:
            await connection.execute(statement, params)

    def transaction(self) -> AbstractAsyncContextManager[Database]:
        return self._pool.transaction()


# Statements are module constants (or built once per listing shape), so this stays small.
_COMPILED: dict[tuple[str, Executable], Compiled] = {}


class DatabasePool:
    """Hands out connections: asyncpg's pool on PostgreSQL, the SQLAlchemy engine elsewhere.

    Requests queue for a connection first come, first served (`ConnectionSlots`); only
    `/ready` goes straight to the pool, so a saturated worker still answers its probe.
    """

    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.slots = ConnectionSlots(settings)
        self._settings = settings
        self._pool: Any = None
        self.autocommit = Autocommit(self)

    async def open(self) -> None:
        if self.dialect != "postgresql":
            return
        settings = self._settings
        dsn, connect_args = driver_arguments(settings)
        self._pool = await asyncpg.create_pool(
            dsn,
            # Connections are made as requests need them (none at start-up, so a database
            # that is down does not stop the API from starting) and kept while in use.
            min_size=0,
            max_size=settings.database_pool_size + settings.database_max_overflow,
            max_inactive_connection_lifetime=settings.database_pool_recycle,
            setup=_ping if settings.database_pre_ping else None,
            reset=_nothing_to_reset,
            **connect_args,
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
        await self.engine.dispose()

    def connection(self, *, queued: bool = True) -> AbstractAsyncContextManager[Connection]:
        """A connection whose statements each commit on their own (autocommit).

        Behind a transaction-mode pooler it is one transaction all the same: the pooler keeps
        a client on one server connection only while a transaction is open, and asyncpg may
        need several exchanges for one statement (to look up a type it has no codec for it
        turns JIT off with a session-wide set_config around the lookup; outside a
        transaction the two may reach different server connections, and JIT stays off for
        another client).
        """
        if self._settings.transaction_pooled:
            return self.transaction(queued=queued)
        return self._checkout(queued)

    @asynccontextmanager
    async def transaction(self, *, queued: bool = True) -> AsyncIterator[Connection]:
        """One transaction: committed on exit, rolled back if the block raises."""
        async with self._checkout(queued) as database:
            if database.driver is not None:
                async with database.driver.transaction():  # READ COMMITTED, the default
                    yield database
                return
            connection = database.connection
            assert connection is not None
            # SQLite has no row locks: BEGIN IMMEDIATE takes the database's write lock before
            # the transaction reads, so a read-check-write (what FOR UPDATE guards on
            # PostgreSQL) is one step here too. A deferred BEGIN (or the driver's own, at the
            # first write) would let two writers read the same state.
            await connection.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield database
            except BaseException:
                await connection.exec_driver_sql("ROLLBACK")
                raise
            await connection.exec_driver_sql("COMMIT")

    @asynccontextmanager
    async def _checkout(self, queued: bool) -> AsyncIterator[Connection]:
        async with self.slots if queued else nullcontext():
            if self._pool is None:
                assert self.dialect != "postgresql", "DatabasePool.open() was not awaited"
                async with self.engine.connect() as connection:
                    yield Connection(self.engine.dialect, connection=connection)
            else:
                # No timeout here: a queued request holds a slot, so a connection is free for
                # it (only /ready comes unqueued, within its own timeout).
                async with self._pool.acquire() as driver:
                    yield Connection(self.engine.dialect, driver=driver)


async def _ping(connection: Any) -> None:
    # DATABASE_PRE_PING: a round trip before each use, for networks where a connection can
    # die without its socket closing. A closed socket is noticed by the pool without one.
    await connection.execute("SELECT 1")


async def _nothing_to_reset(_connection: Any) -> None:
    # The API leaves no session state behind (its advisory locks are transaction-scoped; it
    # sets nothing, listens to nothing, keeps no cursors), so the reset query asyncpg runs by
    # default on every release would be a round trip for nothing. An open transaction is
    # still rolled back: asyncpg does that before calling this.
    return None
