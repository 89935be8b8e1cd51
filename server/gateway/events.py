"""Frames for a player's websockets on whichever node holds them (Redis pub/sub).

`publish_to_user(state, user_id, frame)` is the one way any part of the server
reaches a player's open sockets. `{"t": "balance_changed"}` is special: each
node holding the player reads fresh balances and pushes `{"t": "balance"}`.

`LedgerCommitFanout` is the ledger's `on_commit` hook: it notes every player
touched by a commit and a background task publishes one `balance_changed` per
player per flush, so a batch of 100 transfers to one player is one message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgpack
import structlog

from server import keys, metrics
from server.state import Slot

if TYPE_CHECKING:
    from ledger import Transfer
    from server.state import AppState

log = structlog.get_logger(__name__)

USER_OWNER_PREFIX = "user:"
MAX_PENDING_USERS = 100_000  # players awaiting a publish; beyond it, dropped and logged
PUBLISH_BATCH_MAX = 500  # messages per Redis pipeline round trip


def pack_frame(frame: dict[str, Any]) -> bytes:
    """The pub/sub message carrying a frame (the gateway's hub unpacks it)."""
    return msgpack.packb({"k": "f", "f": frame}, use_bin_type=True)  # type: ignore[no-any-return]


async def publish_to_user(state: AppState, user_id: str, frame: dict[str, Any]) -> None:
    """Deliver `frame` to every open websocket of `user_id` on any node; no-op if none.

    Delivery is best effort (pub/sub): a player who is offline simply misses it,
    and a reconnecting client resyncs from `welcome`.
    """
    assert isinstance(frame.get("t"), str), "a frame needs a type"
    channel = keys.user_channel(state.settings.redis_prefix, user_id)
    await state.redis.publish(channel, pack_frame(frame))


async def publish_to_users(state: AppState, frames: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """`publish_to_user` for several (user_id, frame) in one Redis round trip."""
    if not frames:
        return
    async with state.redis.pipeline(transaction=False) as pipe:
        for user_id, frame in frames:
            publish_into(pipe, state, user_id, frame)
        await pipe.execute()


def publish_into(pipe: Any, state: AppState, user_id: str, frame: dict[str, Any]) -> None:
    """Queue `publish_to_user` on the caller's pipeline (to go with its other commands)."""
    assert isinstance(frame.get("t"), str), "a frame needs a type"
    pipe.publish(keys.user_channel(state.settings.redis_prefix, user_id), pack_frame(frame))


class LedgerCommitFanout:
    """The ledger's `on_commit`: publish `balance_changed` for every player a commit touched."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        self._wake = asyncio.Event()
        self._dropped = 0
        self._stopped = False

    def __call__(self, transfers: Sequence[Transfer]) -> None:
        """Runs synchronously right after a commit: note the players, never block."""
        metrics.LEDGER_TRANSFERS.inc(len(transfers))
        pending = self._pending
        for transfer in transfers:
            for owner in (transfer.debit, transfer.credit):
                if owner.startswith(USER_OWNER_PREFIX):
                    if len(pending) >= MAX_PENDING_USERS and owner not in pending:
                        self._dropped += 1
                        continue
                    pending.add(owner[len(USER_OWNER_PREFIX):])
        if pending:
            self._wake.set()

    def bind(self, state: AppState) -> None:
        """Start publishing for this process (call once the state exists)."""
        state.provide(COMMIT_FANOUT, self)
        state.spawn(self._run(state), "ledger-commit-fanout")

    def stop(self) -> None:
        """End the publishing loop at its next wake-up (shutdown). Not left to cancellation
        alone: a cancellation that lands inside a Redis call has been seen lost, and the
        loop went back to waiting."""
        self._stopped = True
        self._wake.set()

    async def _run(self, state: AppState) -> None:
        prefix = state.settings.redis_prefix
        message = pack_frame({"t": "balance_changed"})
        while not self._stopped:
            await self._wake.wait()
            self._wake.clear()
            if self._dropped:
                log.warning("balance_changed_dropped", count=self._dropped)
                self._dropped = 0
            while self._pending and not self._stopped:
                size = min(PUBLISH_BATCH_MAX, len(self._pending))
                batch = [self._pending.pop() for _ in range(size)]
                try:
                    async with state.redis.pipeline(transaction=False) as pipe:
                        for user_id in batch:
                            pipe.publish(keys.user_channel(prefix, user_id), message)
                        await pipe.execute()
                except Exception:
                    log.exception("balance_changed_publish_failed", users=len(batch))
                    await asyncio.sleep(0.5)  # Redis is down: retry later, keep the users
                    self._pending.update(batch[: max(0, MAX_PENDING_USERS - len(self._pending))])


COMMIT_FANOUT: Slot[LedgerCommitFanout] = Slot("ledger-commit-fanout", LedgerCommitFanout)
