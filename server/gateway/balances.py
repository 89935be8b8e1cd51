"""Balance frames: read a player's balances and push them, at most one read in flight per user.

A burst of commits touching one player (a batch, a settlement) becomes one or
two reads, never one per commit: a change that arrives while a read is in
flight marks the user dirty and the same task reads once more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from ledger import user_account

if TYPE_CHECKING:
    from server.state import AppState

log = structlog.get_logger(__name__)

MAX_ROUNDS_PER_TASK = 64  # a user changing balance forever cannot pin a task forever
MAX_PENDING_USERS = 100_000


async def read_balances(state: AppState, user_id: str) -> list[dict[str, Any]]:
    """The player's balances as sent on the wire; the default currency is always listed."""
    rows = await state.ledger.balances(user_account(user_id))
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


class BalancePusher:
    """Turns `balance_changed` signals into `balance` frames for this node's sockets."""

    def __init__(
        self, state: AppState, deliver: Callable[[str, dict[str, Any]], int],
        is_local: Callable[[str], bool], *, max_concurrent_reads: int,
    ) -> None:
        assert max_concurrent_reads >= 1
        self._state = state
        self._deliver = deliver
        self._is_local = is_local
        self._dirty: dict[str, bool] = {}  # user id -> changed again since the read started
        self._tasks: set[asyncio.Task[None]] = set()
        self._reads = asyncio.Semaphore(max_concurrent_reads)

    def changed(self, user_id: str) -> None:
        """The user's balance changed somewhere: schedule one fresh read (coalesced)."""
        if not self._is_local(user_id):
            return
        if user_id in self._dirty:
            self._dirty[user_id] = True
            return
        if len(self._dirty) >= MAX_PENDING_USERS:
            log.warning("balance_push_backlog_full", user_id=user_id)
            return
        self._dirty[user_id] = False
        task = asyncio.create_task(self._refresh(user_id), name=f"balance-{user_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def reads_in_flight(self, user_id: str) -> bool:
        return user_id in self._dirty

    async def _refresh(self, user_id: str) -> None:
        try:
            for _ in range(MAX_ROUNDS_PER_TASK):
                self._dirty[user_id] = False
                if not self._is_local(user_id):
                    return
                async with self._reads:
                    balances = await read_balances(self._state, user_id)
                self._deliver(user_id, {"t": "balance", "balances": balances})
                if not self._dirty.get(user_id):
                    return
        except Exception:
            log.exception("balance_push_failed", user_id=user_id)
        finally:
            changed_again = self._dirty.pop(user_id, None)
        if changed_again:
            self.changed(user_id)  # the round limit was hit while changes kept coming

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
