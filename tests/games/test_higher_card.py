"""A room kind that lives only in tests/ is registered, queued for, played, settled and listed
in history over real sockets, with no edit to server/ (the game API's promise)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from matchpot_client.errors import MatchpotError
from matchpot_client.play import PlayClient

from tests.play.helpers import available, funded_client
from tests.server.test_admin import admin_session
from tests.support import LiveServer, TestServices, run_server

STAKE_MINOR = 2_000
RAKE_BPS = 1_000


@pytest.fixture(scope="module")
async def cards_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any
) -> AsyncIterator[LiveServer]:
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("cards")), redis_prefix=f"{test_services.redis_prefix}cards",
        games=["rooms.games.quiz", "tests.games.higher_card"], mm_window_start=400,
    )
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


def _bearer(session: dict[str, Any]) -> dict[str, str]:
    return {"authorization": f"Bearer {session['access_token']}"}


async def _seat_both(a: PlayClient, b: PlayClient) -> str:
    await a.request("queue_join", game="higher_card", stake_minor=STAKE_MINOR)
    await b.request("queue_join", game="higher_card", stake_minor=STAKE_MINOR)
    found_a = await a.next_event("match_found", timeout=10)
    found_b = await b.next_event("match_found", timeout=10)
    assert found_a["game"] == "higher_card" and found_a["room_id"] == found_b["room_id"]
    room_id = str(found_a["room_id"])
    joined = await a.request("room_join", room_id=room_id, seat_token=found_a["seat_token"])
    assert joined["game"] == "higher_card"
    await b.request("room_join", room_id=room_id, seat_token=found_b["seat_token"])
    await a.next_event("card_deal", timeout=10)
    return room_id


async def test_the_game_list_offers_every_registered_kind(cards_server: LiveServer) -> None:
    async with cards_server.http() as http:
        games = (await http.get("/games")).json()["items"]
        config = (await http.get("/config")).json()
    by_name = {g["name"]: g for g in games}
    assert set(by_name) == {"quiz", "higher_card"}
    assert by_name["higher_card"]["stakes_minor"] == [1_000, 2_000]
    assert by_name["higher_card"]["message_types"] == ["card_draw"]
    assert {g["name"] for g in config["games"]} == {"quiz", "higher_card"}


async def test_a_test_only_game_is_played_settled_and_listed_over_real_sockets(
    cards_server: LiveServer,
) -> None:
    a_id, a = await funded_client(cards_server, 10_000)
    b_id, b = await funded_client(cards_server, 10_000)
    house_before = (await cards_server.state.ledger.balance("house", "KES")).posted_minor
    try:
        room_id = await _seat_both(a, b)
        assert await available(cards_server, a_id) == 10_000 - STAKE_MINOR  # stake held
        with pytest.raises(MatchpotError) as err:
            await a.request("quiz_answer", room_id=room_id, index=0, choice=0)
        assert err.value.code == "unknown_message", "another kind's frame is refused"
        # Draw until a deal has a winner (equal cards are dealt again, at most three times).
        deal = 1
        while True:
            await a.request("card_draw", room_id=room_id)
            await b.request("card_draw", room_id=room_id)
            cards = [(await a.next_event("card_drawn", timeout=10))["card"] for _ in range(2)]
            if cards[0] != cards[1] or deal == 3:
                result = await a.next_event("card_result", timeout=10)
                break
            deal = (await a.next_event("card_deal", timeout=10))["deal"]
        with pytest.raises(MatchpotError):
            await a.request("card_draw", room_id=room_id)  # the room has closed
    finally:
        await a.close()
        await b.close()
    pot = 2 * STAKE_MINOR
    house_after = (await cards_server.state.ledger.balance("house", "KES")).posted_minor
    balances = {u: await available(cards_server, u) for u in (a_id, b_id)}
    if result["refunded"]:  # three equal deals in a row: both stakes back, no rake
        assert balances == {a_id: 10_000, b_id: 10_000} and house_after == house_before
        return
    winner = result["winner"]
    loser = b_id if winner == a_id else a_id
    payout = pot * (10_000 - RAKE_BPS) // 10_000
    assert result["payouts_minor"] == {winner: payout} and result["rake_minor"] == pot - payout
    assert balances == {winner: 10_000 - STAKE_MINOR + payout, loser: 10_000 - STAKE_MINOR}
    assert house_after - house_before == pot - payout

    async with cards_server.http() as http:
        token = a.session.access_token
        page = (await http.get("/duels/history", headers={"authorization": f"Bearer {token}"}))
    item = next(i for i in page.json()["items"] if i["room_id"] == room_id)
    assert item["game"] == "higher_card" and item["stake_minor"] == STAKE_MINOR
    assert item["result"] == ("won" if winner == a_id else "lost")


async def test_an_operator_signal_reaches_the_live_room_and_refunds_both(
    cards_server: LiveServer,
) -> None:
    a_id, a = await funded_client(cards_server, 10_000)
    b_id, b = await funded_client(cards_server, 10_000)
    try:
        room_id = await _seat_both(a, b)
        async with cards_server.http() as http:
            viewer = _bearer(await admin_session(http, cards_server, "viewer"))
            refused = await http.post(f"/admin/rooms/{room_id}/signal", headers=viewer,
                                      json={"name": "card_void", "reason": "test"})
            assert refused.status_code == 403, "a viewer cannot instruct a room"
            operator = _bearer(await admin_session(http, cards_server, "operator"))
            unknown = await http.post(f"/admin/rooms/{room_id}/signal", headers=operator,
                                      json={"name": "deal_aces", "reason": "cheating"})
            assert unknown.status_code == 409 and unknown.json()["code"] == "unknown_signal"
            ok = await http.post(f"/admin/rooms/{room_id}/signal", headers=operator,
                                 json={"name": "card_void", "reason": "lobby never started"})
            assert ok.status_code == 200 and ok.json()["answer"]["t"] == "card_voided"
            missing = await http.post("/admin/rooms/nope/signal", headers=operator,
                                      json={"name": "card_void", "reason": "x"})
            assert missing.status_code == 404
        result = await b.next_event("card_result", timeout=10)
        assert result["refunded"] and result["result"] == "voided"
    finally:
        await a.close()
        await b.close()
    assert await available(cards_server, a_id) == 10_000
    assert await available(cards_server, b_id) == 10_000
    audited = await cards_server.state.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'room.signal' AND target = $1",
        f"room:{room_id}")
    assert audited == 2, "every signal an operator sends is audited, accepted or refused"
