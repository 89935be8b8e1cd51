"""Players with a gaming profile and credits, challenges, and wager rooms on a manual clock."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from matchpot_client.play import PlayClient

from ledger import TransferRequest, transfer_id, user_account
from rooms.clock import ManualClock
from rooms.games.wager import WagerMatch
from rooms.runtime import Room
from server.features.wagers import challenges
from server.features.wagers.service import WagerService, WagerSettler
from tests.rooms.helpers import Recorder
from tests.server.gateway_helpers import new_player
from tests.support import LiveServer

STAKE = 1_000
FEE_BPS = 1_000
POT = 2 * STAKE
PAYOUT = POT * (10_000 - FEE_BPS) // 10_000


@dataclass
class Player:
    id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}"}


def svc_of(server: LiveServer) -> WagerService:
    svc = server.state.extras["wagers"]
    assert isinstance(svc, WagerService)
    return svc


async def new_gamer(server: LiveServer, funds_minor: int = 10_000, *,
                    birth: str = "1995-04-01", platform: str = "pc") -> Player:
    """A player with credits and a gaming profile with a tag on `platform`."""
    state = server.state
    user, token = await new_player(state)
    if funds_minor:
        await state.ledger.transfer(TransferRequest(
            id=transfer_id("test-deposit", user.id), debit="world",
            credit=user_account(user.id), amount_minor=funds_minor,
            currency=state.settings.currency, code="deposit"))
    player = Player(user.id, token)
    async with server.http() as http:
        r = await http.put("/wagers/profile", headers=player.auth, json={
            "region": "af", "birth_date": birth,
            "tags": {platform: f"tag{random.randrange(10**9)}"}})
        assert r.status_code == 200, r.text
    return player


async def post(server: LiveServer, p: Player, **over: Any) -> dict[str, Any]:
    body = {"stake_minor": STAKE, "mode": "gunfight", "platform": "pc",
            "rules": "1v1 Gunfight, best of 3", "maps": ["Shipment", "Rust"], **over}
    async with server.http() as http:
        r = await http.post("/wagers/challenges", headers=p.auth, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def available(server: LiveServer, user_id: str) -> int:
    bal = await server.state.ledger.balance(user_account(user_id), server.state.settings.currency)
    return int(bal.available_minor)


async def holds_left(server: LiveServer, room_id: str) -> int:
    """Stake holds of a match still pending (neither posted nor voided)."""
    row = await server.state.pool.fetchrow(
        "SELECT holds FROM wager_matches WHERE room_id = $1", room_id)
    ids = [uuid.UUID(h["hold_id"]) for h in _json(row["holds"])]
    return int(await server.state.pool.fetchval(
        "SELECT count(*) FROM transfers t WHERE t.id = ANY($1::uuid[]) AND NOT EXISTS"
        " (SELECT 1 FROM transfers r WHERE r.pending_id = t.id)", ids))


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value


async def client_of(server: LiveServer, p: Player) -> PlayClient:
    client = PlayClient(server.base_url, access_token=p.token, reconnect=False)
    await client.connect()
    return client


@dataclass
class ManualMatch:
    """A wager room of a real accepted challenge, driven on a manual clock."""

    clock: ManualClock
    room: Room
    game: WagerMatch
    a: Player  # the challenger (player A of a dispute)
    b: Player
    ra: Recorder
    rb: Recorder

    @property
    def room_id(self) -> str:
        return self.room.room_id

    async def say(self, who: Player, t: str, **fields: Any) -> Any:
        return await self.room.message(who.id, {"t": t, **fields})


async def manual_match(server: LiveServer) -> ManualMatch:
    """Post and accept a challenge (both stakes held), then run its room here on a ManualClock."""
    svc = svc_of(server)
    a, b = await new_gamer(server), await new_gamer(server)
    ch = await post(server, a)
    row_dict, room = await challenges.accept_challenge(
        svc, b.id, uuid.UUID(ch["id"]), ip="10.0.0.1", device="", open_room=False)
    assert room is None
    row = await server.state.pool.fetchrow("SELECT * FROM wager_matches WHERE room_id = $1",
                                           row_dict["room_id"])
    spec = svc.spec_of(row, resume=True)
    clock = ManualClock(server.state.clock.now_ms())
    game = WagerMatch(spec, svc.room_settings, svc.journal)  # type: ignore[arg-type]
    settler = WagerSettler(svc.play.settlement, svc)
    room = Room(spec, game, clock=clock, rng=random.Random(1), settler=settler)
    room.start()
    await clock.settle()
    ra, rb = Recorder(), Recorder()
    await room.join(a.id, "ca", ra)
    await room.join(b.id, "cb", rb)
    return ManualMatch(clock, room, game, a, b, ra, rb)


def birth_years_ago(years: int, today: date) -> str:
    return date(today.year - years, today.month, min(today.day, 28)).isoformat()



async def until_seen(client: PlayClient, types: set[str], limit: int = 50) -> dict[str, Any]:
    """The first event of each type in `types` (others are skipped), at most `limit` events.

    An alert is named by its kind: "wager_alert:wager_payout".
    """
    seen: dict[str, Any] = {}
    for _ in range(limit):
        event = await client.next_event(timeout=10)
        name = f"{event['t']}:{event['kind']}" if event["t"] == "wager_alert" else event["t"]
        if name in types and name not in seen:
            seen[name] = event
        if set(seen) == types:
            return seen
    raise AssertionError(f"saw only {sorted(seen)} of {sorted(types)}")
