"""Whole quiz duels between Python clients over real websockets against a running server."""

from __future__ import annotations

from typing import Any

from matchpot_client import MatchpotClient
from matchpot_client.errors import MatchpotError

from rooms.clock import ManualClock
from tests.play.helpers import STAKE_MINOR, available, current_answer, funded_client
from tests.server.gateway_helpers import new_player
from tests.support import house_gain

QUESTIONS = 5
RAKE_BPS = 2_000


async def _queue_and_seat(
    server: Any, a: MatchpotClient, b: MatchpotClient
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    queued = await a.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
    assert queued["t"] == "queued" and queued["stake_minor"] == STAKE_MINOR
    await b.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
    found_a = await a.next_event("match_found", timeout=10)
    found_b = await b.next_event("match_found", timeout=10)
    assert found_a["room_id"] == found_b["room_id"]
    assert found_a["seat_token"] != found_b["seat_token"]
    room_id = found_a["room_id"]
    await a.request("room_join", room_id=room_id, seat_token=found_a["seat_token"])
    await b.request("room_join", room_id=room_id, seat_token=found_b["seat_token"])
    return room_id, found_a, found_b


async def test_full_duel_with_a_drop_and_reconnect_pays_the_winner(play_server: Any) -> None:
    """A answers right, B wrong; B drops after question 2 and comes back on a new socket."""
    a_id, a = await funded_client(play_server)
    b_id, b = await funded_client(play_server)
    try:
        room_id, _, _ = await _queue_and_seat(play_server, a, b)
        # Both stakes are held while the duel runs.
        assert await available(play_server, a_id) == 100_000 - STAKE_MINOR
        last_seq_b = 0
        for index in range(QUESTIONS):
            q_a = await a.next_event("quiz_question", timeout=10)
            assert q_a["index"] == index
            assert "answer_index" not in q_a, "a question never carries its answer"
            if index == 2:
                # B's socket dies; B returns on a fresh connection and asks for what it missed.
                await b.close()
                b = MatchpotClient(play_server.base_url, access_token=b.session.access_token,
                                   reconnect=False)
                await b.connect()
                await b.request("room_join", room_id=room_id, since_seq=last_seq_b)
                state = await b.next_event("room_state", timeout=10)
                assert state["room_id"] == room_id and state["seq"] >= last_seq_b
                # The question asked while B was away is replayed after the snapshot.
                missed = await b.next_event("quiz_question", timeout=10)
                assert missed["index"] == index and missed["seq"] > last_seq_b
            else:
                q_b = await b.next_event("quiz_question", timeout=10)
                assert q_b["index"] == index
                last_seq_b = q_b["seq"]
            i, right = current_answer(play_server, room_id)
            assert i == index
            ack = await a.request("quiz_answer", room_id=room_id, index=index, choice=right)
            assert ack["index"] == index
            await b.request("quiz_answer", room_id=room_id, index=index, choice=(right + 1) % 4)
            with_repeat = a.request("quiz_answer", room_id=room_id, index=index, choice=right)
            try:
                await with_repeat
                raise AssertionError("a second answer to one question must be refused")
            except MatchpotError as exc:
                assert exc.code == "answer_repeated"
            reveal = await a.next_event("quiz_reveal", timeout=10)
            assert reveal["answer_index"] == right
            assert reveal["scores"][a_id] == index + 1 and reveal["scores"][b_id] == 0
        result_a = await a.next_event("quiz_result", timeout=15)
        result_b = await b.next_event("quiz_result", timeout=15)
        pot = 2 * STAKE_MINOR
        rake = pot * RAKE_BPS // 10_000
        assert result_a["winner"] == a_id == result_b["winner"]
        assert result_a["payout_minor"] == pot - rake and result_a["rake_minor"] == rake
        # The result is announced after the ledger commit: the money is already there.
        assert await available(play_server, a_id) == 100_000 - STAKE_MINOR + pot - rake
        assert await available(play_server, b_id) == 100_000 - STAKE_MINOR
        assert await house_gain(play_server.state.pool, "room_id", room_id) == rake
        history = await a.request("duel_history", limit=5)
        mine = [h for h in history["items"] if h["room_id"] == room_id]
        assert mine and mine[0]["result"] == "won"
        assert mine[0]["payout_minor"] == pot - rake
        page = await a.request("duel_history", limit=1)
        assert page["next"] is not None
        older = await a.request("duel_history", limit=1, before=page["next"])
        assert room_id not in [h["room_id"] for h in older["items"]]
        # Both players get a WhatsApp alert of the match and of the result (via the outbox).
        kinds = await play_server.state.pool.fetch(
            "SELECT recipient, kind FROM outbox WHERE payload->>'room_id' = $1", room_id)
        assert sorted((r["recipient"], r["kind"]) for r in kinds) == sorted(
            [(u, k) for u in (a_id, b_id) for k in ("duel_result", "match_found")])
    finally:
        await a.close()
        await b.close()


async def test_queue_errors_change_nothing(play_server: Any) -> None:
    """Unoffered stakes, a poor player, a double queue, leaving: clear codes, no money moved."""
    a_id, a = await funded_client(play_server, amount_minor=STAKE_MINOR * 3)
    poor_id, poor = await funded_client(play_server, amount_minor=STAKE_MINOR - 1)
    try:
        for fields, code in (
            ({"game": "quiz", "stake_minor": 12_345}, "stake_not_offered"),
            ({"game": "chess", "stake_minor": STAKE_MINOR}, "game_not_offered"),
            ({"game": "quiz", "stake_minor": "100"}, "invalid_field"),
        ):
            try:
                await a.request("queue_join", **fields)
                raise AssertionError(f"{fields} must be refused")
            except MatchpotError as exc:
                assert exc.code == code
        try:
            await poor.request("queue_join", game="quiz", stake_minor=STAKE_MINOR)
            raise AssertionError("a stake larger than the balance must be refused")
        except MatchpotError as exc:
            assert exc.code == "insufficient_funds"
        assert await available(play_server, poor_id) == STAKE_MINOR - 1
        await a.request("queue_join", game="quiz", stake_minor=5_000)
        try:
            await a.request("queue_join", game="quiz", stake_minor=5_000)
            raise AssertionError("queueing twice must be refused")
        except MatchpotError as exc:
            assert exc.code == "already_queued"
        assert await available(play_server, a_id) == STAKE_MINOR * 3 - 5_000
        left = await a.request("queue_leave")
        assert left["t"] == "queue_left"
        assert await available(play_server, a_id) == STAKE_MINOR * 3
    finally:
        await a.close()
        await poor.close()


async def test_someone_elses_room_and_forged_seat_are_refused(play_server: Any) -> None:
    _, a = await funded_client(play_server)
    _, b = await funded_client(play_server)
    _, c = await funded_client(play_server)
    try:
        await a.request("queue_join", game="quiz", stake_minor=50_000)
        await b.request("queue_join", game="quiz", stake_minor=50_000)
        found_a = await a.next_event("match_found", timeout=10)
        room_id = found_a["room_id"]
        for fields, code in (
            ({"room_id": room_id, "seat_token": found_a["seat_token"]}, "not_seated"),
            ({"room_id": room_id}, "not_seated"),
        ):
            try:
                await c.request("room_join", **fields)
                raise AssertionError("an outsider must not take a seat")
            except MatchpotError as exc:
                assert exc.code == code
        try:
            await a.request("room_join", room_id=room_id, seat_token="quiz:KES:50000/forged")
            raise AssertionError("a forged seat token must be refused")
        except MatchpotError as exc:
            assert exc.code == "seat_token_invalid"
        try:
            await c.request("quiz_answer", room_id=room_id, index=0, choice=0)
            raise AssertionError("an outsider cannot answer")
        except MatchpotError as exc:
            assert exc.code == "not_seated"
    finally:
        for client in (a, b, c):
            await client.close()


async def test_seats_nobody_takes_are_refunded_at_the_join_timeout(
    manual_play_server: tuple[Any, ManualClock],
) -> None:
    """On the server's own clock: a moment before the join timeout the stakes are still held;
    at the timeout both come back in full and both players hear the no-show result."""
    server, clock = manual_play_server
    a_id, a = await funded_client(server)
    b_id, b = await funded_client(server)
    try:
        await a.request("queue_join", game="quiz", stake_minor=50_000)
        await b.request("queue_join", game="quiz", stake_minor=50_000)
        room_id = (await a.next_event("match_found", timeout=10))["room_id"]
        await b.next_event("match_found", timeout=10)
        join_timeout_ms = server.state.settings.game_settings["quiz"]["join_timeout_ms"]
        await clock.advance(join_timeout_ms - 1)
        assert [await available(server, u) for u in (a_id, b_id)] == [50_000, 50_000]
        assert server.state.extras["play"].rooms.find(room_id) is not None
        await clock.advance(1)
        assert [await available(server, u) for u in (a_id, b_id)] == [100_000, 100_000]
        assert server.state.extras["play"].rooms.find(room_id) is None
    finally:
        for client in (a, b):
            await client.close()


async def test_duel_history_over_http_needs_a_player_token(play_server: Any) -> None:
    _, token = await new_player(play_server.state)
    async with play_server.http() as http:
        assert (await http.get("/duels/history")).status_code == 401
        ok = await http.get("/duels/history", headers={"authorization": f"Bearer {token}"})
        assert ok.status_code == 200 and ok.json()["items"] == []
        bad = await http.get("/duels/history?limit=0",
                             headers={"authorization": f"Bearer {token}"})
        assert bad.status_code == 400 and bad.json()["code"] == "invalid_request"
