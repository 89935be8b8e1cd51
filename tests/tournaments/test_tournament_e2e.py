"""Tournaments over real sockets: a 16-player quiz bracket played by bots with one no-show,
and cancelling at every stage refunds every fee exactly once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from matchpot_client.errors import MatchpotError
from matchpot_client.tournament import TournamentBot, TournamentClient

from ledger import TransferRequest, transfer_id
from tests.server.gateway_helpers import new_player
from tests.server.test_admin import admin_session
from tests.support import LiveServer, TestServices, run_server

FUNDS = 100_000
FEE = 1_000
RAKE_BPS = 1_000


@pytest.fixture(scope="module")
async def tour_server(
    test_services: TestServices, tmp_path_factory: pytest.TempPathFactory, pool: Any,
) -> AsyncIterator[LiveServer]:
    settings = test_services.settings(
        Path(tmp_path_factory.mktemp("tournaments")),
        redis_prefix=f"{test_services.redis_prefix}tour",
        game_settings={"quiz": {"countdown_ms": 0, "question_count": 1,
                                "answer_window_ms": 1_500, "reveal_ms": 0,
                                "join_timeout_ms": 10_000}},
    )
    async with run_server(settings, test_services.services_for_run()) as live:
        yield live


async def player(server: LiveServer) -> tuple[str, TournamentClient]:
    state = server.state
    user, token = await new_player(state)
    await state.ledger.transfer(TransferRequest(
        id=transfer_id("test-deposit", user.id), debit="world", credit=f"user:{user.id}",
        amount_minor=FUNDS, currency=state.settings.currency, code="deposit"))
    client = TournamentClient(server.base_url, access_token=token, reconnect=False)
    await client.connect()
    return str(user.id), client


async def available(server: LiveServer, user_id: str) -> int:
    bal = await server.state.ledger.balance(f"user:{user_id}", server.state.settings.currency)
    return int(bal.available_minor)


async def posted(server: LiveServer, owner: str) -> int:
    bal = await server.state.ledger.balance(owner, server.state.settings.currency)
    return int(bal.posted_minor)


class Admin:
    def __init__(self, server: LiveServer, token: str) -> None:
        self.server = server
        self.headers = {"authorization": f"Bearer {token}"}

    async def post(self, path: str, body: dict[str, Any] | None = None,
                   status: int = 200) -> dict[str, Any]:
        async with self.server.http() as http:
            r = await http.post(path, json=body or {}, headers=self.headers)
        assert r.status_code == status, r.text
        return dict(r.json())

    async def create(self, **overrides: Any) -> str:
        body: dict[str, Any] = {
            "name": "Friday cup", "format": "single_elimination", "entry_fee_minor": FEE,
            "rake_bps": RAKE_BPS, "min_players": 2, "max_players": 16, "open": True,
            "options": {"match_checkin_ms": 2_000}}
        body.update(overrides)
        return str((await self.post("/admin/tournaments", body, 201))["tournament"]["id"])


@pytest.fixture
async def admin(tour_server: LiveServer) -> Admin:
    async with tour_server.http() as http:
        session = await admin_session(http, tour_server, "operator")
    return Admin(tour_server, session["access_token"])


async def test_sixteen_bots_play_a_bracket_with_one_no_show(
    tour_server: LiveServer, admin: Admin, pool: Any,
) -> None:
    tid = await admin.create()
    players = [await player(tour_server) for _ in range(16)]
    ids = [uid for uid, _ in players]
    house_before = await posted(tour_server, "house")
    watcher_id, watcher = await player(tour_server)
    try:
        for _uid, client in players:
            reply = await client.register(tid)
            assert reply["fee_minor"] == FEE
        assert await available(tour_server, ids[0]) == FUNDS - FEE, "the fee is held"
        with pytest.raises(MatchpotError) as err:
            await watcher.watch(tid)
        assert err.value.code == "wrong_node", "nothing to watch before the start"
        started = await admin.post(f"/admin/tournaments/{tid}/start")
        assert started["tournament"]["status"] == "running"
        watching = await watcher.watch(tid)
        snapshot = await watcher.next_event("tournament_state", timeout=5)
        assert snapshot["view"]["size"] == 16 and watching["resumed"] is False
        assert len([m for m in snapshot["view"]["matches"] if m["round"] == 1]) == 8
        no_show = ids[5]
        bots = [TournamentBot(c, random.Random(i), show_up=uid != no_show)
                for i, (uid, c) in enumerate(players)]
        runs = await asyncio.gather(*(b.play(tid, timeout_s=90) for b in bots))
    finally:
        for _uid, c in [*players, (watcher_id, watcher)]:
            await c.close()

    async with tour_server.http() as http:
        detail = (await http.get(f"/tournaments/{tid}")).json()
    t = detail["tournament"]
    assert t["status"] == "finished" and t["end_reason"] == "finished"
    view = detail["view"]
    matches = {m["match_id"]: m for m in view["matches"]}
    assert len(matches) == 15 and all(m["winner"] for m in matches.values())
    no_show_match = next(m for m in matches.values() if no_show in (m["a"], m["b"]))
    assert no_show_match["round"] == 1 and no_show_match["forfeit"]
    assert no_show_match["winner"] != no_show
    champion = view["champion"]
    assert champion and champion != no_show
    # The bracket is consistent: each round's winners meet in the next.
    for r in range(2, 5):
        for i in range(16 >> r):
            m = matches[f"W{r}-{i + 1}"]
            feeders = {matches[f"W{r - 1}-{2 * i + 1}"]["winner"],
                       matches[f"W{r - 1}-{2 * i + 2}"]["winner"]}
            assert {m["a"], m["b"]} == feeders
    assert sum(run.matches for run in runs) == 2 * 14, "both sat in every match but the forfeit"
    assert runs[ids.index(no_show)].matches == 0

    # Prizes: 16 entrants pay 40/30/20/10; the two semi-final losers share 3rd and 4th.
    fees = 16 * FEE
    fund = fees - fees * RAKE_BPS // 10_000
    final = matches["W4-1"]
    runner_up = final["b"] if final["winner"] == final["a"] else final["a"]
    semis = [matches["W3-1"], matches["W3-2"]]
    third = [s["b"] if s["winner"] == s["a"] else s["a"] for s in semis]
    expect = {champion: fund * 4_000 // 10_000, runner_up: fund * 3_000 // 10_000}
    for p in third:
        expect[p] = (fund * 2_000 // 10_000 + fund * 1_000 // 10_000) // 2
    settlement = t["settlement"]
    assert settlement["prizes_minor"] == expect
    assert settlement["places"][champion] == 1 and settlement["places"][third[0]] == 3
    for uid in ids:
        assert await available(tour_server, uid) == FUNDS - FEE + expect.get(uid, 0)
    paid = sum(expect.values())
    assert await posted(tour_server, "house") - house_before == fees - paid
    assert await posted(tour_server, f"escrow:tournament:{tid}") == 0
    finals = {r.final["place"] for r in runs}
    assert 1 in finals and all(r.final["t"] == "tournament_finished" for r in runs)
    transfers = await pool.fetchval(
        "SELECT count(*) FROM transfers WHERE code = 'tournament_prize'"
        " AND meta->>'tournament_id' = $1", tid)
    assert transfers == len(expect), "each prize paid once"
    await admin.post(f"/admin/tournaments/{tid}/cancel", {"reason": "late"}, 409)


async def _entered(server: LiveServer, tid: str, n: int) -> list[tuple[str, TournamentClient]]:
    out = []
    for _ in range(n):
        uid, client = await player(server)
        await client.register(tid)
        out.append((uid, client))
    return out


async def _refunded_once(server: LiveServer, pool: Any, tid: str, ids: list[str]) -> None:
    for uid in ids:
        assert await available(server, uid) == FUNDS, "every fee is back"
    moved = await pool.fetch(
        "SELECT code, count(*) AS n FROM transfers WHERE meta->>'tournament_id' = $1"
        " AND code IN ('tournament_cancel', 'tournament_refund', 'tournament_leave',"
        " 'tournament_drop') GROUP BY code", tid)
    assert sum(r["n"] for r in moved) == len(ids), "one refund per entrant"
    assert await posted(server, f"escrow:tournament:{tid}") == 0


@pytest.mark.parametrize("stage", ["registration", "checkin", "running"])
async def test_cancelling_at_each_stage_refunds_everyone_once(
    tour_server: LiveServer, admin: Admin, pool: Any, stage: str,
) -> None:
    future = tour_server.state.clock.now_ms() + 7_200_000  # check-in opens in an hour
    tid = await admin.create(starts_at_ms=future, checkin_ms=3_600_000 if stage != "registration"
                             else 0, options={"match_checkin_ms": 60_000})
    entered = await _entered(tour_server, tid, 4)
    ids = [uid for uid, _ in entered]
    service = tour_server.state.extras["tournaments"]
    try:
        if stage in ("checkin", "running"):
            await service.open_checkin(tid)  # the scheduler's step when the window opens
            for _uid, c in entered:
                await c.checkin(tid)
        if stage == "running":
            await admin.post(f"/admin/tournaments/{tid}/start")
            for uid in ids:
                assert await available(tour_server, uid) == FUNDS - FEE, "the fee is paid"
            assert await posted(tour_server, f"escrow:tournament:{tid}") == 4 * FEE
        cancelled = await admin.post(f"/admin/tournaments/{tid}/cancel", {"reason": "storm"})
        assert cancelled["tournament"]["status"] == "cancelled"
        await admin.post(f"/admin/tournaments/{tid}/cancel", {"reason": "again"}, 409)
        note = await entered[0][1].next_event("tournament_cancelled", timeout=5)
        assert note["refunded_minor"] == FEE
    finally:
        for _uid, c in entered:
            await c.close()
    await _refunded_once(tour_server, pool, tid, ids)
    audited = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'tournament.cancel' AND target = $1",
        f"tournament:{tid}")
    assert audited == 1


async def test_leaving_and_missing_check_in_refund_and_too_few_cancel(
    tour_server: LiveServer, admin: Admin, pool: Any,
) -> None:
    future = tour_server.state.clock.now_ms() + 7_200_000  # check-in opens in an hour
    tid = await admin.create(starts_at_ms=future, checkin_ms=3_600_000, min_players=3)
    entered = await _entered(tour_server, tid, 4)
    ids = [uid for uid, _ in entered]
    try:
        left = await entered[0][1].leave(tid)
        assert left["refunded_minor"] == FEE
        assert await available(tour_server, ids[0]) == FUNDS
        again = await entered[0][1].register(tid)  # and back in, with a fresh hold
        assert again["replayed"] is False
        await entered[0][1].leave(tid)
        await tour_server.state.extras["tournaments"].open_checkin(tid)
        await entered[1][1].checkin(tid)
        await entered[2][1].checkin(tid)
        # Two checked in, three needed: the start cancels and returns everything.
        result = await admin.post(f"/admin/tournaments/{tid}/start")
        assert result["tournament"]["status"] == "cancelled"
        assert result["tournament"]["end_reason"] == "too_few_players"
    finally:
        for _uid, c in entered:
            await c.close()
    for uid in ids:
        assert await available(tour_server, uid) == FUNDS


async def test_unchecked_players_are_dropped_and_the_rest_play(
    tour_server: LiveServer, admin: Admin, pool: Any,
) -> None:
    future = tour_server.state.clock.now_ms() + 7_200_000  # check-in opens in an hour
    tid = await admin.create(starts_at_ms=future, checkin_ms=3_600_000, format="swiss",
                             options={"match_checkin_ms": 60_000})
    entered = await _entered(tour_server, tid, 5)
    ids = [uid for uid, _ in entered]
    try:
        await tour_server.state.extras["tournaments"].open_checkin(tid)
        for _uid, c in entered[:4]:
            await c.checkin(tid)
        await admin.post(f"/admin/tournaments/{tid}/start")
        dropped = await entered[4][1].next_event("tournament_dropped", timeout=5)
        assert dropped["refunded_minor"] == FEE
        assert await available(tour_server, ids[4]) == FUNDS
        ready = await entered[0][1].next_event("tournament_match_ready", timeout=5)
        assert ready["opponent"] in ids[:4]
        # End early, paying by the standings so far (nobody has played: all tie).
        ended = await admin.post(f"/admin/tournaments/{tid}/end",
                                 {"mode": "pay", "reason": "test"})
        assert ended["tournament"]["status"] == "finished"
    finally:
        for _uid, c in entered:
            await c.close()
    total = sum([await available(tour_server, uid) for uid in ids[:4]])
    fund = 4 * FEE - 4 * FEE * RAKE_BPS // 10_000
    assert total >= 4 * (FUNDS - FEE) + fund - 4, "the whole fund is paid, less rounding"


async def test_a_repeating_tournament_creates_its_next_occurrence_once(
    tour_server: LiveServer, admin: Admin, pool: Any,
) -> None:
    hour_ms = 3_600_000
    future = (tour_server.state.clock.now_ms() // hour_ms + 3) * hour_ms  # on the hour
    tid = await admin.create(starts_at_ms=future, recurrence="0 * * * *")
    await admin.post(f"/admin/tournaments/{tid}/cancel", {"reason": "moved"})
    service = tour_server.state.extras["tournaments"]
    await service.tick()
    await service.tick()
    rows = await pool.fetch(
        "SELECT id::text AS id, status, starts_at_ms FROM tournaments WHERE series_id ="
        " (SELECT series_id FROM tournaments WHERE id = $1::uuid) ORDER BY starts_at_ms", tid)
    assert [(r["status"], r["starts_at_ms"]) for r in rows] == [
        ("cancelled", future), ("registration", future + hour_ms)]
