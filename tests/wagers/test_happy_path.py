"""Over real sockets: post -> accept -> ready -> both report -> settled, with ratings and stats."""

from __future__ import annotations

from typing import Any

import pytest
from matchpot_client.errors import MatchpotError

from tests.support import LiveServer
from tests.wagers.helpers import (
    PAYOUT,
    POT,
    STAKE,
    available,
    client_of,
    holds_left,
    new_gamer,
    post,
    until_seen,
)


async def test_post_accept_ready_report_settles_and_rates_once(wager_server: LiveServer) -> None:
    server = wager_server
    a, b = await new_gamer(server), await new_gamer(server)
    ca, cb = await client_of(server, a), await client_of(server, b)
    house = (await server.state.ledger.balance("house", "KES")).posted_minor
    try:
        watch = await cb.request("wager_lobby_watch", mode="gunfight")
        assert watch["t"] == "wager_lobby_items"
        ch = await post(server, a)
        pushed = await cb.next_event("wager_lobby", timeout=10)
        assert pushed["change"] == "posted" and pushed["challenge"]["id"] == ch["id"]
        assert await available(server, a.id) == 10_000, "posting holds nothing"

        accepted = await cb.request("wager_accept", challenge_id=ch["id"])
        room_id = accepted["room_id"]
        assert accepted["terms"]["rules"] == "1v1 Gunfight, best of 3"
        assert await available(server, a.id) == 10_000 - STAKE
        assert await available(server, b.id) == 10_000 - STAKE
        for c in (ca, cb):
            found = await c.next_event("wager_alert", timeout=10)
            assert found["kind"] == "wager_match_found" and found["room_id"] == room_id

        for c in (ca, cb):
            entered = await c.request("wager_enter", room_id=room_id)
            assert entered["t"] == "wager_entered"
        state = await ca.next_event("room_state", timeout=10)
        assert state["state"]["phase"] == "ready_check"
        assert set(state["state"]["terms"]["tags"]) == {a.id, b.id}

        await ca.request("wager_ready", room_id=room_id)
        ready_alert = await cb.next_event("wager_alert", timeout=10)
        assert ready_alert["kind"] == "wager_opponent_ready"
        await cb.request("wager_ready", room_id=room_id)
        playing = await ca.next_event("wager_playing", timeout=10)
        assert playing["terms"]["maps"] == ["Shipment", "Rust"]

        await ca.request("wager_chat", room_id=room_id, text="invite sent: lobby 1234")
        line = await cb.next_event("wager_chat_line", timeout=10)
        assert line["text"] == "invite sent: lobby 1234" and line["user_id"] == a.id
        with pytest.raises(MatchpotError) as err:
            await ca.request("wager_chat", room_id=room_id, text="x" * 201)
        assert err.value.code == "chat_too_long"

        await ca.request("wager_report", room_id=room_id, result="won", score="3-1")
        reported = await cb.next_event("wager_alert", timeout=10)
        assert reported["kind"] == "wager_opponent_reported"
        await cb.request("wager_report", room_id=room_id, result="lost", score="1-3")
        seen = await until_seen(ca, {"wager_result", "wager_alert:wager_payout"})
        result = seen["wager_result"]
        assert result["winner"] == a.id and result["result"] == "win"
        assert result["payouts_minor"] == {a.id: PAYOUT} and result["rake_minor"] == POT - PAYOUT
        payout = seen["wager_alert:wager_payout"]
        assert payout["kind"] == "wager_payout" and payout["payout_minor"] == PAYOUT
    finally:
        await ca.close()
        await cb.close()

    assert await available(server, a.id) == 10_000 - STAKE + PAYOUT
    assert await available(server, b.id) == 10_000 - STAKE
    assert (await server.state.ledger.balance("house", "KES")).posted_minor - house == POT - PAYOUT
    assert await holds_left(server, room_id) == 0
    await server.state.ledger.check_invariants()

    async with server.http() as http:
        mine = (await http.get(f"/wagers/matches/{room_id}", headers=a.auth)).json()
        pa = (await http.get(f"/wagers/players/{a.id}")).json()
        pb = (await http.get(f"/wagers/players/{b.id}")).json()
    assert mine["status"] == "settled" and mine["winner"] == a.id and mine["rated"]
    (sa,), (sb,) = pa["modes"], pb["modes"]
    assert sa["wins"] == 1 and sa["streak"] == 1 and sa["won_minor"] == PAYOUT
    assert sb["losses"] == 1 and sb["streak"] == -1 and sb["staked_minor"] == STAKE
    assert sa["rating"] > 25 > sb["rating"] and sa["provisional"]
    assert "birth_date" not in pa
    changes = await server.state.pool.fetchval(
        "SELECT count(*) FROM wager_rating_changes WHERE room_id = $1", room_id)
    assert changes == 2
    outbox: Any = await server.state.pool.fetch(
        "SELECT kind FROM outbox WHERE recipient = $1 ORDER BY kind", a.id)
    kinds = {r["kind"] for r in outbox}
    assert {"wager_match_found", "wager_payout"} <= kinds


async def test_the_queue_pairs_same_mode_platform_and_stake(wager_server: LiveServer) -> None:
    server = wager_server
    a, b = await new_gamer(server), await new_gamer(server)
    ca, cb = await client_of(server, a), await client_of(server, b)
    try:
        with pytest.raises(MatchpotError) as err:  # wagers queue by mode and platform only
            await ca.request("queue_join", game="wager", stake_minor=STAKE)
        assert err.value.code == "game_not_offered"
        assert await available(server, a.id) == 10_000, "the refused join held nothing"
        queued = await ca.request("wager_queue_join", mode="snd", platform="pc",
                                  stake_minor=STAKE)
        assert queued["t"] == "wager_queued"
        assert await available(server, a.id) == 10_000 - STAKE, "the stake is held at join"
        await cb.request("wager_queue_join", mode="snd", platform="pc", stake_minor=STAKE)
        found_a = await ca.next_event("wager_alert", timeout=10)
        found_b = await cb.next_event("wager_alert", timeout=10)
        assert found_a["kind"] == found_b["kind"] == "wager_match_found"
        room_id = found_a["room_id"]
        assert found_b["room_id"] == room_id and found_a["opponent_id"] == b.id
        for c in (ca, cb):
            await c.request("wager_enter", room_id=room_id)
        state = await ca.next_event("room_state", timeout=10)
        assert state["state"]["terms"]["mode"] == "snd"
        await ca.request("wager_cancel", room_id=room_id)
        await cb.request("wager_cancel", room_id=room_id)
        result = await ca.next_event("wager_result", timeout=10)
        assert result["refunded"] and result["result"] == "cancelled"
    finally:
        await ca.close()
        await cb.close()
    assert await available(server, a.id) == 10_000
    assert await available(server, b.id) == 10_000
    assert await holds_left(server, room_id) == 0
