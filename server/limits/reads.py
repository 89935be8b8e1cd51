"""Standing reads shared by the players who ask at the same moment (one query, not one each).

Every queue join and quick bet reads the player's standing (limits, exclusion,
suspension) before their stake is held. Read one by one, a wave of a thousand joins
took a thousand pooled connections in turn and queued behind each other for them;
here the reads waiting at a moment go in one query (`unnest` of their ids).

A read is never older than the call that asked for it: a request joins the next
query to start, never one already sent, so a limit lowered or a suspension set
before the call is always seen.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import asyncpg

from ledger.group_commit import Coalescer

MAX_READ_USERS: Final = 500  # players per query
MAX_QUEUED_READS: Final = 100_000  # waiting callers; beyond it they wait for room
MAX_READS_IN_FLIGHT: Final = 4

# The limits row (NULLs when there is none) and the suspension of each asked-for player,
# in one round trip (`service.standing` asks it for one player).
STANDING_MANY_SQL: Final = (
    "SELECT u.id AS asked_id, l.*, l.user_id IS NOT NULL AS has_limits,"
    " s.reason AS suspended_reason"
    " FROM unnest($1::uuid[]) AS u(id)"
    " LEFT JOIN play_limits l ON l.user_id = u.id"
    " LEFT JOIN player_suspensions s ON s.user_id = u.id"
)


@dataclass(slots=True)
class _Read:
    user_id: uuid.UUID
    future: asyncio.Future[asyncpg.Record] = field(repr=False)


class StandingRows:
    """Reads players' standing rows, coalescing the reads that wait at the same time.

    `read` returns the row of `STANDING_MANY_SQL` for one player (the caller turns it
    into a `Standing` with its own clock). A failed query fails exactly the reads it
    carried; the next ones try again.
    """

    def __init__(self, pool: asyncpg.Pool, *, max_inflight: int = MAX_READS_IN_FLIGHT,
                 max_users: int = MAX_READ_USERS) -> None:
        assert 1 <= max_users <= MAX_READ_USERS
        self._pool = pool
        self._coalescer: Coalescer[_Read] = Coalescer(
            self._flush, size=lambda _r: 1, max_inflight=max_inflight,
            max_chunk_items=max_users, max_queued_jobs=MAX_QUEUED_READS,
            abandon=self._abandon,
        )
        self.queries = 0  # queries sent (tests read it)

    async def read(self, user_id: str) -> asyncpg.Record:
        """The player's standing row, from a query that started after this call."""
        read = _Read(uuid.UUID(user_id), asyncio.get_running_loop().create_future())
        await self._coalescer.submit(read)
        return await read.future

    async def _flush(self, reads: list[_Read]) -> list[_Read]:
        assert 0 < len(reads) <= MAX_READ_USERS
        try:
            rows = await self._pool.fetch(
                STANDING_MANY_SQL, list({r.user_id for r in reads}))
        except Exception as exc:
            self._fail(reads, exc)
            return []
        self.queries += 1
        by_id = {row["asked_id"]: row for row in rows}
        for read in reads:
            if not read.future.done():  # a cancelled caller needs no answer
                read.future.set_result(by_id[read.user_id])
        return []

    def _abandon(self, reads: list[_Read], exc: BaseException | None) -> None:
        """The query was cancelled or crashed: its callers must not wait for ever."""
        if exc is not None:
            self._fail(reads, exc)
            return
        for read in reads:
            read.future.cancel()

    @staticmethod
    def _fail(reads: Sequence[_Read], exc: BaseException) -> None:
        for read in reads:
            if not read.future.done():
                read.future.set_exception(exc)
