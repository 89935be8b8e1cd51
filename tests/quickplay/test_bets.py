"""Quick-game bets over real HTTP and the websocket: money, limits, idempotency, fairness."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import uuid
from typing import Any

import pytest

from ledger import Ledger, transfer_id
from rooms.games.quick import pick3, wheel
from server.features.quickplay.service import QuickplayError, place_bet, verify_bet
from tests.quickplay.conftest import Player, available, funded_player
from tests.server.gateway_helpers import open_ws, pack, recv_type
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def bet(server: LiveServer, player: Player, game: str, stake: int,
              choice: dict[str, Any] | None = None, key: str | None = None) -> Any:
    body = {"stake_minor": stake, "choice": choice or {}, "idem_key": key or uuid.uuid4().hex}
    async with server.http() as client:
        return await client.post(f"/games/{game}/bets", json=body, headers=player.headers)


async def test_a_bet_moves_stake_and_payout_with_deterministic_ids(
    server: LiveServer, ledger: Ledger
) -> None:
    player = await funded_player(server.state, ledger, 100_000)
    r = await bet(server, player, "pick3", 2_000, {"digits": "472"}, key="k1")
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["balance_minor"] == 100_000 - 2_000 + out["payout_minor"]
    assert await available(ledger, player) == out["balance_minor"]
    assert out["nonce"] == 0 and len(out["seed_hash"]) == 64
    bet_id = uuid.UUID(out["bet_id"])
    assert bet_id == transfer_id("quick", player.user_id, "k1")
    stake = await ledger.get_transfer(transfer_id(bet_id, "stake"))
    assert stake is not None and (stake.debit, stake.credit, stake.amount_minor) == (
        player.owner, "house", 2_000)
    drawn = out["result"]["drawn"]
    expected = pick3.resolve(int(drawn), {"digits": "472"}).payout_minor(2_000)
    assert out["payout_minor"] == expected
    assert "credits" in out["outcome_text"]


async def test_replay_returns_the_first_result_and_conflicts_are_refused(
    server: LiveServer, ledger: Ledger
) -> None:
    player = await funded_player(server.state, ledger, 50_000)
    first = await bet(server, player, "wheel", 5_000, key="same")
    again = await bet(server, player, "wheel", 5_000, key="same")
    assert (first.status_code, again.status_code) == (201, 200)
    a, b = first.json(), again.json()
    assert (a["bet_id"], a["payout_minor"], a["result"]) == (b["bet_id"], b["payout_minor"],
                                                             b["result"])
    assert b["replayed"] is True
    assert await available(ledger, player) == a["balance_minor"]
    other = await bet(server, player, "wheel", 6_000, key="same")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    assert await available(ledger, player) == a["balance_minor"]


async def test_concurrent_bets_use_distinct_nonces_and_replays_run_once(
    server: LiveServer, ledger: Ledger
) -> None:
    player = await funded_player(server.state, ledger, 200_000)
    results = await asyncio.gather(
        *[bet(server, player, "color", 1_000, {"colour": "red"}) for _ in range(8)],
        *[bet(server, player, "color", 1_000, {"colour": "red"}, key="dup") for _ in range(4)],
    )
    assert all(r.status_code in (200, 201) for r in results)
    assert sorted(r.status_code for r in results[8:]) == [200, 200, 200, 201]
    assert sorted({r.json()["nonce"] for r in results}) == list(range(9))
    paid = sum(r.json()["payout_minor"] for r in results[:9])
    assert await available(ledger, player) == 200_000 - 9 * 1_000 + paid


@pytest.mark.parametrize(
    ("game", "stake", "choice", "status", "code"),
    [("wheel", 999, {}, 400, "stake_too_small"),
     ("wheel", 100_001, {}, 400, "stake_too_large"),
     ("roulette", 1_000, {}, 404, "invalid_game"),
     ("color", 1_000, {"colour": "pink"}, 400, "invalid_choice"),
     ("pick3", 1_000, {"digits": "1234"}, 400, "invalid_choice")],
)
async def test_bad_bets_are_refused_and_change_nothing(
    server: LiveServer, ledger: Ledger, game: str, stake: int, choice: dict[str, Any],
    status: int, code: str,
) -> None:
    player = await funded_player(server.state, ledger, 10_000)
    r = await bet(server, player, game, stake, choice)
    assert (r.status_code, r.json()["code"]) == (status, code)
    assert await available(ledger, player) == 10_000
    assert await server.state.pool.fetchval(
        "SELECT count(*) FROM quick_bets WHERE user_id = $1::uuid", player.user_id) == 0


async def test_insufficient_funds_changes_nothing_and_keeps_the_nonce(
    server: LiveServer, ledger: Ledger
) -> None:
    player = await funded_player(server.state, ledger, 1_500)
    r = await bet(server, player, "wheel", 2_000)
    assert (r.status_code, r.json()["code"]) == (409, "insufficient_funds")
    assert await available(ledger, player) == 1_500
    ok = await bet(server, player, "wheel", 1_500)
    assert ok.status_code == 201 and ok.json()["nonce"] == 0


async def test_daily_limit_counts_every_stake_of_the_day(
    server: LiveServer, ledger: Ledger
) -> None:
    state = dataclasses.replace(server.state, settings=server.state.settings.model_copy(
        update={"quick_daily_max_minor": 5_000}))
    player = await funded_player(state, ledger, 20_000)
    for i in range(2):
        await place_bet(state, player.user_id, "wheel", 2_000, {}, channel="ws", idem_key=f"d{i}")
    with pytest.raises(QuickplayError) as err:
        await place_bet(state, player.user_id, "wheel", 2_000, {}, channel="ws", idem_key="d3")
    assert err.value.code == "daily_limit_reached"
    last = await place_bet(state, player.user_id, "wheel", 1_000, {}, channel="ws",
                           idem_key="d4")
    assert last.stake_minor == 1_000


async def test_real_money_over_whatsapp_follows_the_operator_setting(
    server: LiveServer, ledger: Ledger
) -> None:
    real = server.state.settings.model_copy(update={"money_mode": "real"})
    state = dataclasses.replace(server.state, settings=real)
    player = await funded_player(state, ledger, 20_000)
    with pytest.raises(QuickplayError) as err:
        await place_bet(state, player.user_id, "wheel", 1_000, {}, channel="whatsapp",
                        idem_key="w1")
    assert err.value.code == "whatsapp_play_disabled"
    assert await available(ledger, player) == 20_000
    allowed = dataclasses.replace(state, settings=real.model_copy(
        update={"whatsapp_real_money": True}))
    res = await place_bet(allowed, player.user_id, "wheel", 1_000, {}, channel="whatsapp",
                          idem_key="w1")
    assert "KES" in res.outcome_text and "credits" not in res.outcome_text


def by_hand(server_seed: bytes, client_seed: str, nonce: int, n: int) -> int:
    """The documented draw, written independently of the server code."""
    limit = 2**32 - 2**32 % n
    d = hmac.new(server_seed, f"{client_seed}:{nonce}".encode(), hashlib.sha256).digest()
    for i in range(0, 32, 4):
        word = int.from_bytes(d[i:i + 4], "big")
        if word < limit:
            return word % n
    raise AssertionError("needs a second round")


async def test_fairness_commit_bet_rotate_verify(server: LiveServer, ledger: Ledger) -> None:
    player = await funded_player(server.state, ledger, 50_000)
    async with server.http() as client:
        seed = (await client.get("/games/fair", headers=player.headers)).json()
        assert seed["nonce"] == 0 and len(seed["seed_hash"]) == 64
        placed = [(await bet(server, player, "wheel", 1_000)).json() for _ in range(3)]
        assert [p["seed_hash"] for p in placed] == [seed["seed_hash"]] * 3
        early = (await client.get(f"/games/bets/{placed[0]['bet_id']}/verify",
                                  headers=player.headers)).json()
        assert early["ok"] is False and early["code"] == "seed_not_revealed"
        assert "server_seed" not in early
        rot = await client.post("/games/fair/rotate", json={"client_seed": "my-lucky-seed"},
                                headers=player.headers)
        assert rot.status_code == 200, rot.text
        revealed = rot.json()["revealed"]
        server_seed = bytes.fromhex(revealed["server_seed"])
        assert hashlib.sha256(server_seed).hexdigest() == seed["seed_hash"]
        assert revealed["nonces_used"] == 3
        assert rot.json()["current"]["client_seed"] == "my-lucky-seed"
        assert rot.json()["current"]["seed_hash"] != seed["seed_hash"]
        for p in placed:
            v = (await client.get(f"/games/bets/{p['bet_id']}/verify",
                                  headers=player.headers)).json()
            assert v["ok"] is True and v["recomputed"] == p["result"]
            draw = by_hand(server_seed, seed["client_seed"], p["nonce"], wheel.outcome_space())
            assert v["draw"] == draw
            assert wheel.resolve(draw, {}).result == p["result"]
        stranger = await funded_player(server.state, ledger, 0)
        r = await client.get(f"/games/bets/{placed[0]['bet_id']}/verify",
                             headers=stranger.headers)
        assert r.status_code == 404
    nxt = (await bet(server, player, "wheel", 1_000)).json()
    assert nxt["nonce"] == 0 and nxt["seed_hash"] == rot.json()["current"]["seed_hash"]


async def test_tampered_record_fails_verification(server: LiveServer, ledger: Ledger) -> None:
    player = await funded_player(server.state, ledger, 10_000)
    placed = (await bet(server, player, "pick3", 1_000, {"digits": "123"})).json()
    async with server.http() as client:
        await client.post("/games/fair/rotate", json={}, headers=player.headers)
    fake = {"drawn": "123", "prize": "exact"}
    if placed["result"] == fake:
        fake = {"drawn": "124", "prize": None}
    await server.state.pool.execute("UPDATE quick_bets SET outcome = $2 WHERE id = $1::uuid",
                                    placed["bet_id"], fake)
    v = await verify_bet(server.state, placed["bet_id"])
    assert v["ok"] is False and "Mismatch" in v["text"]


async def test_bet_and_seed_over_the_websocket(server: LiveServer, ledger: Ledger) -> None:
    player = await funded_player(server.state, ledger, 20_000)
    token = player.headers["Authorization"].split()[1]
    ws, _ = await open_ws(server.ws_url, token)
    try:
        await ws.send(pack({"t": "fair_seed", "rid": "1"}))
        seed = await recv_type(ws, "fair_seed")
        assert seed["rid"] == "1" and seed["nonce"] == 0
        frame = {"t": "quick_bet", "rid": "2", "game": "color", "stake_minor": 1_000,
                 "choice": {"colour": "gold"}, "idem_key": "ws-1"}
        await ws.send(pack(frame))
        res = await recv_type(ws, "quick_result")
        assert res["rid"] == "2" and res["seed_hash"] == seed["seed_hash"]
        assert res["balance_minor"] == 20_000 - 1_000 + res["payout_minor"]
        await ws.send(pack({**frame, "rid": "3", "stake_minor": 5}))
        err = await recv_type(ws, "error")
        assert err["code"] == "stake_too_small" and err["rid"] == "3"
    finally:
        await ws.close()
    assert await available(ledger, player) == res["balance_minor"]
