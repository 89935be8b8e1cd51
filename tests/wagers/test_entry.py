"""Who may wager, challenges, and two players accepting one challenge at once."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from tests.support import LiveServer
from tests.wagers.helpers import (
    STAKE,
    Player,
    available,
    birth_years_ago,
    holds_left,
    new_gamer,
    post,
    svc_of,
)


def _today(server: LiveServer) -> Any:
    return datetime.fromtimestamp(server.state.clock.now_ms() / 1000, UTC).date()


async def test_profiles_check_age_and_tags(wager_server: LiveServer, pool: Any) -> None:
    server = wager_server
    p = await new_gamer(server)
    async with server.http() as http:
        young = await http.put("/wagers/profile", headers=p.auth, json={
            "region": "af", "birth_date": "1995-04-02", "tags": {}})
        assert young.json()["code"] == "birth_date_locked"
        kid = await new_gamer(server, 0, birth="1990-01-01")
        await pool.execute("DELETE FROM wager_gamer_tags WHERE user_id = $1", kid.id)
        await pool.execute("DELETE FROM wager_profiles WHERE user_id = $1", kid.id)
        r = await http.put("/wagers/profile", headers=kid.auth, json={
            "region": "af", "birth_date": birth_years_ago(17, _today(server)),
            "tags": {"pc": "kiddo"}})
        assert r.status_code == 403 and r.json()["code"] == "too_young"
        mine = (await http.get("/wagers/profile", headers=p.auth)).json()
        tag = mine["tags"]["pc"]
        other = await new_gamer(server)
        taken = await http.put("/wagers/profile", headers=other.auth, json={
            "region": "eu", "birth_date": "1995-04-01", "tags": {"pc": tag.upper()}})
        assert taken.json()["code"] == "gamer_tag_taken"
        xbox = await http.post("/wagers/challenges", headers=p.auth, json={
            "stake_minor": STAKE, "mode": "gunfight", "platform": "xbox"})
        assert xbox.json()["code"] == "gamer_tag_required"
        odd = await http.post("/wagers/challenges", headers=p.auth, json={
            "stake_minor": 777, "mode": "gunfight", "platform": "pc"})
        assert odd.json()["code"] == "stake_not_offered"


async def test_two_players_accepting_one_challenge_at_once_one_wins(
    wager_server: LiveServer, pool: Any,
) -> None:
    server = wager_server
    a = await new_gamer(server)
    takers = [await new_gamer(server) for _ in range(4)]
    ch = await post(server, a)
    async with server.http() as http:
        answers = await asyncio.gather(*(
            http.post(f"/wagers/challenges/{ch['id']}/accept", headers=t.auth) for t in takers))
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 409, 409, 409], [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 409} == {"challenge_taken"}
    room_id = next(r.json()["room_id"] for r in answers if r.status_code == 201)
    winner = next(t for t, r in zip(takers, answers, strict=True) if r.status_code == 201)
    for t in takers:
        expected = 10_000 - STAKE if t is winner else 10_000
        assert await available(server, t.id) == expected, "losers hold nothing"
    assert await available(server, a.id) == 10_000 - STAKE
    assert await holds_left(server, room_id) == 2
    # Mutual cancel through the live room frees both.
    room = svc_of(server).play.rooms.get(room_id)
    await room.message(a.id, {"t": "wager_cancel"})
    await room.message(winner.id, {"t": "wager_cancel"})
    await room.wait_closed()
    assert await holds_left(server, room_id) == 0
    await server.state.ledger.check_invariants()


async def test_direct_challenges_cancel_and_the_lobby(wager_server: LiveServer, pool: Any) -> None:
    server = wager_server
    a, b, c = await new_gamer(server), await new_gamer(server), await new_gamer(server)
    tag_b = (await pool.fetchval("SELECT tag FROM wager_gamer_tags WHERE user_id = $1", b.id))
    direct = await post(server, a, opponent_tag=tag_b)
    assert direct["opponent_id"] == b.id
    async with server.http() as http:
        seen_by_c = (await http.get("/wagers/challenges", headers=c.auth)).json()["items"]
        seen_by_b = (await http.get("/wagers/challenges", headers=b.auth)).json()["items"]
        assert direct["id"] not in {i["id"] for i in seen_by_c}
        assert direct["id"] in {i["id"] for i in seen_by_b}
        refused = await http.post(f"/wagers/challenges/{direct['id']}/accept", headers=c.auth)
        assert refused.json()["code"] == "not_your_challenge"
        not_mine = await http.post(f"/wagers/challenges/{direct['id']}/cancel", headers=b.auth)
        assert not_mine.json()["code"] == "challenge_not_open"
        done = await http.post(f"/wagers/challenges/{direct['id']}/cancel", headers=a.auth)
        assert done.status_code == 200
        late = await http.post(f"/wagers/challenges/{direct['id']}/accept", headers=b.auth)
        assert late.json()["code"] == "challenge_taken"
    assert await available(server, a.id) == 10_000


async def test_low_reliability_blocks_posting_and_accepting(
    wager_server: LiveServer, pool: Any,
) -> None:
    server = wager_server
    a, b = await new_gamer(server), await new_gamer(server)
    ch = await post(server, a)
    await pool.execute("UPDATE wager_profiles SET reliability = 40 WHERE user_id = $1", b.id)
    async with server.http() as http:
        r = await http.post(f"/wagers/challenges/{ch['id']}/accept", headers=b.auth)
        assert r.status_code == 403 and r.json()["code"] == "reliability_too_low"
        r = await http.post("/wagers/challenges", headers=b.auth, json={
            "stake_minor": STAKE, "mode": "gunfight", "platform": "pc"})
        assert r.json()["code"] == "reliability_too_low"
    assert await available(server, b.id) == 10_000


async def test_a_short_acceptor_holds_nothing(wager_server: LiveServer, pool: Any) -> None:
    server = wager_server
    a, poor = await new_gamer(server), await new_gamer(server, funds_minor=STAKE - 1)
    ch = await post(server, a)
    async with server.http() as http:
        r = await http.post(f"/wagers/challenges/{ch['id']}/accept", headers=poor.auth)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_funds"
    assert await available(server, a.id) == 10_000
    assert await available(server, poor.id) == STAKE - 1


def _png(size: int = 8) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


async def _live_match(server: LiveServer) -> tuple[Player, Player, str]:
    a, b = await new_gamer(server), await new_gamer(server)
    ch = await post(server, a)
    async with server.http() as http:
        r = await http.post(f"/wagers/challenges/{ch['id']}/accept", headers=b.auth)
    return a, b, r.json()["room_id"]


async def test_evidence_uploads_are_checked_capped_and_stored(
    wager_server: LiveServer, pool: Any,
) -> None:
    server = wager_server
    a, b, room_id = await _live_match(server)
    url = f"/wagers/matches/{room_id}/evidence"
    uploads = server.state.settings.data_dir / "uploads" / "wager"
    before = set(uploads.iterdir()) if uploads.exists() else set()
    async with server.http() as http:
        def send(raw: bytes, name: str, ctype: str, who: Player = a) -> Any:
            return http.post(f"{url}?name={name}", content=raw,
                             headers={**who.auth, "content-type": ctype})

        text = await send(b"not a picture at all", "shot.png", "image/png")
        assert text.status_code == 400 and text.json()["code"] == "file_not_image"
        gif = io.BytesIO()
        Image.new("RGB", (4, 4)).save(gif, "GIF")
        wrong = await send(gif.getvalue(), "shot.gif", "image/gif")
        assert wrong.status_code == 400 and wrong.json()["code"] == "file_type"
        liar = await send(_png(), "shot.jpg", "image/jpeg")
        assert liar.status_code == 400 and liar.json()["code"] == "file_mismatch"
        big = await send(b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 10), "big.png", "image/png")
        assert big.status_code == 413 and big.json()["code"] == "file_too_large"
        stranger = await new_gamer(server)
        nope = await send(_png(), "shot.png", "image/png", stranger)
        assert nope.status_code == 404
        assert await pool.fetchval(
            "SELECT count(*) FROM wager_evidence WHERE room_id = $1", room_id) == 0
        assert (set(uploads.iterdir()) if uploads.exists() else set()) == before, \
            "a refused upload stores nothing"

        oks = await asyncio.gather(*(send(_png(8 + i), f"s{i}.png", "image/png")
                                     for i in range(12)))
        assert sorted(r.status_code for r in oks) == [201] * 10 + [409, 409]
        assert {r.json()["code"] for r in oks if r.status_code == 409} == {"evidence_limit"}
        first = next(r.json() for r in oks if r.status_code == 201)
        got = await http.get(first["url"], headers=b.auth)
        assert got.status_code == 200 and got.headers["content-type"] == "image/png"
        assert got.content.startswith(b"\x89PNG")
        hidden = await http.get(first["url"], headers=stranger.auth)
        assert hidden.status_code == 404
    assert len(set(uploads.iterdir()) - before) == 10
    room = svc_of(server).play.rooms.get(room_id)
    for uid in (a.id, b.id):
        await room.message(uid, {"t": "wager_cancel"})
    await room.wait_closed()
