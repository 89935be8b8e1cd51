"""Matchmaking against real Redis with a manual clock: joining, leaving, pairing, seats."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from redis.asyncio import Redis

from matchmaking import (
    AlreadyQueued,
    GameNotOffered,
    HoldRefused,
    InvalidJoin,
    Match,
    Matchmaker,
    NotQueued,
    QueueFull,
    QueueSpec,
    StakeNotOffered,
)
from tests.matchmaking.support import InMemoryStakes, ManualClock, make_matchmaker

STAKE = 10_000
QUIZ = QueueSpec("quiz", "KES", STAKE)


async def test_join_holds_the_stake_and_queues_the_ticket(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    ticket = await mm.join("alice", "quiz", STAKE, "KES", rating=1200)
    assert money.balance("alice") == money.start_balance_minor - STAKE
    assert money.holds[ticket.hold_id] == ("alice", STAKE)
    assert await mm.queue_length(QUIZ) == 1
    assert await mm.ticket_of("alice") == ticket
    assert (ticket.rating, ticket.created_ms, ticket.stake_minor) == (1200, clock.now_ms, STAKE)


async def test_join_without_funds_fails_and_queues_nothing(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(
        redis, clock=clock, prefix=prefix, money=InMemoryStakes(start_balance_minor=STAKE - 1)
    )
    with pytest.raises(HoldRefused) as err:
        await mm.join("poor", "quiz", STAKE, "KES")
    assert err.value.code == "insufficient_funds"
    assert await mm.queue_length(QUIZ) == 0
    assert await mm.ticket_of("poor") is None
    money.balances["poor"] = STAKE  # after a deposit the same player may join at once
    await mm.join("poor", "quiz", STAKE, "KES")
    assert await mm.queue_length(QUIZ) == 1


@pytest.mark.parametrize(
    ("game", "stake", "currency", "rating", "error", "code"),
    [
        ("quiz", 12_345, "KES", 1000, StakeNotOffered, "stake_not_offered"),
        ("quiz", STAKE, "USD", 1000, StakeNotOffered, "stake_not_offered"),
        ("poker", STAKE, "KES", 1000, GameNotOffered, "game_not_offered"),
        ("quiz", STAKE, "KES", -1, InvalidJoin, "invalid_request"),
        ("quiz", STAKE, "KES", 10**9, InvalidJoin, "invalid_request"),
    ],
)
async def test_bad_join_is_refused_and_changes_nothing(
    redis: Redis, prefix: str, clock: ManualClock,
    game: str, stake: int, currency: str, rating: int, error: type[Exception], code: str,
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    with pytest.raises(error) as err:
        await mm.join("alice", game, stake, currency, rating)
    assert getattr(err.value, "code") == code  # noqa: B009
    assert money.hold_calls == 0
    assert await mm.ticket_of("alice") is None
    assert [k async for k in redis.scan_iter(match=f"{prefix}:*")] == []


async def test_bad_user_id_is_refused(redis: Redis, prefix: str, clock: ManualClock) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    for user in ("", "a,b", "x=1", "u" * 65):
        with pytest.raises(InvalidJoin):
            await mm.join(user, "quiz", STAKE, "KES")
    assert money.hold_calls == 0


async def test_full_queue_refuses_and_releases_the_hold(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix, max_queue_len=2,
                                window_start=0, window_max=0)
    await mm.join("u1", "quiz", STAKE, "KES", rating=1000)
    await mm.join("u2", "quiz", STAKE, "KES", rating=2000)
    with pytest.raises(QueueFull) as err:
        await mm.join("u3", "quiz", STAKE, "KES", rating=3000)
    assert err.value.code == "queue_full"
    assert money.balance("u3") == money.start_balance_minor
    assert await mm.ticket_of("u3") is None
    assert await mm.queue_length(QUIZ) == 2


async def test_a_player_cannot_queue_twice(redis: Redis, prefix: str, clock: ManualClock) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    first = await mm.join("alice", "quiz", STAKE, "KES")
    with pytest.raises(AlreadyQueued) as err:
        await mm.join("alice", "quiz", 50_000, "KES")  # not in another tier either
    assert err.value.code == "already_queued"
    assert await mm.ticket_of("alice") == first
    assert money.balance("alice") == money.start_balance_minor - STAKE


async def test_concurrent_joins_of_one_player_give_one_ticket_and_one_hold(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    results = await asyncio.gather(
        *(mm.join("alice", "quiz", STAKE, "KES") for _ in range(20)), return_exceptions=True
    )
    tickets = [r for r in results if not isinstance(r, BaseException)]
    assert len(tickets) == 1
    assert all(isinstance(r, AlreadyQueued) for r in results if r is not tickets[0])
    assert await mm.queue_length(QUIZ) == 1
    assert len(money.holds) == 1
    assert money.balance("alice") == money.start_balance_minor - STAKE


class _Barred(Exception):
    """A vetter's refusal (the server raises its limits errors here)."""


