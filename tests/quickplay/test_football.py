"""Football Yes/No: held stakes, settlement and void exactly once, with exact balances."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger import Ledger, transfer_id
from server.features.quickplay.errors import QuickplayError
from server.features.quickplay.service import place_bet
from tests.quickplay.conftest import Player, admin_headers, available, funded_player
from tests.support import LiveServer

pytestmark = pytest.mark.usefixtures("ledger")


async def create(server: LiveServer, headers: dict[str, str], **over: Any) -> Any:
    body = {"question": "Will Gor Mahia win on Sunday?", "odds_yes": "+150", "odds_no": "-200",
            "closes_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat(), **over}
    async with server.http() as client:
        return await client.post("/admin/football", json=body, headers=headers)


async def stake(server: LiveServer, player: Player, qid: str, side: str, amount: int) -> Any:
    body = {"stake_minor": amount, "choice": {"question_id": qid, "side": side},
            "idem_key": uuid.uuid4().hex}
    async with server.http() as client:
        return await client.post("/games/football/bets", json=body, headers=player.headers)


async def admin_post(server: LiveServer, path: str, headers: dict[str, str],
                     body: dict[str, Any] | None = None) -> Any:
    async with server.http() as client:
        return await client.post(path, json=body or {}, headers=headers)


async def house_net(server: LiveServer, qid: str) -> int:
    """What the house gained from this question alone: posted transfers between the house and
    the question's escrow or its bettors' bets. (The house's total also moves with other
    tests' background work — bonuses, demo floats — so the test reads only its own part.)"""
    return int(await server.state.pool.fetchval(
        "SELECT coalesce(sum(CASE WHEN c.owner = 'house' THEN t.amount_minor"
        " ELSE -t.amount_minor END), 0)"
        " FROM transfers t JOIN accounts d ON d.id = t.debit_account_id"
        " JOIN accounts c ON c.id = t.credit_account_id"
        " WHERE t.kind IN ('single', 'post') AND 'house' IN (d.owner, c.owner)"
        " AND ($1 IN (d.owner, c.owner) OR t.meta->>'bet_id' IN"
        "      (SELECT id::text FROM quick_bets WHERE question_id = $2::uuid))",
        f"escrow:football:{qid}", qid))


async def test_settle_pays_winners_exactly_once(server: LiveServer, ledger: Ledger) -> None:
    admin = await admin_headers(server.state)
    q = await create(server, admin)
    assert q.status_code == 201, q.text
    qid = q.json()["id"]
    yes1, no1, no2 = [await funded_player(server.state, ledger, 50_000) for _ in range(3)]
    for p, side, amount in ((yes1, "yes", 10_000), (no1, "no", 30_010), (no2, "no", 1_999)):
        r = await stake(server, p, qid, side, amount)
        assert r.status_code == 201, r.text
        assert r.json()["state"] == "open" and r.json()["payout_minor"] == 0
    assert await available(ledger, no1) == 50_000 - 30_010  # held, not spent
    async with server.http() as client:
        listed = (await client.get("/games/football", headers=yes1.headers)).json()["items"]
    assert qid in [i["id"] for i in listed]
    assert await house_net(server, qid) == 0
    r = await admin_post(server, f"/admin/football/{qid}/settle", admin, {"result": "no"})
    assert r.status_code == 200, r.text
    summary = r.json()
    # -200: profit is half the stake, rounded down; the rounding stays with the house
    assert (summary["state"], summary["result"], summary["winners"]) == ("settled", "no", 2)
    assert summary["paid_minor"] == (30_010 + 15_005) + (1_999 + 999)
    assert await available(ledger, yes1) == 40_000
    assert await available(ledger, no1) == 50_000 + 15_005
    assert await available(ledger, no2) == 50_000 + 999
    assert await house_net(server, qid) == 10_000 - 15_005 - 999
    escrow = await ledger.balance(f"escrow:football:{qid}", "KES")
    assert (escrow.posted_minor, escrow.pending_credits_minor) == (0, 0)
    again = await admin_post(server, f"/admin/football/{qid}/settle", admin, {"result": "no"})
    assert again.status_code == 200 and again.json() == summary
    assert await available(ledger, no1) == 50_000 + 15_005
    other = await admin_post(server, f"/admin/football/{qid}/settle", admin, {"result": "yes"})
    assert (other.status_code, other.json()["code"]) == (409, "already_resolved")
    void = await admin_post(server, f"/admin/football/{qid}/void", admin)
    assert void.status_code == 409
    late = await stake(server, yes1, qid, "yes", 1_000)
    assert (late.status_code, late.json()["code"]) == (409, "question_closed")
    kinds = await server.state.pool.fetch(
        "SELECT recipient, kind FROM outbox WHERE kind = 'football_result' AND recipient ="
        " ANY($1::text[])", [yes1.user_id, no1.user_id, no2.user_id])
    assert len(kinds) == 3


async def test_void_refunds_everyone_once(server: LiveServer, ledger: Ledger) -> None:
    admin = await admin_headers(server.state)
    qid = (await create(server, admin, odds_yes="5/2", odds_no="+100")).json()["id"]
    players = [await funded_player(server.state, ledger, 20_000) for _ in range(2)]
    for p, side in zip(players, ("yes", "no"), strict=True):
        assert (await stake(server, p, qid, side, 7_000)).status_code == 201
    results = await asyncio.gather(
        *[admin_post(server, f"/admin/football/{qid}/void", admin) for _ in range(3)])
    assert [r.status_code for r in results] == [200, 200, 200]
    assert all(r.json()["state"] == "void" for r in results)
    for p in players:
        b = await ledger.balance(p.owner, "KES")
        assert (b.posted_minor, b.available_minor) == (20_000, 20_000)
    assert await house_net(server, qid) == 0
    r = await admin_post(server, f"/admin/football/{qid}/settle", admin, {"result": "yes"})
    assert r.status_code == 409


async def test_concurrent_settles_pay_once(server: LiveServer, ledger: Ledger) -> None:
    admin = await admin_headers(server.state)
    qid = (await create(server, admin, odds_yes="-110")).json()["id"]
    p = await funded_player(server.state, ledger, 20_000)
    assert (await stake(server, p, qid, "yes", 11_000)).status_code == 201
    results = await asyncio.gather(*[
        admin_post(server, f"/admin/football/{qid}/settle", admin, {"result": "yes"})
        for _ in range(4)])
    assert [r.status_code for r in results] == [200] * 4
    assert await available(ledger, p) == 20_000 + 10_000  # -110: 11_000 * 100 / 110


async def test_stakes_after_closing_time_are_refused(server: LiveServer, ledger: Ledger) -> None:
    admin = await admin_headers(server.state)
    q = (await create(server, admin)).json()
    p = await funded_player(server.state, ledger, 10_000)
    after = datetime.fromisoformat(q["closes_at"]) + timedelta(seconds=1)
    with pytest.raises(QuickplayError) as err:
        await place_bet(server.state, p.user_id, "football", 1_000,
                        {"question_id": q["id"], "side": "yes"}, channel="ws", idem_key="late",
                        now=after)
    assert err.value.code == "question_closed"
    assert await available(ledger, p) == 10_000


@pytest.mark.parametrize(
    ("over", "code"),
    [({"odds_yes": "150"}, "invalid_odds"), ({"odds_no": "1/0"}, "invalid_odds"),
     ({"closes_at": "2020-01-01T00:00:00+00:00"}, "invalid_closes_at"),
     ({"closes_at": "2030-01-01T00:00:00"}, "invalid_closes_at"),
     ({"question": "?"}, "invalid_request")],
)
async def test_bad_questions_are_refused(server: LiveServer, over: dict[str, str], code: str,
                                         ledger: Ledger) -> None:
    admin = await admin_headers(server.state)
    before = await server.state.pool.fetchval("SELECT count(*) FROM football_questions")
    r = await create(server, admin, **over)
    assert (r.status_code, r.json()["code"]) == (400, code)
    assert await server.state.pool.fetchval("SELECT count(*) FROM football_questions") == before


async def test_players_cannot_run_questions(server: LiveServer, ledger: Ledger) -> None:
    p = await funded_player(server.state, ledger, 0)
    assert (await create(server, p.headers)).status_code == 403
    viewer = await admin_headers(server.state, "viewer")
    assert (await create(server, viewer)).status_code == 403


async def test_bet_ids_name_the_hold(server: LiveServer, ledger: Ledger) -> None:
    admin = await admin_headers(server.state)
    qid = (await create(server, admin)).json()["id"]
    p = await funded_player(server.state, ledger, 5_000)
    r = (await stake(server, p, qid, "yes", 2_000)).json()
    hold = await ledger.get_transfer(transfer_id(uuid.UUID(r["bet_id"]), "stake"))
    assert hold is not None and hold.credit == f"escrow:football:{qid}" and not hold.resolved
    await admin_post(server, f"/admin/football/{qid}/void", admin)
