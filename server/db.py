"""The asyncpg pool every part of the process shares, with every wait on Postgres bounded.

A stopped or frozen Postgres must turn into an error within a known time, not a request
that hangs: so acquiring (and returning) a connection has a default timeout, each query a
client-side timeout (after which asyncpg cancels it and, failing that, drops the
connection), and each session server-side `statement_timeout`, `lock_timeout` and
`idle_in_transaction_session_timeout`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import asyncpg
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

if TYPE_CHECKING:
    from server.config import Settings

# A connection, whether taken from a pool or opened directly.
DbConn = asyncpg.Connection | PoolConnectionProxy


@dataclass(frozen=True, slots=True)
class DbBounds:
    """How long anything may wait on Postgres; the defaults match server/config.py."""

    acquire_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    command_timeout_s: float = 15.0
    statement_timeout_ms: int = 10_000
    lock_timeout_ms: int = 5_000
    idle_in_transaction_timeout_ms: int = 30_000

    @classmethod
    def from_settings(cls, s: Settings) -> DbBounds:
        return cls(s.db_acquire_timeout_s, s.db_connect_timeout_s, s.db_command_timeout_s,
                   s.db_statement_timeout_ms, s.db_lock_timeout_ms,
                   s.db_idle_in_transaction_timeout_ms)

    def server_settings(self) -> dict[str, str]:
        return {
            "statement_timeout": str(self.statement_timeout_ms),
            "lock_timeout": str(self.lock_timeout_ms),
            "idle_in_transaction_session_timeout": str(self.idle_in_transaction_timeout_ms),
        }


class BoundedPool(asyncpg.Pool):
    """An asyncpg pool whose `acquire()` (used by `fetch`, `execute`, ... too) has a default
    timeout. asyncpg's own default is to wait forever, and a release waits as long as the
    acquire was allowed to."""

    def __init__(self, *args: Any, acquire_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        return super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout)


async def _init_connection(conn: asyncpg.Connection) -> None:
    for typename in ("json", "jsonb"):
        await conn.set_type_codec(
            typename, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Returning a connection to the pool costs no round trip.

    asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release: one more round trip (and, on a busy machine, two more
    context switches) for each `pool.fetch` and each transaction. Nothing in this server
    leaves session state on a pooled connection: no session `SET`, `LISTEN`, cursor held
    past its transaction, or session advisory lock (settlements use transaction-scoped
    locks; the migration lock is released in its own `finally`). asyncpg still rolls back
    a transaction left open (e.g. by a cancellation) before this runs.
    """


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 16, bounds: DbBounds | None = None
) -> asyncpg.Pool:
    """A pool whose connections decode json/jsonb to Python values and never wait unbounded."""
    bounds = bounds or DbBounds()
    pool = BoundedPool(
        dsn, min_size=min_size, max_size=max_size, max_queries=50_000,
        max_inactive_connection_lifetime=300.0, connect=None, setup=None,
        init=_init_connection, reset=_keep_session, loop=None, connection_class=asyncpg.Connection,
        record_class=asyncpg.Record, acquire_timeout_s=bounds.acquire_timeout_s,
        command_timeout=bounds.command_timeout_s, timeout=bounds.connect_timeout_s,
        server_settings=bounds.server_settings(),
    )
    await pool
    return pool
