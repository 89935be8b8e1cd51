"""Helpers for matchmaking tests: a manual clock and an in-memory StakeHolder.

InMemoryStakes is a small real implementation of matchmaking's own StakeHolder
interface (balances, holds, idempotent by ticket), not a stand-in for Redis or
Postgres; the ledger-backed one is tested against the real ledger separately.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field

from redis.asyncio import Redis

from matchmaking import HoldRefused, MatchConfig, MatchHandler, Matchmaker, RoomPlacer

T0_MS = 1_700_000_000_000


@dataclass
class ManualClock:
    now_ms: int = T0_MS

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        assert ms >= 0
        self.now_ms += ms


@dataclass
class InMemoryStakes:
    """Balances per user; a hold moves the stake aside until released or refunded."""

    start_balance_minor: int = 1_000_000
    balances: dict[str, int] = field(default_factory=dict)
    holds: dict[str, tuple[str, int]] = field(default_factory=dict)  # hold id -> (user, stake)
    released: Counter[str] = field(default_factory=Counter)  # ticket -> calls that voided
    refunded: Counter[str] = field(default_factory=Counter)  # ticket -> calls that paid a bonus
    bonus_paid_minor: dict[str, int] = field(default_factory=dict)
    hold_calls: int = 0
    fail_refunds: int = 0  # the next this-many refunds fail as if the database went away

    def balance(self, user_id: str) -> int:
        return self.balances.setdefault(user_id, self.start_balance_minor)

    async def hold(
        self, ticket_id: str, user_id: str, stake_minor: int, currency: str, timeout_s: int
    ) -> str:
        self.hold_calls += 1
        if self.balance(user_id) < stake_minor:
            raise HoldRefused("not enough available balance for this stake")
        hold_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{ticket_id}:hold"))
        if hold_id not in self.holds:
            self.balances[user_id] -= stake_minor
            self.holds[hold_id] = (user_id, stake_minor)
        return hold_id

    def _void(self, hold_id: str) -> bool:
        held = self.holds.pop(hold_id, None)
        if held is None:
            return False
        self.balances[held[0]] += held[1]
        return True

    async def release(self, ticket_id: str, hold_id: str) -> None:
        if self._void(hold_id):
            self.released[ticket_id] += 1

    async def refund_with_bonus(
        self, ticket_id: str, hold_id: str, user_id: str, stake_minor: int, currency: str,
        bonus_bp: int,
    ) -> None:
        if self.fail_refunds > 0:
            self.fail_refunds -= 1
            raise ConnectionError("database went away")
        if self._void(hold_id):
            bonus = stake_minor * bonus_bp // 10_000
            self.balances[user_id] += bonus
            self.bonus_paid_minor[ticket_id] = bonus
            self.refunded[ticket_id] += 1

    def held_minor(self) -> int:
        return sum(stake for _, stake in self.holds.values())


def make_matchmaker(
    redis: Redis, *, clock: ManualClock, money: InMemoryStakes | None = None,
    prefix: str, on_match: MatchHandler | None = None, placer: RoomPlacer | None = None,
    **config: object,
) -> tuple[Matchmaker, InMemoryStakes]:
    """A Matchmaker on the test's key prefix, with an in-memory StakeHolder unless given one."""
    money = money or InMemoryStakes()
    cfg = MatchConfig(**config)  # type: ignore[arg-type]
    mm = Matchmaker(
        redis, prefix, money=money, clock=clock, config=cfg, node_url="http://n1",
        on_match=on_match, placer=placer,
    )
    return mm, money


async def delete_prefix(redis: Redis, prefix: str) -> None:
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*", count=1000)]
    for i in range(0, len(keys), 1000):
        await redis.delete(*keys[i : i + 1000])