@dataclass
class _VettedStakes(InMemoryStakes):
    barred: set[str] = field(default_factory=set)
    vetted: list[str] = field(default_factory=list)

    async def vet(self, user_id: str, stake_minor: int, currency: str) -> None:
        self.vetted.append(user_id)
        if user_id in self.barred:
            raise _Barred(f"{user_id} may not stake {stake_minor} {currency}")


async def test_a_vetter_refusal_ends_the_join_before_money_moves_and_frees_the_claim(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    money = _VettedStakes(barred={"alice"})
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, money=money)
    with pytest.raises(_Barred):
        await mm.join("alice", "quiz", STAKE, "KES")
    assert money.hold_calls == 0 and not money.holds
    assert await redis.exists(mm.keys.user("alice")) == 0, "the claim is dropped again"
    assert await mm.queue_length(QUIZ) == 0
    money.barred.clear()
    ticket = await mm.join("alice", "quiz", STAKE, "KES")  # allowed now: joins at once
    assert await mm.ticket_of("alice") == ticket
    assert money.vetted == ["alice", "alice"]


async def test_already_queued_wins_over_a_vetter_refusal(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    money = _VettedStakes()
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, money=money)
    first = await mm.join("alice", "quiz", STAKE, "KES")
    money.barred.add("alice")
    with pytest.raises(AlreadyQueued):
        await mm.join("alice", "quiz", STAKE, "KES")
    assert await mm.ticket_of("alice") == first, "the waiting ticket keeps its claim"
    assert len(money.holds) == 1


