"""Balance frames: players' balances read in shared batches and pushed to their sockets.

A burst of commits touching one player (a batch, a settlement) becomes one or
two reads, never one per commit: a change that arrives while that player's
read is in flight marks them again and the next batch reads once more. Changes
of many players in the same moment share one query (`Ledger.balances_of`):
a settlement wave of a thousand duels is a few reads, not two thousand.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from ledger import Balance, user_account

if TYPE_CHECKING:
    from server.state import AppState

log = structlog.get_logger(__name__)

MAX_PENDING_USERS = 100_000
READ_BATCH_MAX = 500  # players per balance query


def balance_frames(state: AppState, rows: list[Balance]) -> list[dict[str, Any]]:
    """Balances as sent on the wire; the default currency is always listed."""
    out = [
        {
            "currency": b.currency, "available_minor": b.available_minor,
            "posted_minor": b.posted_minor, "held_minor": b.pending_debits_minor,
        }
        for b in rows
    ]
    if not any(b["currency"] == state.settings.currency for b in out):
        out.insert(0, {
            "currency": state.settings.currency, "available_minor": 0, "posted_minor": 0,
            "held_minor": 0,
        })
    return out


async def read_balances(state: AppState, user_id: str) -> list[dict[str, Any]]:
    """The player's balances as sent on the wire; the default currency is always listed."""
    return balance_frames(state, await state.ledger.balances(user_account(user_id)))


class BalancePusher:
    """Turns `balance_changed` signals into `balance` frames for this node's sockets.

    One reader task drains the players marked changed, up to READ_BATCH_MAX per query,
    so a player's reads never overlap and a push always follows the change it reports.
    """

    def __init__(
        self, state: AppState, deliver: Callable[[str, dict[str, Any]], int],
        is_local: Callable[[str], bool], *, max_concurrent_reads: int = 1,
    ) -> None:
        assert max_concurrent_reads >= 1
        self._state = state
        self._deliver = deliver
        self._is_local = is_local
        self._pending: dict[str, None] = {}  # changed since their last read began (in order)
        self._reading: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.reads = 0  # queries made (tests and benchmarks read it)

    def changed(self, user_id: str) -> None:
        """The user's balance changed somewhere: schedule one fresh read (coalesced)."""
        if not self._is_local(user_id) or user_id in self._pending:
            return
        if len(self._pending) >= MAX_PENDING_USERS:
            log.warning("balance_push_backlog_full", user_id=user_id)
            return
        self._pending[user_id] = None
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="balance-pusher")

    def reads_in_flight(self, user_id: str) -> bool:
        return user_id in self._pending or user_id in self._reading

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                taken = list(itertools.islice(self._pending, READ_BATCH_MAX))
                for u in taken:
                    del self._pending[u]
                users = [u for u in taken if self._is_local(u)]  # some may have left
                if not users:
                    continue
                self._reading = set(users)
                try:
                    rows = await self._state.ledger.balances_of(
                        [user_account(u) for u in users])
                    self.reads += 1
                except Exception:
                    log.exception("balance_push_failed", users=len(users))
                    await asyncio.sleep(0.5)  # Postgres is down: the next change asks again
                    continue
                finally:
                    self._reading = set()
                for u in users:
                    frame = {"t": "balance",
                             "balances": balance_frames(self._state, rows[user_account(u)])}
                    self._deliver(u, frame)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
