"""Every path but the happy one, on a manual clock, against the real ledger and Postgres.

Each match is a real accepted challenge (both stakes held in the acceptance
transaction); its room runs here on a ManualClock and settles through the
wagers feature's settler, so money, ratings, stats and reliability are the
production code's. After each: the books balance and no hold is left.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rooms.api import Outcome
from rooms.errors import GameError, RoomError
from rooms.games.wager.settings import MINUTE_MS
from tests.server.test_admin import admin_session
from tests.support import LiveServer
from tests.wagers.helpers import (
    PAYOUT,
    STAKE,
    ManualMatch,
    available,
    holds_left,
    manual_match,
    svc_of,
)

READY_MS = 15 * MINUTE_MS
PLAY_MS = 120 * MINUTE_MS
CONFIRM_MS = 30 * MINUTE_MS


async def _books_clean(server: LiveServer, mm: ManualMatch) -> None:
    await mm.room.wait_closed()
    assert await holds_left(server, mm.room_id) == 0
    await server.state.ledger.check_invariants()


async def _reliability(server: LiveServer, user_id: str) -> int:
    return int(await server.state.pool.fetchval(
        "SELECT reliability FROM wager_profiles WHERE user_id = $1", user_id))


async def _status(server: LiveServer, room_id: str) -> Any:
    return await server.state.pool.fetchrow(
        "SELECT status, result, winner::text AS winner, rated FROM wager_matches"
        " WHERE room_id = $1", room_id)


def _bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {session['access_token']}"}


async def test_a_no_show_refunds_both_and_costs_the_no_show_reliability(
    wager_server: LiveServer, pool: Any,
) -> None:
    mm = await manual_match(wager_server)
    await mm.say(mm.a, "wager_ready")
    await mm.clock.advance(READY_MS - 1)
    assert mm.game.phase == "ready_check"
    await mm.clock.advance(1)
    result = mm.rb.of("wager_result")[0]
    assert result["refunded"] and result["result"] == "no_show"
    assert await available(wager_server, mm.a.id) == 10_000
    assert await available(wager_server, mm.b.id) == 10_000
    assert await _reliability(wager_server, mm.b.id) == 90
    assert await _reliability(wager_server, mm.a.id) == 100
    assert (await _status(wager_server, mm.room_id))["status"] == "settled"
    await _books_clean(wager_server, mm)


async def _both_ready(mm: ManualMatch) -> None:
    await mm.say(mm.a, "wager_ready")
    await mm.say(mm.b, "wager_ready")
    assert mm.game.phase == "playing"


@pytest.mark.parametrize("claim", ["won", "lost"])
async def test_one_report_then_silence_stands_after_the_confirm_window(
    wager_server: LiveServer, pool: Any, claim: str,
) -> None:
    mm = await manual_match(wager_server)
    await _both_ready(mm)
    await mm.clock.advance(10 * MINUTE_MS)
    await mm.say(mm.a, "wager_report", result=claim, score="3-2" if claim == "won" else "2-3")
    assert mm.rb.of("wager_reported")[0]["confirm_deadline_ms"] == mm.clock.now_ms() + CONFIRM_MS
    await mm.clock.advance(CONFIRM_MS - 1)
    assert mm.game.phase == "reported"
    await mm.clock.advance(1)
    winner, loser = (mm.a, mm.b) if claim == "won" else (mm.b, mm.a)
    result = mm.ra.of("wager_result")[0]
    assert result["winner"] == winner.id and result["result"] == "confirmed"
    assert await available(wager_server, winner.id) == 10_000 - STAKE + PAYOUT
    assert await available(wager_server, loser.id) == 10_000 - STAKE
    assert (await _status(wager_server, mm.room_id))["rated"]
    await _books_clean(wager_server, mm)


async def test_nobody_reports_voids_and_refunds_both(wager_server: LiveServer, pool: Any) -> None:
    mm = await manual_match(wager_server)
    await _both_ready(mm)
    await mm.clock.advance(PLAY_MS)
    result = mm.ra.of("wager_result")[0]
    assert result["refunded"] and result["result"] == "no_report"
    assert await available(wager_server, mm.a.id) == 10_000
    assert await available(wager_server, mm.b.id) == 10_000
    await _books_clean(wager_server, mm)


async def test_mutual_cancel_before_any_report_refunds(wager_server: LiveServer, pool: Any) -> None:
    mm = await manual_match(wager_server)
    await _both_ready(mm)
    await mm.say(mm.a, "wager_cancel")
    assert mm.rb.of("wager_cancel_requested")[0]["user_id"] == mm.a.id
    assert mm.game.phase == "playing", "one cancel is only a request"
    await mm.say(mm.b, "wager_cancel")
    result = mm.ra.of("wager_result")[0]
    assert result["refunded"] and result["result"] == "cancelled"
    assert await available(wager_server, mm.a.id) == 10_000
    await _books_clean(wager_server, mm)


async def test_a_cancel_after_a_report_is_refused(wager_server: LiveServer, pool: Any) -> None:
    mm = await manual_match(wager_server)
    await _both_ready(mm)
    await mm.say(mm.a, "wager_report", result="won")
    with pytest.raises(GameError) as err:
        await mm.say(mm.b, "wager_cancel")
    assert err.value.code == "not_cancellable"
    await mm.say(mm.b, "wager_report", result="lost")
    await _books_clean(wager_server, mm)


async def test_conflicting_reports_go_to_dispute_and_the_ruling_settles_once(
    wager_server: LiveServer, pool: Any,
) -> None:
    server = wager_server
    svc = svc_of(server)
    mm = await manual_match(server)
    await _both_ready(mm)
    await mm.say(mm.a, "wager_chat", text="gg, invite me")
    await mm.say(mm.a, "wager_report", result="won", score="3-0")
    await mm.say(mm.b, "wager_report", result="won", score="3-1")
    assert mm.game.phase == "disputed"
    assert mm.ra.of("wager_disputed")[0]["reason"] == "conflicting_reports"
    await mm.clock.advance(24 * 60 * MINUTE_MS)
    assert mm.game.phase == "disputed", "a dispute waits for an admin, however long"
    assert (await _status(server, mm.room_id))["status"] == "disputed"
    async with server.http() as http:
        one = _bearer(await admin_session(http, server, "operator"))
        two = _bearer(await admin_session(http, server, "operator"))
        queue = (await http.get("/admin/wagers/disputes?limit=200", headers=one)).json()["items"]
        mine = next(d for d in queue if d["room_id"] == mm.room_id)
        assert [d["opened_at"] for d in queue] == sorted(d["opened_at"] for d in queue)
        did = mine["id"]
        case = (await http.get(f"/admin/wagers/disputes/{did}", headers=one)).json()
        assert case["player_a"] == mm.a.id and set(case["reports"]) == {mm.a.id, mm.b.id}
        assert case["chat"][0]["text"] == "gg, invite me"
        assert set(case["histories"]) == {mm.a.id, mm.b.id}
        refused = await http.post(f"/admin/wagers/disputes/{did}/rule", headers=one,
                                  json={"ruling": "winner_b", "reason": "x"})
        assert refused.json()["code"] == "dispute_not_claimed"
        claims = await asyncio.gather(
            http.post(f"/admin/wagers/disputes/{did}/claim", headers=one),
            http.post(f"/admin/wagers/disputes/{did}/claim", headers=two))
        codes = sorted(c.status_code for c in claims)
        assert codes == [200, 409], "never two admins on one case"
        claimant = one if claims[0].status_code == 200 else two
        other = two if claimant is one else one
        note = await http.post(f"/admin/wagers/disputes/{did}/notes", headers=claimant,
                               json={"body": "b's clip shows the final kill"})
        assert note.status_code == 201
        ruled = await asyncio.gather(*(
            http.post(f"/admin/wagers/disputes/{did}/rule", headers=h,
                      json={"ruling": "winner_b", "reason": "video shows b winning 3-1"})
            for h in (claimant, claimant, other)))
        assert sorted(r.status_code for r in ruled) == [200, 409, 409]
    # The room is this test's (manual clock), so the recorded ruling is delivered to it here.
    answer = await svc.deliver_ruling(mm.room_id, room=mm.room)
    assert answer is not None and answer["winner"] == mm.b.id
    assert await svc.deliver_ruling(mm.room_id, room=mm.room) is None, "settled once"
    for rec in (mm.ra, mm.rb):
        result = rec.of("wager_result")[0]
        assert result["winner"] == mm.b.id and result["reason"] == "video shows b winning 3-1"
    assert await available(server, mm.b.id) == 10_000 - STAKE + PAYOUT
    assert await available(server, mm.a.id) == 10_000 - STAKE
    assert await _reliability(server, mm.a.id) == 75, "a claim proven false costs reliability"
    lost = await server.state.pool.fetchval(
        "SELECT disputes_lost FROM wager_ratings WHERE user_id = $1", mm.a.id)
    assert lost == 1
    told = await server.state.pool.fetch(
        "SELECT recipient, payload FROM outbox WHERE kind = 'wager_dispute_ruled'"
        " AND payload->>'room_id' = $1", mm.room_id)
    assert {r["recipient"] for r in told} == {mm.a.id, mm.b.id}
    assert all("video shows b winning" in r["payload"]["text"] for r in told)
    audited = await server.state.pool.fetch(
        "SELECT action FROM audit_log WHERE target = $1 ORDER BY id", f"wager:{mm.room_id}")
    assert [r["action"] for r in audited] == ["wager.dispute.claim", "wager.dispute.rule"]
    await _books_clean(server, mm)


async def test_a_report_racing_the_confirm_deadline_settles_once(
    wager_server: LiveServer, pool: Any,
) -> None:
    mm = await manual_match(wager_server)
    await _both_ready(mm)
    await mm.say(mm.a, "wager_report", result="won")
    late = asyncio.ensure_future(mm.say(mm.b, "wager_report", result="lost"))
    await mm.clock.advance(CONFIRM_MS)
    try:
        await late  # applied before the deadline (agreeing: a wins) or refused after it
    except RoomError as exc:
        assert exc.code in ("wager_over", "room_closed")
    await mm.room.wait_closed()
    results = mm.ra.of("wager_result")
    assert len(results) == 1 and results[0]["winner"] == mm.a.id
    payouts = await wager_server.state.pool.fetchval(
        "SELECT count(*) FROM transfers WHERE code = 'payout' AND meta->>'room_id' = $1",
        mm.room_id)
    assert payouts == 1
    changes = await wager_server.state.pool.fetchval(
        "SELECT count(*) FROM wager_rating_changes WHERE room_id = $1", mm.room_id)
    assert changes == 2
    await _books_clean(wager_server, mm)


async def test_replaying_a_settlement_changes_no_rating(
    wager_server: LiveServer, pool: Any,
) -> None:
    svc = svc_of(wager_server)
    mm = await manual_match(wager_server)
    await _both_ready(mm)
    await mm.say(mm.a, "wager_report", result="won")
    await mm.say(mm.b, "wager_report", result="lost")
    await mm.room.wait_closed()

    async def ratings() -> list[Any]:
        return [tuple(r) for r in await wager_server.state.pool.fetch(
            "SELECT user_id, mu, sigma, rated_matches, matches, wins, losses FROM wager_ratings"
            " WHERE user_id = ANY($1::uuid[]) ORDER BY user_id", [mm.a.id, mm.b.id])]

    before = await ratings()
    again = await svc.settle(mm.room.spec, Outcome.winner_takes_pot(
        mm.room.spec.seats, mm.a.id, rake_bps=1_000, result="win"))
    assert again.replayed
    assert await ratings() == before
    await _books_clean(wager_server, mm)


async def test_a_disputed_match_survives_its_room_stopping_and_is_ruled_after(
    wager_server: LiveServer, pool: Any,
) -> None:
    """A drained node declines the abort refund; the match resumes from Postgres and the
    admin's ruling reaches the resumed room."""
    server = wager_server
    svc = svc_of(server)
    mm = await manual_match(server)
    await _both_ready(mm)
    await mm.say(mm.a, "wager_report", result="won")
    await mm.say(mm.b, "wager_dispute", reason="they used a banned weapon")
    await mm.room.abort("node_shutdown")
    await mm.room.wait_closed()
    assert mm.ra.of("room_aborted")[0]["refunded"] is False
    assert await holds_left(server, mm.room_id) == 2, "the stakes stay held"
    assert (await _status(server, mm.room_id))["status"] == "disputed"

    assert await svc.adopt_once() >= 1
    room = svc.play.rooms.get(mm.room_id)
    assert room.game.phase == "disputed"
    assert room.game.dispute["by"] == mm.b.id
    async with server.http() as http:
        admin = _bearer(await admin_session(http, server, "operator"))
        did = await server.state.pool.fetchval(
            "SELECT id FROM wager_disputes WHERE room_id = $1", mm.room_id)
        assert (await http.post(f"/admin/wagers/disputes/{did}/claim", headers=admin)).is_success
        ruled = await http.post(f"/admin/wagers/disputes/{did}/rule", headers=admin,
                                json={"ruling": "void", "reason": "no evidence either way"})
        assert ruled.status_code == 200 and ruled.json()["delivered"]
        assert ruled.json()["status"] == "dismissed"
    await room.wait_closed()
    assert await available(server, mm.a.id) == 10_000
    assert await available(server, mm.b.id) == 10_000
    assert (await _status(server, mm.room_id))["result"] == "ruled_void"
    await _books_clean(server, mm)