async def test_leave_voids_the_hold_and_frees_the_player(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    ticket = await mm.join("alice", "quiz", STAKE, "KES")
    left = await mm.leave("alice")
    assert left == ticket
    assert money.balance("alice") == money.start_balance_minor
    assert money.released[ticket.id] == 1
    assert await mm.queue_length(QUIZ) == 0
    with pytest.raises(NotQueued) as err:
        await mm.leave("alice")
    assert err.value.code == "not_queued"
    assert money.released[ticket.id] == 1
    await mm.join("alice", "quiz", STAKE, "KES")  # free to queue again


async def test_two_players_pair_into_one_room_with_one_time_seats(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    seen: list[Match] = []

    async def on_match(match: Match) -> None:
        seen.append(match)

    async def place(spec: QueueSpec, room_id: str) -> str:
        return f"http://node-for-{spec.game}"

    mm, money = make_matchmaker(
        redis, clock=clock, prefix=prefix, on_match=on_match, placer=place
    )
    a = await mm.join("alice", "quiz", STAKE, "KES", 1000)
    b = await mm.join("bob", "quiz", STAKE, "KES", 1020)
    matches = await mm.pair_once(QUIZ)
    assert matches == seen and len(matches) == 1
    match = matches[0]
    assert {t.id for t in match.tickets} == {a.id, b.id}
    assert {t.hold_id for t in match.tickets} == {a.hold_id, b.hold_id}
    assert {r.user_id for r in match.reservations} == {"alice", "bob"}
    assert {r.room_id for r in match.reservations} == {match.room_id}
    assert {r.node_url for r in match.reservations} == {"http://node-for-quiz"}
    assert all(r.expires_at_ms == clock.now_ms + 60_000 for r in match.reservations)
    assert await mm.queue_length(QUIZ) == 0
    assert len(money.holds) == 2  # stakes stay held for the room to settle
    seat = match.reservations[0]
    claim = await mm.consume_seat(seat.seat_token)
    assert claim is not None
    assert (claim.room_id, claim.user_id, claim.ticket_id) == (
        match.room_id, seat.user_id, seat.ticket_id)
    assert await mm.consume_seat(seat.seat_token) is None
    assert await mm.consume_seat("not-a-real-token") is None
    # once paired, both players are free to queue again
    await mm.join("alice", "quiz", STAKE, "KES")
    with pytest.raises(NotQueued):
        await mm.leave("bob")


async def test_an_expired_seat_token_is_refused(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, seat_ttl_s=30)
    await mm.join("alice", "quiz", STAKE, "KES")
    await mm.join("bob", "quiz", STAKE, "KES")
    [match] = await mm.pair_once(QUIZ)
    clock.advance(30_001)
    assert await mm.consume_seat(match.reservations[0].seat_token) is None


async def test_a_300_point_gap_pairs_only_after_enough_waiting(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    # window = 50 + 350 * waited_ms // 60_000: it first reaches 300 at 42_858 ms
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    assert mm.config.window_for(42_857) == 299 and mm.config.window_for(42_858) == 300
    await mm.join("low", "quiz", STAKE, "KES", 1000)
    await mm.join("high", "quiz", STAKE, "KES", 1300)
    assert await mm.pair_once(QUIZ) == []
    clock.advance(42_857)
    assert await mm.pair_once(QUIZ) == []
    clock.advance(1)
    [match] = await mm.pair_once(QUIZ)
    assert {t.user_id for t in match.tickets} == {"low", "high"}


async def test_both_windows_must_accept_the_gap(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    await mm.join("veteran", "quiz", STAKE, "KES", 1000)
    clock.advance(60_000)  # the veteran now accepts ±400
    await mm.join("newcomer", "quiz", STAKE, "KES", 1200)  # accepts only ±50
    assert await mm.pair_once(QUIZ) == []
    clock.advance(25_714)  # 50 + 350 * 25_714 // 60_000 = 199
    assert await mm.pair_once(QUIZ) == []
    clock.advance(1)  # 200
    assert len(await mm.pair_once(QUIZ)) == 1


async def test_the_oldest_ticket_goes_first_with_its_closest_opponent(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    await mm.join("first", "quiz", STAKE, "KES", 1000)
    clock.advance(1_000)
    await mm.join("far", "quiz", STAKE, "KES", 1040)
    await mm.join("near", "quiz", STAKE, "KES", 990)
    await mm.join("other", "quiz", STAKE, "KES", 1045)
    first, second = await mm.pair_once(QUIZ)
    assert {t.user_id for t in first.tickets} == {"first", "near"}
    assert {t.user_id for t in second.tickets} == {"far", "other"}


async def test_a_player_never_meets_themself(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    # If the per-user guard is lost (say, evicted from Redis), the pairing script still refuses.
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    await mm.join("alice", "quiz", STAKE, "KES")
    await redis.delete(mm.keys.user("alice"))
    await mm.join("alice", "quiz", STAKE, "KES")
    assert await mm.queue_length(QUIZ) == 2
    assert await mm.pair_once(QUIZ) == []
    await mm.join("bob", "quiz", STAKE, "KES")
    [match] = await mm.pair_once(QUIZ)
    assert {t.user_id for t in match.tickets} == {"alice", "bob"}


async def test_recent_opponents_are_avoided_for_the_configured_time(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, avoid_recent_s=600)
    await mm.join("alice", "quiz", STAKE, "KES")
    await mm.join("bob", "quiz", STAKE, "KES")
    assert len(await mm.pair_once(QUIZ)) == 1
    clock.advance(1_000)
    await mm.join("alice", "quiz", STAKE, "KES")
    await mm.join("bob", "quiz", STAKE, "KES")
    assert await mm.pair_once(QUIZ) == []
    await mm.join("carol", "quiz", STAKE, "KES")
    [match] = await mm.pair_once(QUIZ)
    assert "carol" in {t.user_id for t in match.tickets}
    left_over = "bob" if "alice" in {t.user_id for t in match.tickets} else "alice"
    await mm.leave(left_over)
    clock.advance(600_000)  # the rematch window has passed
    await mm.join(left_over, "quiz", STAKE, "KES")
    await mm.join("dave", "quiz", STAKE, "KES")
    assert len(await mm.pair_once(QUIZ)) == 1


async def test_rematches_are_allowed_when_the_rule_is_off(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    for _ in range(2):
        await mm.join("alice", "quiz", STAKE, "KES")
        await mm.join("bob", "quiz", STAKE, "KES")
        assert len(await mm.pair_once(QUIZ)) == 1


async def test_leave_racing_a_pairing_has_exactly_one_winner(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, money = make_matchmaker(redis, clock=clock, prefix=prefix)
    paired = left = 0
    for round_no in range(40):
        a, b = f"a{round_no}", f"b{round_no}"
        await mm.join(a, "quiz", STAKE, "KES")
        tb = await mm.join(b, "quiz", STAKE, "KES")
        matches, leave = await asyncio.gather(
            mm.pair_once(QUIZ), mm.leave(b), return_exceptions=True
        )
        assert isinstance(matches, list)
        if isinstance(leave, NotQueued):
            assert len(matches) == 1 and money.released[tb.id] == 0
            assert tb.hold_id in money.holds
            paired += 1
        else:
            assert leave == tb and matches == []
            assert money.released[tb.id] == 1 and tb.hold_id not in money.holds
            await mm.leave(a)
            left += 1
    assert paired + left == 40
    assert await mm.queue_length(QUIZ) == 0


def _failing_once(calls: list[str]) -> Callable[[Match], Awaitable[None]]:
    """A match handler that fails the first delivery (the room service was down), then works."""

    async def handler(match: Match) -> None:
        calls.append(match.room_id)
        if len(calls) == 1:
            raise RuntimeError("room service unavailable")

    return handler


async def _paired_with_a_failed_handler(
    redis: Redis, clock: ManualClock, prefix: str
) -> tuple[Matchmaker, list[str], Match]:
    """alice and bob paired once, its first delivery failed (lease 30 s): not acknowledged."""
    calls: list[str] = []
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, on_match=_failing_once(calls),
                            lease_s=30)
    await mm.join("alice", "quiz", STAKE, "KES")
    await mm.join("bob", "quiz", STAKE, "KES")
    [match] = await mm.pair_once(QUIZ)
    return mm, calls, match


async def test_a_delivered_pairing_drops_both_claims_so_the_next_join_is_not_slowed(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix)
    await mm.join("alice", "quiz", STAKE, "KES")
    await mm.join("bob", "quiz", STAKE, "KES")
    assert await redis.exists(mm.keys.user("alice"), mm.keys.user("bob")) == 2
    [_match] = await mm.pair_once(QUIZ)
    assert await redis.exists(mm.keys.user("alice"), mm.keys.user("bob")) == 0
    again = await mm.join("alice", "quiz", STAKE, "KES")
    assert await mm.ticket_of("alice") == again


async def test_a_late_redelivery_leaves_the_players_newer_claim_alone(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, calls, match = await _paired_with_a_failed_handler(redis, clock, prefix)
    assert await redis.exists(mm.keys.user("alice")) == 1, "not delivered: still claimed"
    clock.advance(61_000)  # past the lease and the claim's grace: alice queues again
    newer = await mm.join("alice", "quiz", 50_000, "KES")
    assert await mm.recover_once(QUIZ) == 1
    assert calls == [match.room_id, match.room_id]
    assert await mm.ticket_of("alice") == newer, "the old pairing's ack kept the new claim"
    with pytest.raises(AlreadyQueued):
        await mm.join("alice", "quiz", STAKE, "KES")


async def test_a_failed_match_handler_is_redelivered_after_the_lease(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    mm, calls, match = await _paired_with_a_failed_handler(redis, clock, prefix)
    assert await mm.recover_once(QUIZ) == 0  # still within the lease
    clock.advance(30_001)
    assert await mm.recover_once(QUIZ) == 1
    assert calls == [match.room_id, match.room_id]
    clock.advance(30_001)
    assert await mm.recover_once(QUIZ) == 0  # acknowledged: never again


async def test_the_pairing_loop_pairs_joins_as_they_arrive(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    got: asyncio.Queue[Match] = asyncio.Queue(maxsize=10)

    async def on_match(match: Match) -> None:
        got.put_nowait(match)

    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, on_match=on_match)
    async with _pairing_loop(mm):
        await mm.join("alice", "quiz", STAKE, "KES")
        await mm.join("bob", "quiz", STAKE, "KES")
        match = await asyncio.wait_for(got.get(), 10)
        assert {t.user_id for t in match.tickets} == {"alice", "bob"}


@contextlib.asynccontextmanager
async def _pairing_loop(mm: Matchmaker) -> AsyncIterator[None]:
    """The matchmaker's pairing loop on QUIZ for the block, stopped (and awaited) after."""
    stop = asyncio.Event()
    loop_task = asyncio.create_task(mm.run_pairing_loop([QUIZ], stop, idle_s=0.02))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(loop_task, 10)


async def test_a_slow_handover_does_not_hold_up_the_next_pairing(
    redis: Redis, prefix: str, clock: ManualClock
) -> None:
    """The loop pairs whoever joined while an earlier round is still being handed over;
    the held-up round still completes and is acknowledged once its handler returns."""
    release = asyncio.Event()
    got: asyncio.Queue[Match] = asyncio.Queue(maxsize=10)

    async def on_match(match: Match) -> None:
        if "alice" in {t.user_id for t in match.tickets}:
            await release.wait()  # e.g. a Redis or Postgres stall on this one room
        got.put_nowait(match)

    mm, _ = make_matchmaker(redis, clock=clock, prefix=prefix, on_match=on_match)
    async with _pairing_loop(mm):
        try:
            await mm.join("alice", "quiz", STAKE, "KES")
            await mm.join("bob", "quiz", STAKE, "KES")
            await asyncio.sleep(0.1)  # alice and bob are paired; their handover is stuck
            assert got.empty()
            await mm.join("carol", "quiz", STAKE, "KES")
            await mm.join("dave", "quiz", STAKE, "KES")
            match = await asyncio.wait_for(got.get(), 10)
            assert {t.user_id for t in match.tickets} == {"carol", "dave"}
        finally:
            release.set()  # the stuck handover ends either way, so the loop can stop
        match = await asyncio.wait_for(got.get(), 10)
        assert {t.user_id for t in match.tickets} == {"alice", "bob"}
    clock.advance(30_001)
    assert await mm.recover_once(QUIZ) == 0  # both rounds acknowledged: no redelivery
