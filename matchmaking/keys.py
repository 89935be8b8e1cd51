"""Every Redis key matchmaking uses, built in one place from the deployment's prefix.

A queue's keys share one hash tag (`{game:currency:stake}`) so they live in one
Redis Cluster slot and a Lua script may touch all of them. Per-user and per-seat
keys stand alone: they are only read or written one key at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
TAG_RE = re.compile(r"^[a-z0-9_]{1,32}:[A-Z]{3}:[1-9][0-9]{0,15}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """One queue: a game played for one stake tier in one currency."""

    game: str
    currency: str
    stake_minor: int

    @property
    def tag(self) -> str:
        return f"{self.game}:{self.currency}:{self.stake_minor}"

    @classmethod
    def parse(cls, tag: str) -> QueueSpec:
        game, currency, stake = tag.split(":")
        return cls(game, currency, int(stake))


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """Keys of one queue; `base` is also passed to the scripts to build per-ticket keys."""

    base: str

    @property
    def queue(self) -> str:
        """ZSET ticket id -> rating."""
        return f"{self.base}:q"

    @property
    def since(self) -> str:
        """ZSET ticket id -> enqueue time (ms): oldest first, widening and timeouts."""
        return f"{self.base}:since"

    @property
    def pending(self) -> str:
        """ZSET room id -> time (ms) a pairing was made or last claimed, until acknowledged."""
        return f"{self.base}:pending"

    @property
    def refunding(self) -> str:
        """ZSET ticket id -> time (ms) a timeout refund was decided or claimed, until done."""
        return f"{self.base}:refunding"

    def ticket(self, ticket_id: str) -> str:
        """HASH of one ticket (id, user, rating, created_ms, node, hold_id, avoid). Once it
        leaves the queue (paired, expired, left) it lingers for claim_grace_s, then expires."""
        return f"{self.base}:t:{ticket_id}"

    def seat(self, secret: str) -> str:
        """STRING (JSON) one-time seat reservation; consumed with GETDEL."""
        return f"{self.base}:s:{secret}"

    def pairing(self, room_id: str) -> str:
        """STRING (JSON) pairing record: both tickets and the room id."""
        return f"{self.base}:p:{room_id}"

    def refund(self, ticket_id: str) -> str:
        """STRING (JSON) of a timed-out ticket whose refund is not yet confirmed."""
        return f"{self.base}:r:{ticket_id}"


@dataclass(frozen=True, slots=True)
class Keys:
    """Root of the key space: `{prefix}:mm:...`."""

    prefix: str

    def __post_init__(self) -> None:
        assert self.prefix and "{" not in self.prefix, self.prefix

    def for_queue(self, spec: QueueSpec) -> QueueKeys:
        return QueueKeys(f"{self.prefix}:mm:{{{spec.tag}}}")

    def user(self, user_id: str) -> str:
        """STRING (JSON claim): the one ticket this user has; TTL a little past the longest wait."""
        return f"{self.prefix}:mm:user:{user_id}"

    def recent(self, user_id: str) -> str:
        """ZSET opponent user id -> until (ms): opponents to avoid for a while."""
        return f"{self.prefix}:mm:recent:{user_id}"

    def seat(self, token: str) -> str | None:
        """The key of a seat token `<queue tag>/<secret>`, or None if it is not one."""
        tag, _, secret = token.partition("/")
        if not SECRET_RE.match(secret) or not TAG_RE.match(tag):
            return None
        return self.for_queue(QueueSpec.parse(tag)).seat(secret)
