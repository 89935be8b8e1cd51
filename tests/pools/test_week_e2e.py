"""One whole pool week over HTTP and websockets: passes bought through the Stripe stand-in,
the draw, bets, results, the live board pushed to members and a spectator, prizes paid."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from matchpot_client.errors import MatchpotError
from matchpot_client.play import PlayClient

from competitions.pools.weeks import Week
from ledger import Ledger, user_account
from server.admin.accounts import create_admin
from tests.fakes.stripe_api import FakeStripe
from tests.pools.helpers import HOUR, fresh_week, set_time
from tests.server.gateway_helpers import new_player


async def _admin(server: Any) -> dict[str, str]:
    name = "pooladm" + uuid.uuid4().hex[:6]
    await create_admin(server.state.pool, name, "correct horse battery", "superadmin")
    async with server.http() as http:
        r = await http.post("/admin/login", json={"username": name,
                                                  "password": "correct horse battery"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _board_until(client: PlayClient, pred: Any, timeout_s: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout_s):
        while True:
            frame = await client.next_event("pool_board", timeout=timeout_s)
            if pred(frame):
                return frame


async def test_a_whole_week(pools_server: Any, fake_stripe: FakeStripe, pool: Any) -> None:
    server = pools_server
    week: Week = fresh_week()
    set_time(server, week.start_ms - 2 * 24 * HOUR)  # the Saturday before
    admin = await _admin(server)
    players = [await new_player(server.state) for _ in range(4)]
    tokens = [t for _, t in players]
    ids = [u.id for u, _ in players]
    async with server.http() as http:
        # -- passes through Stripe Checkout --------------------------------------------
        sessions = []
        for token in tokens:
            r = await http.post("/pools/purchases", headers=_auth(token), json={
                "kind": "pass", "provider": "stripe", "idem_key": "pass-1"})
            assert r.status_code == 201, r.text
            body = r.json()
            assert body["state"] == "pending" and body["week_id"] == week.id
            assert body["checkout_url"].startswith("https://checkout.stripe.test/")
            assert body["amount_minor"] == 500 and body["currency"] == "USD"
            sessions.append(body)
        sid = next(s for s, v in fake_stripe.sessions.items()
                   if v["client_reference_id"] == sessions[0]["id"])
        payload, _sig = fake_stripe.completed(sid)
        forged = fake_stripe.sign(payload, "whsec_wrong")
        r = await http.post("/pools/stripe/webhook", content=payload,
                            headers={"Stripe-Signature": forged})
        assert r.status_code == 400 and r.json()["code"] == "bad_signature"
        for purchase in sessions:
            sid = next(s for s, v in fake_stripe.sessions.items()
                       if v["client_reference_id"] == purchase["id"])
            for _ in range(2):  # Stripe retries: credited once
                payload, sig = fake_stripe.completed(sid)
                r = await http.post("/pools/stripe/webhook", content=payload,
                                    headers={"Stripe-Signature": sig})
                assert r.status_code == 200, r.text
        r = await http.get("/pools/week", headers=_auth(tokens[0]))
        info = r.json()
        assert info["registered_next_week"] is True
        assert info["registered_text"] == ("You are registered for next week — pools are"
                                           " drawn Monday 00:00 ET.")
        assert info["countdown_ms"] == 2 * 24 * HOUR
        assert "$" not in r.text
        r = await http.post("/pools/purchases", headers=_auth(tokens[0]), json={
            "kind": "pass", "provider": "stripe", "idem_key": "pass-2"})
        assert r.status_code == 409 and r.json()["code"] == "already_registered"

        # -- the draw ------------------------------------------------------------------
        set_time(server, week.start_ms)
        r = await http.post(f"/admin/pools/weeks/{week.id}/draw", headers=admin)
        assert r.status_code == 200 and r.json()["drew"] and r.json()["players"] == 4
        assert len(r.json()["seed"]) == 64
        r = await http.post("/admin/pools/events", headers=admin, json={
            "sport": "americanfootball_nfl", "home_team": "Kansas City Chiefs",
            "away_team": "Buffalo Bills", "commence_ms": week.start_ms + 30 * HOUR,
            "selections": [
                {"market": "moneyline", "side": "home", "odds": -150},
                {"market": "moneyline", "side": "away", "odds": 130},
                {"market": "spread", "side": "home", "line": -3.5, "odds": -110},
                {"market": "spread", "side": "away", "line": 3.5, "odds": -110},
                {"market": "total", "side": "over", "line": 47.5, "odds": -105},
                {"market": "total", "side": "under", "line": 47.5, "odds": -115}]})
        assert r.status_code == 201, r.text
        game = r.json()
        sel = {(s["market"], s["side"]): s["id"] for s in game["selections"]}
        r = await http.get("/pools/events", headers=_auth(tokens[1]))
        assert [e["id"] for e in r.json()["items"]] == [game["id"]]
        r = await http.post("/pools/slip", headers=_auth(tokens[1]),
                            json={"stake": 100, "odds": -110})
        assert r.json()["potential_return"] == 190 and "rounded down" in r.json()["rule"]

        # -- live boards: every member and a spectator ---------------------------------
        spectator_user, spectator_token = await new_player(server.state)
        clients = [PlayClient(server.base_url, access_token=t, reconnect=False)
                   for t in [*tokens, spectator_token]]
        for c in clients:
            await c.connect()
        try:
            snaps = [await c.request("pool_watch") for c in clients[:4]]
            pool_id = snaps[0]["pool_id"]
            assert all(s["pool_id"] == pool_id for s in snaps)
            assert [e["rank"] for e in snaps[0]["standings"]] == [1, 1, 1, 1]
            assert {e["credits"] for e in snaps[0]["standings"]} == {1000}
            try:
                await clients[4].request("pool_watch")
                raise AssertionError("a spectator has no pool of its own")
            except MatchpotError as exc:
                assert exc.code == "not_in_a_pool"
            spect = await clients[4].request("pool_watch", pool_id=pool_id)
            seq0 = spect["seq"]

            # -- bets ----------------------------------------------------------------
            bets = [(0, ("moneyline", "home"), 300), (1, ("moneyline", "away"), 200),
                    (2, ("spread", "home"), 110), (3, ("total", "over"), 105)]
            for who, key, stake in bets:
                r = await http.post("/pools/bets", headers=_auth(tokens[who]), json={
                    "selection_id": sel[key], "stake": stake, "client_key": f"b{who}"})
                assert r.status_code == 201, r.text
            r = await http.post("/pools/bets", headers=_auth(tokens[0]), json={
                "selection_id": sel[("moneyline", "home")], "stake": 300, "client_key": "b0"})
            assert r.status_code == 200  # a replay
            pushed = await _board_until(clients[4], lambda f: f["seq"] >= seq0 + 4)
            assert {e["credits"] for e in pushed["standings"]} == {1000}  # stakes still count
            r = await http.get("/pools/bets", headers=_auth(tokens[0]))
            assert [b["potential_return"] for b in r.json()["items"]] == [500]

            # -- the game: Chiefs 27, Bills 20 -----------------------------------------
            set_time(server, game["commence_ms"])
            r = await http.post("/pools/bets", headers=_auth(tokens[1]), json={
                "selection_id": sel[("moneyline", "away")], "stake": 100, "client_key": "late"})
            assert r.status_code == 409 and r.json()["code"] == "event_started"
            set_time(server, game["commence_ms"] + 4 * HOUR)
            r = await http.post(f"/admin/pools/events/{game['id']}/result", headers=admin,
                                json={"status": "final", "home_score": 27, "away_score": 20})
            assert r.status_code == 202, r.text
            # 0: 300 at -150 -> 500; 1: lost 200; 2: -3.5 covers, 110 -> 210; 3: 47 < 47.5 lost
            want = {ids[0]: 1200, ids[1]: 800, ids[2]: 1100, ids[3]: 895}
            for c in (clients[0], clients[4]):
                board = await _board_until(c, lambda f: {e["user_id"]: e["credits"]
                                                         for e in f["standings"]} == want)
            assert [(e["user_id"], e["rank"]) for e in board["standings"]] == [
                (ids[0], 1), (ids[2], 2), (ids[3], 3), (ids[1], 4)]
            assert set(board["changed"]) == set(ids)
            r = await http.get("/admin/pools/settlements", headers=admin)
            run = next(x for x in r.json()["items"] if x["event_id"] == game["id"])
            assert run["state"] == "done" and run["bets_done"] == 4

            # -- Redis loses the board: rebuilt from Postgres --------------------------
            await server.state.redis.delete(
                f"{server.state.settings.redis_prefix}:pool:{{{pool_id}}}:lb")
            r = await http.get(f"/pools/{pool_id}/board", headers=_auth(spectator_token))
            assert {e["user_id"]: e["credits"] for e in r.json()["standings"]} == want
        finally:
            for c in clients:
                await c.close()

        # -- the week ends: standings and prizes ---------------------------------------
        wallets = [(await server.state.ledger.balance(
            user_account(u), server.state.settings.currency)).available_minor for u in ids]
        set_time(server, week.end_ms)
        r = await http.post(f"/admin/pools/weeks/{week.id}/finalize", headers=admin, json={})
        assert r.json() == {"finalized": True}
        r = await http.get(f"/pools/{pool_id}/standings", headers=_auth(tokens[0]))
        st = r.json()["standings"]
        # fund 4 x 10000 = 40000: 50 % / 30 % / 20 %
        assert [(s["user_id"], s["rank"], s["prize_minor"]) for s in st] == [
            (ids[0], 1, 20000), (ids[2], 2, 12000), (ids[3], 3, 8000), (ids[1], 4, None)]
        after = [(await server.state.ledger.balance(
            user_account(u), server.state.settings.currency)).available_minor for u in ids]
        assert [a - b for a, b in zip(after, wallets, strict=True)] == [20000, 0, 12000, 8000]
        r = await http.post(f"/admin/pools/weeks/{week.id}/finalize", headers=admin, json={})
        assert r.json() == {"finalized": False}
    _ = spectator_user
    await Ledger(pool).check_invariants()
