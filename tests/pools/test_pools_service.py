"""Pools on real Postgres and Redis with a manual clock: bets, grading, settlement, buy-back,
prizes (docs/pools.md)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.features.pools import settle
from server.features.pools.errors import PoolError
from server.features.pools.events import Offer, set_result
from tests.pools.helpers import (
    HOUR,
    credits,
    drawn_week,
    event,
    selection,
    set_time,
    svc_of,
)


async def test_draw_of_250_players_makes_three_pools_with_1000_credits_each(
    pools_server: Any,
) -> None:
    svc = svc_of(pools_server)
    week, players = await drawn_week(pools_server, 250)
    sizes = [r["size"] for r in await svc.pool.fetch(
        "SELECT size FROM pool_pools WHERE week_id = $1 ORDER BY number", week.id)]
    assert sizes == [84, 83, 83]
    row = await svc.pool.fetchrow("SELECT state, seed, players FROM pool_weeks WHERE id = $1",
                                  week.id)
    assert row["state"] == "grouped" and len(row["seed"]) == 32 and row["players"] == 250
    assert await credits(pools_server, week, players[0][0]) == 1000
    assert not await svc.run_draw(week)  # once
    assert await credits(pools_server, week, players[0][0]) == 1000


async def test_bet_at_start_time_refused_one_second_earlier_accepted(pools_server: Any) -> None:
    svc = svc_of(pools_server)
    week, [(user, _)] = await drawn_week(pools_server, 1)
    ev = await event(pools_server, week, starts_h=10)
    sel = selection(ev, "moneyline", "away")
    set_time(pools_server, ev["commence_ms"])
    with pytest.raises(PoolError) as refused:
        await svc.place_bet(user, sel, 100, "at-start")
    assert refused.value.code == "event_started"
    set_time(pools_server, ev["commence_ms"] - 1000)
    bet, replayed = await svc.place_bet(user, sel, 100, "one-second-early")
    assert not replayed and bet["odds"] == 130 and bet["potential_return"] == 230
    again, replayed = await svc.place_bet(user, sel, 100, "one-second-early")
    assert replayed and again["id"] == bet["id"]
    assert await credits(pools_server, week, user) == 900
    with pytest.raises(PoolError) as conflict:
        await svc.place_bet(user, sel, 50, "one-second-early")
    assert conflict.value.code == "idempotency_conflict"
    for stake in (9, 1001):
        with pytest.raises(PoolError) as out_of_range:
            await svc.place_bet(user, sel, stake, f"range-{stake}")
        assert out_of_range.value.code == "stake_out_of_range"
    set_time(pools_server, ev["commence_ms"] - 2000)
    await svc.place_bet(user, sel, 1000 - 100, "all-in")
    with pytest.raises(PoolError) as broke:
        await svc.place_bet(user, sel, 10, "too-much")
    assert broke.value.code == "not_enough_credits"
    # settle it so the week's books close
    set_time(pools_server, ev["commence_ms"] + 3 * HOUR)
    await set_result(svc, ev["id"], "final", 1, 2)
    await settle.settle_event(svc, uuid.UUID(ev["id"]))
    assert await credits(pools_server, week, user) == 230 + 2070  # 900 at +130 -> 2070


GRADING_CASES = [
    # (market, side, stake, (home, away) or status, expected return) with -150/+130/-110/+250
    ("moneyline", "home", 150, (2, 1), 250),
    ("moneyline", "away", 100, (2, 1), 0),
    ("moneyline", "away", 100, (1, 2), 230),
    ("moneyline", "home", 100, (1, 1), 100),   # two-way tie: push
    ("spread", "home", 110, (24, 20), 210),    # -3.5 covers
    ("spread", "home", 110, (22, 20), 0),
    ("spread", "away", 110, (22, 20), 210),    # underdog +3.5
    ("spread", "away", 110, (24, 20), 0),
    ("total", "over", 110, (30, 20), 210),
    ("total", "under", 110, (30, 20), 0),
    ("total", "over", 110, (24, 20), 110),     # 44 on the line: push
    ("total", "under", 55, (24, 20), 55),
    ("moneyline", "home", 77, "postponed", 77),
    ("total", "over", 99, "cancelled", 99),
]


@pytest.mark.parametrize("market, side, stake, result, back", GRADING_CASES)
async def test_every_grading_case_returns_exact_credits(
    pools_server: Any, market: str, side: str, stake: int, result: Any, back: int,
) -> None:
    svc = svc_of(pools_server)
    week, [(user, _)] = await drawn_week(pools_server, 1)
    ev = await event(pools_server, week)
    await svc.place_bet(user, selection(ev, market, side), stake, "k")
    set_time(pools_server, ev["commence_ms"] + 3 * HOUR)
    if isinstance(result, tuple):
        await set_result(svc, ev["id"], "final", *result)
    else:
        await set_result(svc, ev["id"], result, None, None)
    assert await settle.settle_event(svc, uuid.UUID(ev["id"])) == 1
    assert await credits(pools_server, week, user) == 1000 - stake + back


async def test_three_way_moneyline_draw_and_spread_push_on_whole_line(pools_server: Any) -> None:
    svc = svc_of(pools_server)
    week, [(a, _), (b, _)] = await drawn_week(pools_server, 2)
    ev = await event(pools_server, week, three_way=True, offers=[
        Offer("moneyline", "home", None, 120), Offer("moneyline", "away", None, 200),
        Offer("spread", "home", -3.0, -105), Offer("spread", "away", 3.0, -115)])
    await svc.place_bet(a, selection(ev, "moneyline", "draw"), 100, "d")
    await svc.place_bet(b, selection(ev, "moneyline", "home"), 100, "h")
    await svc.place_bet(a, selection(ev, "spread", "home"), 105, "s")
    set_time(pools_server, ev["commence_ms"] + 3 * HOUR)
    await set_result(svc, ev["id"], "final", 1, 1)
    await settle.settle_event(svc, uuid.UUID(ev["id"]))
    assert await credits(pools_server, week, a) == 1000 - 205 + 350 + 0  # draw +250; -3 lost
    assert await credits(pools_server, week, b) == 900


async def test_settlement_twice_changes_nothing_and_a_correction_reverses(
    pools_server: Any,
) -> None:
    svc = svc_of(pools_server)
    week, players = await drawn_week(pools_server, 30)
    ev = await event(pools_server, week)
    home, away = selection(ev, "moneyline", "home"), selection(ev, "moneyline", "away")
    for i, (user, _) in enumerate(players):
        await svc.place_bet(user, home if i % 2 else away, 150, "k")
    set_time(pools_server, ev["commence_ms"] + 3 * HOUR)
    await set_result(svc, ev["id"], "final", 3, 0)
    assert await settle.settle_event(svc, uuid.UUID(ev["id"])) == 30
    before = [await credits(pools_server, week, u) for u, _ in players]
    transfers = await svc.pool.fetchval("SELECT count(*) FROM transfers")
    assert await settle.settle_event(svc, uuid.UUID(ev["id"])) == 0
    assert await settle.settle_pending(svc) == 0
    assert [await credits(pools_server, week, u) for u, _ in players] == before
    assert await svc.pool.fetchval("SELECT count(*) FROM transfers") == transfers
    assert before[1] == 1000 - 150 + 250 and before[0] == 850
    # the result was wrong: 0-3. Home backers give back 250 (they hold 1100); away win 345.
    await set_result(svc, ev["id"], "final", 0, 3)
    assert await settle.settle_event(svc, uuid.UUID(ev["id"])) == 30
    after = [await credits(pools_server, week, u) for u, _ in players]
    assert after[1] == 850 and after[0] == 850 + 345
    progress = await settle.progress(svc)
    mine = [p for p in progress if p["event_id"] == ev["id"]]
    assert {p["version"] for p in mine} == {1, 2}
    assert all(p["state"] == "done" and p["members_done"] == 30 for p in mine)


async def test_a_correction_never_takes_more_than_the_member_holds(pools_server: Any) -> None:
    svc = svc_of(pools_server)
    week, [(user, _)] = await drawn_week(pools_server, 1)
    first = await event(pools_server, week, starts_h=10)
    second = await event(pools_server, week, starts_h=20)
    await svc.place_bet(user, selection(first, "moneyline", "away"), 1000, "a")  # +130
    set_time(pools_server, first["commence_ms"] + HOUR)
    await set_result(svc, first["id"], "final", 0, 1)
    await settle.settle_event(svc, uuid.UUID(first["id"]))
    assert await credits(pools_server, week, user) == 2300
    await svc.place_bet(user, selection(second, "moneyline", "home"), 1000, "b")
    await svc.place_bet(user, selection(second, "moneyline", "away"), 1000, "c")
    await set_result(svc, first["id"], "final", 1, 0)  # corrected: the bet lost
    await settle.settle_event(svc, uuid.UUID(first["id"]))
    assert await credits(pools_server, week, user) == 0
    forgiven = await svc.pool.fetchval(
        "SELECT forgiven FROM pool_members WHERE week_id = $1", week.id)
    assert forgiven == 2300 - 300
    set_time(pools_server, second["commence_ms"] + HOUR)
    await set_result(svc, second["id"], "postponed", None, None)
    await settle.settle_event(svc, uuid.UUID(second["id"]))
    assert await credits(pools_server, week, user) == 2000


async def test_buyback_once_at_zero_and_not_after_friday(pools_server: Any) -> None:
    from server.features.pools import payments

    svc = svc_of(pools_server)
    week, [(a, _), (b, _), (c, _)] = await drawn_week(pools_server, 3)
    ev = await event(pools_server, week, starts_h=24 * 6)  # Sunday
    with pytest.raises(PoolError) as above_zero:
        await payments.start_purchase(svc, a, "buyback", "wallet", "bb1")
    assert above_zero.value.code == "buyback_not_at_zero"
    for user in (a, b, c):
        await svc.place_bet(user, selection(ev, "moneyline", "home"), 1000, "all")
    out = await payments.start_purchase(svc, a, "buyback", "wallet", "bb1")
    assert out["state"] == "paid"
    assert await credits(pools_server, week, a) == 1000
    assert (await payments.start_purchase(svc, a, "buyback", "wallet", "bb1"))["id"] == out["id"]
    await svc.place_bet(a, selection(ev, "moneyline", "home"), 1000, "again")
    with pytest.raises(PoolError) as twice:
        await payments.start_purchase(svc, a, "buyback", "wallet", "bb2")
    assert twice.value.code == "buyback_used"
    set_time(pools_server, week.buyback_until_ms - 1)  # Friday 23:59:59.999 New York
    assert (await payments.start_purchase(svc, b, "buyback", "wallet", "bb"))["state"] == "paid"
    set_time(pools_server, week.buyback_until_ms)  # Saturday 00:00
    with pytest.raises(PoolError) as late:
        await payments.start_purchase(svc, c, "buyback", "wallet", "bb")
    assert late.value.code == "buyback_closed"
    assert await credits(pools_server, week, c) == 0
    set_time(pools_server, ev["commence_ms"] + HOUR)
    await set_result(svc, ev["id"], "cancelled", None, None)
    await settle.settle_event(svc, uuid.UUID(ev["id"]))


async def test_prizes_with_ties_are_paid_once_and_big_ones_wait_for_a_check(
    pools_server: Any,
) -> None:
    svc = svc_of(pools_server)
    week, players = await drawn_week(pools_server, 5)
    ev = await event(pools_server, week)
    # bankrolls: 1100, 1100, 1000, 1000, 850 -> ranks 1, 1, 3, 3, 5
    home = selection(ev, "moneyline", "home")  # -150
    for user, _ in players[:2]:
        await svc.place_bet(user, home, 150, "w")
    await svc.place_bet(players[4][0], selection(ev, "moneyline", "away"), 150, "l")
    set_time(pools_server, ev["commence_ms"] + HOUR)
    await set_result(svc, ev["id"], "final", 2, 0)
    await settle.settle_event(svc, uuid.UUID(ev["id"]))
    old_cfg = svc.cfg
    svc.cfg = old_cfg.model_copy(update={
        "prize_table": '[{"place": 1, "amount_minor": 3000001}, {"place": 2, "amount_minor":'
                       ' 1000000}, {"place": 3, "amount_minor": 500001}]',
        "prize_check_above_minor": 1_000_000})
    try:
        assert not await svc.finalize(week)  # the week has not ended
        set_time(pools_server, week.end_ms)
        wallet = [await _wallet(pools_server, u) for u, _ in players]
        assert await svc.finalize(week)
        assert not await svc.finalize(week)
    finally:
        svc.cfg = old_cfg
    prizes = {str(r["user_id"]): r for r in await svc.pool.fetch(
        "SELECT * FROM pool_prizes WHERE week_id = $1", week.id)}
    tied_first = [u for u, _ in players[:2]]
    assert {prizes[u]["amount_minor"] for u in tied_first} == {2_000_000}  # (3000001+1000000)/2
    assert all(prizes[u]["state"] == "held" for u in tied_first)
    third = [u for u, _ in players[2:4]]
    assert [prizes[u]["amount_minor"] for u in third] == [250_000, 250_000]
    assert [prizes[u]["state"] for u in third] == ["paid", "paid"]
    assert players[4][0] not in prizes
    assert [await _wallet(pools_server, u) for u in third] == [wallet[2] + 250_000,
                                                              wallet[3] + 250_000]
    assert await _wallet(pools_server, tied_first[0]) == wallet[0]
    pool_id = str(prizes[tied_first[0]]["pool_id"])
    paid = await svc.approve_prize(pool_id, tied_first[0], "checker")
    assert paid["state"] == "paid"
    await svc.approve_prize(pool_id, tied_first[0], "checker")
    assert await _wallet(pools_server, tied_first[0]) == wallet[0] + 2_000_000
    ranks = [r["rank"] for r in await svc.pool.fetch(
        "SELECT rank FROM pool_standings WHERE pool_id = $1 ORDER BY rank", uuid.UUID(pool_id))]
    assert ranks == [1, 1, 3, 3, 5]


async def _wallet(server: Any, user_id: str) -> int:
    from ledger import user_account

    bal = await server.state.ledger.balance(user_account(user_id), server.state.settings.currency)
    return int(bal.available_minor)
