"""The wager queue: the Redis matchmaker, one pool per mode + platform + stake tier.

Pools are named `wager_<mode>_<platform>` and every stake tier of the wager
room kind is a queue in each pool, so a pairing only ever joins two players
of the same mode, platform and stake. A ticket is scored by the player's
rating in that mode (mu, scaled), and the acceptable gap widens with waiting
as for every queue. A stake is held into `escrow:wager` at join (the
matchmaker's hold, lengthened to outlive a whole match and its dispute); the
pairing writes the match row and opens the room, as accepting a challenge
does. A ticket nobody is found for is refunded with no bonus.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import structlog

from matchmaking import Matchmaker
from matchmaking.config import MatchConfig
from matchmaking.keys import QueueSpec
from matchmaking.types import HoldState, Match, Ticket
from rooms.games.wager import NAME as WAGER_GAME
from rooms.types import HeldStake
from server.features.play.stakes import LedgerStakes
from server.features.wagers import alerts
from server.features.wagers.challenges import pair_flags
from server.features.wagers.profiles import eligible
from server.features.wagers.rating import DEFAULT_MU
from server.features.wagers.service import WagerService

log = structlog.get_logger(__name__)

RATING_SCALE = 40  # mu 25 -> 1000, the matchmaker's usual centre
PAIRING_IDLE_S = 0.5


class LongHolds:
    """The ledger's StakeHolder with holds long enough for a whole match and its dispute."""

    def __init__(self, inner: LedgerStakes, hold_ttl_s: int) -> None:
        self._inner = inner
        self._ttl_s = hold_ttl_s

    async def hold(self, ticket_id: str, user_id: str, stake_minor: int, currency: str,
                   timeout_s: int) -> str:
        return await self._inner.hold(ticket_id, user_id, stake_minor, currency,
                                      max(timeout_s, self._ttl_s))

    async def release(self, ticket_id: str, hold_id: str) -> None:
        await self._inner.release(ticket_id, hold_id)

    async def hold_state(self, ticket_id: str, hold_id: str) -> HoldState:
        return await self._inner.hold_state(ticket_id, hold_id)

    async def refund_with_bonus(self, ticket_id: str, hold_id: str, user_id: str,
                                stake_minor: int, currency: str, bonus_bp: int) -> None:
        await self._inner.refund_with_bonus(ticket_id, hold_id, user_id, stake_minor, currency,
                                            bonus_bp)


@dataclass(frozen=True, slots=True)
class Pool:
    mode: str
    platform: str

    @property
    def name(self) -> str:
        return f"wager_{self.mode}_{self.platform}"


class WagerQueues:
    def __init__(self, svc: WagerService) -> None:
        self.svc = svc
        state, s = svc.state, svc.state.settings
        self.pools = {p.name: p for p in (Pool(m, pf) for m in svc.settings.modes
                                          for pf in svc.settings.platforms)}
        tiers = svc.room_settings.stake_tiers_minor
        config = MatchConfig(
            games=frozenset(self.pools), stake_tiers_minor={s.currency: tiers},
            window_start=s.mm_window_start, window_max=s.mm_window_max,
            window_grow_s=s.mm_window_grow_s, max_wait_s=svc.settings.queue_max_wait_s,
            timeout_bonus_bp=0, avoid_recent_s=s.mm_avoid_recent_s,
            max_queue_len=s.mm_max_queue_len,
        )
        self.matchmaker = Matchmaker(
            state.redis, s.redis_prefix,
            money=LongHolds(LedgerStakes(state.ledger, game=WAGER_GAME), svc.settings.hold_ttl_s),
            clock=state.clock.now_ms, config=config, node_url=s.resolved_public_url,
            on_match=self.on_match,
        )
        self.queues = [QueueSpec(name, s.currency, t) for name in self.pools for t in tiers]
        self._stop = asyncio.Event()

    async def join(self, user_id: str, mode: str, platform: str, stake_minor: int) -> Ticket:
        pool = Pool(mode, platform)
        svc = self.svc
        async with svc.state.pool.acquire() as conn:
            await eligible(conn, svc.settings, user_id, platform, svc.state.clock.now_ms())
            mu = await conn.fetchval(
                "SELECT mu FROM wager_ratings WHERE user_id = $1 AND mode = $2", user_id, mode)
        rating = max(0, round((DEFAULT_MU if mu is None else mu) * RATING_SCALE))
        return await self.matchmaker.join(user_id, pool.name, stake_minor,
                                          svc.state.settings.currency, rating)

    async def leave(self, user_id: str) -> Ticket:
        return await self.matchmaker.leave(user_id)

    async def on_match(self, match: Match) -> None:
        """Write the match row (once, even if the pairing is redelivered) and open its room."""
        svc = self.svc
        pool = self.pools[match.queue.game]
        seats = tuple(HeldStake(t.user_id, uuid.UUID(t.hold_id), t.stake_minor,
                                t.currency) for t in match.tickets)
        async with svc.state.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT * FROM wager_matches WHERE room_id = $1",
                                      match.room_id)
            sent: list[alerts.Alert] = []
            if row is None:
                tags = {r["user_id"]: r["tag"] for r in await conn.fetch(
                    "SELECT user_id::text, tag FROM wager_gamer_tags WHERE platform = $1"
                    " AND user_id = ANY($2::uuid[])", pool.platform, [s.user_id for s in seats])}
                terms = {"mode": pool.mode, "platform": pool.platform,
                         "rules": "", "maps": [], "tags": tags,
                         "stake_minor": match.queue.stake_minor,
                         "currency": match.queue.currency, "fee_bps": svc.fee_bps,
                         "challenge_id": None}
                flags = await pair_flags(conn, seats[0].user_id, seats[1].user_id)
                row = await svc.insert_match(conn, match.room_id, None, seats, terms, flags)
                sent = svc.found_alerts(match.room_id, seats, terms)
                await alerts.enqueue(conn, sent)
        svc.open_room(row)
        await alerts.push(svc.state, sent)
        log.info("wager_queue_match", room_id=match.room_id, pool=pool.name)

    async def run(self) -> None:
        await self.matchmaker.run_pairing_loop(self.queues, self._stop, idle_s=PAIRING_IDLE_S)

    def stop(self) -> None:
        self._stop.set()
