"""Tickets, pairing and timeouts over Redis, with stakes held through an injected StakeHolder.

Every state change of a queue is one Lua script, so any number of processes
may join, leave, pair and expire on the same queues at once: a ticket is
removed by exactly one script call, and only that caller acts on it (seats it,
releases its hold, or refunds it).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import re
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from matchmaking import scripts
from matchmaking.config import MAX_RATING, MatchConfig
from matchmaking.errors import (
    AlreadyQueued,
    GameNotOffered,
    InvalidJoin,
    NotQueued,
    QueueFull,
    ServiceUnavailable,
    StakeNotOffered,
)
from matchmaking.keys import Keys, QueueKeys, QueueSpec
from matchmaking.types import (
    Clock,
    HoldBatchInspector,
    HoldInspector,
    Match,
    MatchHandler,
    RoomPlacer,
    SeatClaim,
    SeatReservation,
    StakeHolder,
    StakeVetter,
    Ticket,
)

log = logging.getLogger(__name__)

USER_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
PAIRS_PER_CALL = 100  # pairings one script call may make: bounds how long Redis is busy
FIRST_PAIRS = 4  # what a call asks for at first; doubled while calls fill it
MAX_BATCH = 10_000
MATCH_HANDLERS_AT_ONCE = 32  # match handlers of one round run concurrently, this many at most
# Rounds the pairing loop delivers at once: the next pass pairs while earlier rounds are
# still being handed over, so a join waits for one pairing script, not for a whole round.
ROUNDS_IN_FLIGHT = 4
# Joins abandoned while Redis was unreachable, remembered so their claim and any ticket that
# landed after all are cleaned up once Redis answers again; past this many, the oldest are
# left to the claim's grace period and the pairing's hold check.
MAX_UNSETTLED = 10_000
LOOP_BACKOFF_MAX_S = 2.0  # the pairing loop's wait after repeated failures (Redis down)
LOG_EVERY_S = 10.0  # one log line per failure kind per this many seconds, with a count

REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
"""Redis did not answer (after the client's own retries): the outcome of the command is
unknown. OSError covers refused connections and the builtin TimeoutError."""

UNAVAILABLE_MSG = "Matchmaking is unavailable right now; nothing is held. Try again shortly."


def _uuid() -> str:
    return str(uuid.uuid4())


def _token() -> str:
    return secrets.token_urlsafe(24)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Throttle:
    """At most one log line per failure kind per `every_s`, saying how many were suppressed.

    During an outage the pairing loop fails every few milliseconds; a traceback each time
    would bury everything else in the log.
    """

    def __init__(self, every_s: float = LOG_EVERY_S, max_kinds: int = 64) -> None:
        self._every_s = every_s
        self._max_kinds = max_kinds
        self._last: dict[str, tuple[float, int]] = {}  # kind -> (last logged, suppressed since)

    def warn(self, event: str, exc: BaseException) -> None:
        kind = f"{event}:{type(exc).__name__}"
        now = time.monotonic()
        last, suppressed = self._last.get(kind, (float("-inf"), 0))
        if now - last < self._every_s:
            self._last[kind] = (last, suppressed + 1)
            return
        if len(self._last) >= self._max_kinds and kind not in self._last:
            self._last.clear()
        self._last[kind] = (now, 0)
        log.warning("%s: %s: %s (%d similar suppressed)", event, type(exc).__name__,
                    str(exc)[:200], suppressed)


class Matchmaker:
    """One process's handle on the shared queues.

    `clock` gives milliseconds; every process sharing a Redis must share its
    origin (wall-clock ms in production, a manual clock in tests).
    """

    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        money: StakeHolder,
        clock: Clock,
        config: MatchConfig | None = None,
        node_url: str = "",
        placer: RoomPlacer | None = None,
        on_match: MatchHandler | None = None,
        new_id: Callable[[], str] = _uuid,
        new_token: Callable[[], str] = _token,
    ) -> None:
        self.config = config or MatchConfig()
        self.keys = Keys(prefix)
        self.node_url = node_url
        self._redis = redis
        self._money = money
        self._clock = clock
        self._placer = placer
        self._on_match = on_match
        self._new_id = new_id
        self._new_token = new_token
        self._joined = asyncio.Event()
        self._enqueue = redis.register_script(scripts.ENQUEUE)
        self._leave = redis.register_script(scripts.LEAVE)
        self._pair = redis.register_script(scripts.PAIR)
        self._expire = redis.register_script(scripts.EXPIRE)
        self._reclaim = redis.register_script(scripts.RECLAIM)
        self._unclaim = redis.register_script(scripts.UNCLAIM)
        self._resolve = redis.register_script(scripts.RESOLVE)
        self._unpair = redis.register_script(scripts.UNPAIR)
        self._inspect = money if isinstance(money, HoldInspector) else None
        self._inspect_many = money if isinstance(money, HoldBatchInspector) else None
        self._vet = money if isinstance(money, StakeVetter) else None
        # user id -> (queue, ticket, hold or None) of joins abandoned while Redis was down
        self._unsettled: OrderedDict[str, tuple[QueueSpec, str, str | None]] = OrderedDict()
        self._throttle = _Throttle()
        # Pairings the next PAIR call asks room ids and seat tokens for: each costs a uuid and
        # two secure tokens made up front, so a loop woken by every join asks for what the
        # last calls found (doubling while calls fill it), not for a hundred each time.
        self._pairs_hint = FIRST_PAIRS

    # ----------------------------------------------------------------- joining

    def queue_for(self, game: str, stake_minor: int, currency: str) -> QueueSpec:
        """The queue a join would enter; raises the error a client should see if none."""
        if game not in self.config.games:
            raise GameNotOffered(f"{game!r} is not offered")
        if type(stake_minor) is not int or not self.config.offers(currency, stake_minor):
            raise StakeNotOffered(f"no {currency} queue with a stake of {stake_minor!r} minor")
        return QueueSpec(game, currency, stake_minor)

    async def join(
        self, user_id: str, game: str, stake_minor: int, currency: str, rating: int = 1000
    ) -> Ticket:
        """Hold the stake and queue the player. A player has at most one ticket anywhere.

        The per-user claim is taken before the hold, so concurrent joins of one
        player hold at most one stake. Every failure after the hold releases it at once
        (same void id as a leave, so a repeat is harmless) and drops the claim, unless the
        ticket turns out to be queued after all; see `_abandon`. Redis being unreachable
        surfaces as ServiceUnavailable.
        """
        spec = self.queue_for(game, stake_minor, currency)
        if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
            raise InvalidJoin("user id must be 1-64 letters, digits or _.:-")
        if type(rating) is not int or not 0 <= rating <= MAX_RATING:
            raise InvalidJoin(f"rating must be an integer from 0 to {MAX_RATING}")
        now = self._clock()
        ticket_id = self._new_id()
        try:
            await self._settle_unsettled(user_id)
            # The player's standing is read while the claim is taken (both are reads or
            # idempotent writes); the claim's refusal wins, as if it had come first.
            claimed, vetted = await asyncio.gather(
                self._claim_with_snapshot(user_id, ticket_id, spec, now),
                self._vet_stake(user_id, stake_minor, currency), return_exceptions=True)
            if isinstance(claimed, BaseException):
                raise claimed
            if isinstance(vetted, BaseException):
                raise vetted
            avoid = claimed
        except REDIS_DOWN as exc:
            await self._forget_claim(user_id, ticket_id, spec)  # the SET may have landed
            raise ServiceUnavailable(UNAVAILABLE_MSG) from exc
        except BaseException:
            await self._forget_claim(user_id, ticket_id, spec)
            raise
        try:
            hold_id = await self._money.hold(
                ticket_id, user_id, stake_minor, currency, self.config.hold_timeout_s
            )
        except BaseException:
            await self._forget_claim(user_id, ticket_id, spec)
            raise
        ticket = Ticket(ticket_id, user_id, spec, rating, now, self.node_url, hold_id)
        qk = self.keys.for_queue(spec)
        cfg = self.config
        fields: list[str | int] = [
            "id", ticket_id, "user", user_id, "rating", rating, "created_ms", now,
            "node", self.node_url, "hold_id", hold_id, "avoid", avoid,
        ]
        try:
            # The client retries this on a lost connection; ENQUEUE is safe to repeat.
            added = await self._enqueue(
                keys=[qk.queue, qk.since, qk.ticket(ticket_id)],
                args=[ticket_id, rating, now, cfg.max_queue_len, *fields],
            )
        except BaseException as exc:
            outcome = await self._abandon(ticket, "enqueue_failed")
            if outcome == "paired" and not isinstance(exc, asyncio.CancelledError):
                self._joined.set()
                return ticket  # it did arrive, and was paired at once: the join stands
            if isinstance(exc, REDIS_DOWN):
                raise ServiceUnavailable(UNAVAILABLE_MSG) from exc
            raise
        if added in (1, 2):
            self._joined.set()
            return ticket
        await self._abandon(ticket, "queue_full" if added == 0 else "refused")
        if added == 0:
            raise QueueFull(f"the {spec.tag} queue is full")
        raise ServiceUnavailable(UNAVAILABLE_MSG)  # -2: an earlier attempt was abandoned

    async def _vet_stake(self, user_id: str, stake_minor: int, currency: str) -> None:
        if self._vet is not None:
            await self._vet.vet(user_id, stake_minor, currency)

    async def _abandon(self, ticket: Ticket, why: str) -> str:
        """Undo a join whose ticket is not (or may not be) queued; return what was found.

        RESOLVE settles an ENQUEUE of unknown outcome in one step: a ticket that arrived is
        taken out again ('taken'), one that did not is fenced off by a tombstone so a late
        ENQUEUE cannot queue it ('absent'), one already paired or expired keeps its hold
        ('paired'). In every case but 'paired' the hold is voided at once. If Redis cannot
        be reached (after the client's bounded retries) the hold is voided anyway: a ticket
        that did land is then taken out when Redis answers again (`_settle_unsettled`), and
        until then the pairing refuses it because its hold is gone (`_deliver`).
        """
        qk = self.keys.for_queue(ticket.queue)
        cfg = self.config
        try:
            state = _text(await self._resolve(
                keys=[qk.queue, qk.since, qk.ticket(ticket.id)],
                args=[qk.base, ticket.id, cfg.claim_grace_ms, cfg.hold_timeout_s * 1000],
            ))
        except Exception as exc:
            self._throttle.warn("join_resolve_failed", exc)
            state = "unreachable"
        if state == "paired":
            return state
        try:
            await self._money.release(ticket.id, ticket.hold_id)
        except Exception as exc:  # the ledger is down too: the sweeper voids it at expiry
            log.error("join abandoned but its hold could not be released (%s): ticket %s: %s",
                      why, ticket.id, type(exc).__name__)
        if state == "unreachable":
            self._remember_unsettled(ticket.user_id, ticket.queue, ticket.id, ticket.hold_id)
        await self._forget_claim(ticket.user_id, ticket.id, ticket.queue)
        log.info("join abandoned (%s): ticket %s was %s; hold released", why, ticket.id, state)
        return state

    def _remember_unsettled(
        self, user_id: str, spec: QueueSpec, ticket_id: str, hold_id: str | None = None
    ) -> None:
        known = self._unsettled.get(user_id)
        if known is not None and known[1] == ticket_id and hold_id is None:
            hold_id = known[2]
        self._unsettled[user_id] = (spec, ticket_id, hold_id)
        self._unsettled.move_to_end(user_id)
        while len(self._unsettled) > MAX_UNSETTLED:
            self._unsettled.popitem(last=False)

    async def _settle_unsettled(self, user_id: str | None = None) -> int:
        """Finish joins abandoned while Redis was down: take back a ticket that landed
        after all (its hold is already voided: the void is repeated, harmlessly) and drop
        the claim, so the player can join again at once. Raises if Redis is still down."""
        if user_id is None:
            todo = list(self._unsettled.items())
        else:
            known = self._unsettled.get(user_id)
            todo = [] if known is None else [(user_id, known)]
        for uid, (spec, ticket_id, hold_id) in todo:
            qk = self.keys.for_queue(spec)
            state = _text(await self._resolve(
                keys=[qk.queue, qk.since, qk.ticket(ticket_id)],
                args=[qk.base, ticket_id, self.config.claim_grace_ms,
                      self.config.hold_timeout_s * 1000],
            ))
            if hold_id is not None and state != "paired":
                await self._money.release(ticket_id, hold_id)  # again: the first may have failed
            await self._drop_claim(uid, ticket_id)
            if uid in self._unsettled and self._unsettled[uid][1] == ticket_id:
                del self._unsettled[uid]
            log.info("abandoned join settled: ticket %s was %s", ticket_id, state)
        return len(todo)

    async def _claim_with_snapshot(
        self, user_id: str, ticket_id: str, spec: QueueSpec, now: int
    ) -> str:
        """`_claim`, then `_avoid_snapshot`; in the usual case (no claim yet) one round trip.

        The claim's SET NX and the read of recent opponents go in one pipeline; only when
        the SET finds a claim does the join take the careful path (`_claim` looks at the
        claim it found) and read the snapshot again afterwards.
        """
        if self.config.avoid_recent_s == 0:
            await self._claim(user_id, ticket_id, spec, now)
            return ""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.set(self.keys.user(user_id), self._claim_value(ticket_id, spec, now), nx=True,
                     px=self._claim_ttl_ms())
            pipe.zrangebyscore(self.keys.recent(user_id), f"({now}", "+inf",
                               start=0, num=self.config.max_recent, withscores=True)
            claimed, rows = await pipe.execute()
        if not claimed:
            await self._claim(user_id, ticket_id, spec, now)
            return await self._avoid_snapshot(user_id, now)
        return _avoid_text(rows)

    def _claim_value(self, ticket_id: str, spec: QueueSpec, now: int) -> str:
        return json.dumps({"ticket": ticket_id, "queue": spec.tag, "created_ms": now})

    def _claim_ttl_ms(self) -> int:
        return (self.config.hold_timeout_s + self.config.lease_s) * 1000

    async def _claim(self, user_id: str, ticket_id: str, spec: QueueSpec, now: int) -> None:
        key = self.keys.user(user_id)
        claim = self._claim_value(ticket_id, spec, now)
        ttl_ms = self._claim_ttl_ms()
        for _ in range(2):
            if await self._redis.set(key, claim, nx=True, px=ttl_ms):
                return
            raw = await self._redis.get(key)
            if raw is None:
                continue
            held = json.loads(raw)
            if held["ticket"] == ticket_id:
                return  # our own SET, repeated by the client after a lost reply
            if await self._claim_is_live(held, now):
                raise AlreadyQueued("you are already waiting for an opponent")
            await self._unclaim(keys=[key], args=[held["ticket"]])
        raise AlreadyQueued("you are already waiting for an opponent")

    async def _claim_is_live(self, held: dict[str, Any], now: int) -> bool:
        """A claim is live while its ticket waits, or while its join may still be holding."""
        qk = self.keys.for_queue(QueueSpec.parse(held["queue"]))
        if not await self._redis.exists(qk.ticket(held["ticket"])):
            # not queued yet (join in progress), or out of the queue long ago
            return now - int(held["created_ms"]) < self.config.claim_grace_ms
        return await self._redis.zscore(qk.queue, held["ticket"]) is not None

    async def _drop_claim(self, user_id: str, ticket_id: str) -> None:
        await self._unclaim(keys=[self.keys.user(user_id)], args=[ticket_id])

    async def _forget_claim(self, user_id: str, ticket_id: str, spec: QueueSpec) -> None:
        """Drop the claim on a failure path: never raises over the error being handled.

        If Redis is down the claim stays; it is remembered and dropped when Redis answers
        again (`_settle_unsettled`: the pairing loop's housekeeping or the player's next
        join here); on any other node it is dead after `claim_grace_s`.
        """
        try:
            await self._drop_claim(user_id, ticket_id)
        except Exception as exc:
            self._throttle.warn("claim_drop_failed", exc)
            self._remember_unsettled(user_id, spec, ticket_id)

    async def _avoid_snapshot(self, user_id: str, now: int) -> str:
        """The player's recent opponents, frozen into the ticket (it cannot change while queued)."""
        if self.config.avoid_recent_s == 0:
            return ""
        rows: list[Any] = await self._redis.zrangebyscore(
            self.keys.recent(user_id), f"({now}", "+inf",
            start=0, num=self.config.max_recent, withscores=True,
        )
        return _avoid_text(rows)

    async def ticket_of(self, user_id: str) -> Ticket | None:
        """The player's waiting ticket, if any."""
        raw = await self._redis.get(self.keys.user(user_id))
        if raw is None:
            return None
        held = json.loads(raw)
        spec = QueueSpec.parse(held["queue"])
        qk = self.keys.for_queue(spec)
        if await self._redis.zscore(qk.queue, held["ticket"]) is None:
            return None
        flat = await self._redis.hgetall(qk.ticket(held["ticket"]))
        if not flat:
            return None
        return _ticket({_text(k): _text(v) for k, v in flat.items()}, spec)

    async def queue_length(self, spec: QueueSpec) -> int:
        return int(await self._redis.zcard(self.keys.for_queue(spec).queue))

    # ----------------------------------------------------------------- leaving

    async def leave(self, user_id: str) -> Ticket:
        """Take the player's ticket out and void their hold; NotQueued if it was already paired.

        Safe to repeat: LEAVE returns the same ticket again after a lost reply, and the void
        has one id per ticket. If the void fails (ledger down) the error propagates and the
        player's next leave voids it.
        """
        try:
            await self._settle_unsettled(user_id)
            raw = await self._redis.get(self.keys.user(user_id))
            if raw is None:
                raise NotQueued("you are not waiting in any queue")
            held = json.loads(raw)
            spec = QueueSpec.parse(held["queue"])
            qk = self.keys.for_queue(spec)
            raw_ticket = await self._leave(
                keys=[qk.queue, qk.since],
                args=[qk.base, held["ticket"], self.config.claim_grace_ms],
            )
        except REDIS_DOWN as exc:
            raise ServiceUnavailable(
                "Matchmaking is unavailable right now; your stake stays held until it answers."
            ) from exc
        if not raw_ticket:
            raise NotQueued("your ticket was already paired or has expired")
        ticket = _ticket(json.loads(raw_ticket), spec)
        await self._money.release(ticket.id, ticket.hold_id)
        await self._forget_claim(user_id, ticket.id, spec)
        return ticket

    # ----------------------------------------------------------------- pairing

    async def pair_once(self, spec: QueueSpec, limit: int = 100) -> list[Match]:
        """Make up to `limit` pairings in one pass over the queue, oldest tickets first.

        Each script call examines at most `scan_tickets` tickets, so Redis is
        never busy for long; the pass ends at the queue's end or at `limit`. Returns once
        every pairing of the pass has been handed over (or left for redelivery).
        """
        qk = self.keys.for_queue(spec)
        made: list[Match] = []

        async def deliver(records: list[dict[str, Any]], now: int) -> int:
            made.extend(await self._deliver(spec, qk, records, now, redelivery=False))
            return len(records)

        await self._pair_pass(spec, limit, deliver)
        return made

    async def _pair_pass(
        self, spec: QueueSpec, limit: int,
        deliver: Callable[[list[dict[str, Any]], int], Awaitable[int]],
    ) -> int:
        """The pairing script calls of one pass; `deliver` takes each call's pairings.

        Returns how many pairings the pass made.
        """
        assert 1 <= limit <= MAX_BATCH, limit
        qk = self.keys.for_queue(spec)
        cfg = self.config
        made = 0
        position = 0
        max_calls = cfg.max_queue_len // cfg.scan_tickets + limit // PAIRS_PER_CALL + 2
        max_calls += PAIRS_PER_CALL.bit_length()  # the doublings from FIRST_PAIRS
        for _ in range(max_calls):
            want = min(limit - made, PAIRS_PER_CALL, self._pairs_hint)
            fresh: list[str] = []
            for _ in range(want):
                fresh += (self._new_id(), self._new_token(), self._new_token())
            now = self._clock()
            reply = await self._pair(
                keys=[qk.queue, qk.since, qk.pending],
                args=[qk.base, now, cfg.window_start, cfg.window_max, cfg.window_grow_ms,
                      cfg.scan_candidates, cfg.scan_tickets, position, want,
                      cfg.claim_grace_ms, cfg.seat_ttl_ms, *fresh],
            )
            position, remaining = int(reply[0]), int(reply[1])
            records = [json.loads(r) for r in reply[2:]]
            self._pairs_hint = (min(PAIRS_PER_CALL, 2 * want) if len(records) >= want
                                else max(FIRST_PAIRS, 2 * len(records)))
            if records:
                made += await deliver(records, now)
            if made >= limit or position >= remaining:
                break
        return made

    async def _deliver(
        self, spec: QueueSpec, qk: QueueKeys, records: Sequence[dict[str, Any]], now: int,
        *, redelivery: bool,
    ) -> list[Match]:
        """Place each room, remember opponents, hand the matches over, acknowledge them.

        A fresh pairing's seats were written by the script; a redelivered one gets
        new seats, since the first ones may have expired or been used.
        """
        if not records:
            return []
        cfg = self.config
        matches: list[Match] = []
        pairs = [(_ticket(r["a"], spec), _ticket(r["b"], spec)) for r in records]
        try:  # one read for every hold of the round
            live_all = await self._holds_live([t for pair in pairs for t in pair])
        except Exception as exc:  # the ledger is down: redelivered after the lease
            self._throttle.warn("pairing_hold_check_failed", exc)
            return []
        seats_pipe = self._redis.pipeline(transaction=False)  # a redelivery's new seats
        recent_pipe = self._redis.pipeline(transaction=False)  # opponents not to meet again
        for k, (record, (a, b)) in enumerate(zip(records, pairs, strict=True)):
            room_id = record["room"]
            live = live_all[2 * k : 2 * k + 2]
            if not all(live):
                try:
                    await self._cancel_pairing(qk, room_id, (a, b), live)
                except Exception as exc:  # redelivered after the lease, checked again then
                    self._throttle.warn("pairing_cancel_failed", exc)
                continue
            node_url = self.node_url if self._placer is None else await self._placer(spec, room_id)
            if redelivery:
                secrets_ = [self._new_token(), self._new_token()]
                expires_at_ms = now + cfg.seat_ttl_ms
            else:
                secrets_ = list(record["seats"])
                expires_at_ms = int(record["expires_at_ms"])
            seats = []
            for t, secret in zip((a, b), secrets_, strict=True):
                seat = SeatReservation(room_id, t.user_id, t.id, node_url,
                                       f"{spec.tag}/{secret}", expires_at_ms)
                if redelivery:
                    seats_pipe.set(qk.seat(secret), json.dumps(_seat_json(seat)),
                                   px=cfg.seat_ttl_ms)
                seats.append(seat)
            if cfg.avoid_recent_s:
                until = now + cfg.avoid_recent_s * 1000
                for me, other in ((a, b), (b, a)):
                    rk = self.keys.recent(me.user_id)
                    recent_pipe.zadd(rk, {other.user_id: until})
                    recent_pipe.zremrangebyscore(rk, "-inf", now)
                    recent_pipe.zremrangebyrank(rk, 0, -cfg.max_recent - 1)
                    recent_pipe.pexpire(rk, cfg.avoid_recent_s * 1000)
            created_ms = int(record["created_ms"])
            matches.append(Match(room_id, spec, (a, b), (seats[0], seats[1]), created_ms))
        if len(seats_pipe):
            await seats_pipe.execute()  # before anyone is told of a seat
        # The handlers of one round run side by side (bounded): each waits on Redis and
        # Postgres, and one after the other they made the last pairing of a round of a
        # hundred wait for all the others.
        gate = asyncio.Semaphore(MATCH_HANDLERS_AT_ONCE)

        async def hand_over(match: Match) -> bool:
            if self._on_match is None:
                return True
            async with gate:
                try:
                    await self._on_match(match)
                except Exception:
                    log.exception("match handler failed, redelivered later: %s", match.room_id)
                    return False
            return True

        async def remember_opponents() -> None:
            """Beside the handlers: only later pairings read it, and a failure only means
            a rematch may come sooner (it is not worth failing the round for)."""
            if len(recent_pipe):
                try:
                    await recent_pipe.execute()
                except Exception as exc:
                    self._throttle.warn("pairing_recent_opponents_failed", exc)

        _, *handed = await asyncio.gather(remember_opponents(),
                                          *(hand_over(m) for m in matches))
        done = [m for m, ok in zip(matches, handed, strict=True) if ok]
        await self._ack(qk.pending, "p", qk, [m.room_id for m in done],
                        unclaim=[t for m in done for t in m.tickets])
        return matches

    async def _holds_live(self, tickets: Sequence[Ticket]) -> list[bool]:
        """Whether each ticket's hold is still held (all True without a HoldInspector)."""
        if not tickets:
            return []
        if self._inspect_many is not None:
            states = await self._inspect_many.hold_states([(t.id, t.hold_id) for t in tickets])
            assert len(states) == len(tickets), "one state per hold"
            return [s == "held" for s in states]
        if self._inspect is None:
            return [True] * len(tickets)
        inspect = self._inspect
        states = await asyncio.gather(*(inspect.hold_state(t.id, t.hold_id) for t in tickets))
        return [s == "held" for s in states]

    async def _cancel_pairing(
        self, qk: QueueKeys, room_id: str, tickets: Sequence[Ticket], live: Sequence[bool]
    ) -> None:
        """A paired ticket's hold is gone (its join was abandoned while Redis was down), so
        the room must not be played: its stake could never be posted. The other ticket goes
        back into the queue with its original wait; the orphan's player is freed."""
        keep = [t.id for t, ok in zip(tickets, live, strict=True) if ok]
        reply = await self._unpair(
            keys=[qk.queue, qk.since, qk.pending], args=[qk.base, room_id, *keep]
        )
        if int(reply[0]) != 1:
            return  # another process cancelled it first
        requeued = {_text(r) for r in reply[1:]}
        for t, ok in zip(tickets, live, strict=True):
            if ok and t.id not in requeued:  # its ticket hash is gone: give the stake back
                await self._money.release(t.id, t.hold_id)
            if not ok or t.id not in requeued:
                await self._drop_claim(t.user_id, t.id)
        log.warning("pairing %s cancelled: a ticket's hold is gone; requeued %s",
                    room_id, sorted(requeued))

    async def _ack(self, lease_set: str, letter: str, qk: QueueKeys, ids: Iterable[str],
                   *, unclaim: Sequence[Ticket] = ()) -> None:
        """Forget delivered records; with `unclaim`, also drop those tickets' claims.

        A delivered pairing's tickets are done with, so their players' claims go with
        the acknowledgement (compare-and-delete by ticket: a newer claim stays). Left in
        place, each player's next join found a stale claim and spent five more round
        trips looking into it before it could queue.
        """
        ids = list(ids)
        if not ids:
            return
        pipe = self._redis.pipeline(transaction=False)
        pipe.zrem(lease_set, *ids)
        pipe.delete(*(f"{qk.base}:{letter}:{i}" for i in ids))
        for t in unclaim:
            await self._unclaim(keys=[self.keys.user(t.user_id)], args=[t.id], client=pipe)
        await pipe.execute()

    async def consume_seat(self, token: str) -> SeatClaim | None:
        """Redeem a seat token: the first caller gets the seat, every later one gets None."""
        key = self.keys.seat(token) if isinstance(token, str) and len(token) <= 128 else None
        if key is None:
            return None
        raw = await self._redis.getdel(key)
        if raw is None:
            return None
        data = json.loads(raw)
        claim = SeatClaim(data["room_id"], data["user_id"], data["ticket_id"],
                          int(data["expires_at_ms"]))
        return claim if claim.expires_at_ms >= self._clock() else None

    # ----------------------------------------------------------------- timeouts

    async def expire_once(
        self, spec: QueueSpec, now_ms: int | None = None, limit: int = 100
    ) -> list[Ticket]:
        """Refund (void + house bonus) every ticket that waited longer than max_wait_s.

        The script removes each ticket and records the refund in one step, so of
        all processes only one decides it; a crash before the refund is confirmed
        leaves the record for `recover_once`, and the StakeHolder's ids make the
        retry harmless.
        """
        assert 1 <= limit <= MAX_BATCH, limit
        now = self._clock() if now_ms is None else now_ms
        qk = self.keys.for_queue(spec)
        raw = await self._expire(
            keys=[qk.queue, qk.since, qk.refunding],
            args=[qk.base, now - self.config.max_wait_ms, now, limit, self.config.claim_grace_ms],
        )
        return await self._refund([json.loads(r) for r in raw], spec, qk)

    async def _refund(
        self, records: Sequence[dict[str, Any]], spec: QueueSpec, qk: QueueKeys
    ) -> list[Ticket]:
        done: list[Ticket] = []
        for record in records:
            t = _ticket(record, spec)
            try:
                state = "held" if self._inspect is None else await self._inspect.hold_state(
                    t.id, t.hold_id)
                if state in ("held", "expired"):
                    await self._money.refund_with_bonus(
                        t.id, t.hold_id, t.user_id, t.stake_minor, t.currency,
                        self.config.timeout_bonus_bp,
                    )
                else:
                    # Voided already: by this refund before a crash (the bonus went with it),
                    # or by a join abandoned during an outage (no wait, no bonus).
                    log.info("timed-out ticket %s: hold already %s, no refund", t.id, state)
            except Exception as exc:
                self._throttle.warn("timeout_refund_failed", exc)
                continue
            await self._drop_claim(t.user_id, t.id)
            done.append(t)
        await self._ack(qk.refunding, "r", qk, (t.id for t in done))
        return done

    async def recover_once(
        self, spec: QueueSpec, now_ms: int | None = None, limit: int = 100
    ) -> int:
        """Redeliver pairings and retry refunds whose owner did not confirm within the lease."""
        assert 1 <= limit <= MAX_BATCH, limit
        now = self._clock() if now_ms is None else now_ms
        oldest_live = now - self.config.lease_s * 1000
        qk = self.keys.for_queue(spec)
        pairings = await self._reclaim(
            keys=[qk.pending], args=[qk.base, "p", oldest_live, now, limit]
        )
        refunds = await self._reclaim(
            keys=[qk.refunding], args=[qk.base, "r", oldest_live, now, limit]
        )
        redelivered = await self._deliver(
            spec, qk, [json.loads(r) for r in pairings], now, redelivery=True
        )
        refunded = await self._refund([json.loads(r) for r in refunds], spec, qk)
        return len(redelivered) + len(refunded)

    async def run_pairing_loop(
        self,
        queues: Sequence[QueueSpec],
        stop: asyncio.Event,
        *,
        batch: int = 100,
        idle_s: float = 0.05,
        housekeeping_every_s: float = 1.0,
    ) -> None:
        """Pair, expire and recover on `queues` until `stop` is set. Safe to run on every node.

        A local join wakes the loop at once; joins on other nodes are seen
        within `idle_s`. A Redis failure is logged and retried after `idle_s`.
        A round's pairings are handed over in the background (at most ROUNDS_IN_FLIGHT
        rounds at once), so the next pass pairs whoever joined meanwhile without waiting
        for the previous round's handlers and acknowledgement; a round that fails is
        redelivered after its lease, like any other.
        """
        assert queues and idle_s > 0 and housekeeping_every_s > 0
        loop = asyncio.get_running_loop()
        next_housekeeping = 0.0
        wait_s = idle_s
        slots = asyncio.Semaphore(ROUNDS_IN_FLIGHT)
        rounds: set[asyncio.Task[list[Match]]] = set()

        def round_done(task: asyncio.Task[list[Match]]) -> None:
            rounds.discard(task)
            slots.release()
            if not task.cancelled() and (exc := task.exception()) is not None:
                self._throttle.warn("pairing_delivery_failed", exc)

        async def deliver_later(spec: QueueSpec, records: list[dict[str, Any]],
                                now: int) -> int:
            await slots.acquire()
            qk = self.keys.for_queue(spec)
            task = loop.create_task(self._deliver(spec, qk, records, now, redelivery=False))
            rounds.add(task)
            task.add_done_callback(round_done)
            return len(records)

        try:
            while not stop.is_set():
                self._joined.clear()
                made = 0
                try:
                    for spec in queues:
                        made += await self._pair_pass(spec, batch,
                                                      functools.partial(deliver_later, spec))
                    if loop.time() >= next_housekeeping:
                        next_housekeeping = loop.time() + housekeeping_every_s
                        if self._unsettled:
                            await self._settle_unsettled()
                        for spec in queues:
                            await self.expire_once(spec, limit=batch)
                            await self.recover_once(spec, limit=batch)
                    wait_s = idle_s
                except Exception as exc:  # Redis or the ledger is down: back off, log sparingly
                    self._throttle.warn("pairing_loop_failed", exc)
                    wait_s = min(LOOP_BACKOFF_MAX_S, wait_s * 2)
                if made == 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(wait_s):
                            await self._joined.wait()
        finally:
            # Rounds under way finish (each is bounded by its handlers); one cut short is
            # redelivered after its lease.
            if rounds:
                await asyncio.gather(*rounds, return_exceptions=True)


def _ticket(fields: dict[str, Any], spec: QueueSpec) -> Ticket:
    return Ticket(
        id=str(fields["id"]), user_id=str(fields["user"]), queue=spec,
        rating=int(fields["rating"]), created_ms=int(fields["created_ms"]),
        node=str(fields.get("node", "")), hold_id=str(fields["hold_id"]),
    )


def _avoid_text(rows: Iterable[Any]) -> str:
    """Recent opponents as the ticket carries them: `user=until_ms,...`."""
    return ",".join(f"{_text(uid)}={int(until)}" for uid, until in rows)


def _seat_json(seat: SeatReservation) -> dict[str, Any]:
    return {"room_id": seat.room_id, "user_id": seat.user_id, "ticket_id": seat.ticket_id,
            "expires_at_ms": seat.expires_at_ms}
