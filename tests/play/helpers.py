"""Players with money and a connected Python client, for live-play tests."""

from __future__ import annotations

from typing import Any

from matchpot_client.play import PlayClient

from ledger import TransferRequest, transfer_id
from tests.server.gateway_helpers import new_player

STAKE_MINOR = 10_000


async def funded_client(server: Any, amount_minor: int = 100_000) -> tuple[str, PlayClient]:
    """A new player credited `amount_minor` (as a deposit would) and connected over /ws."""
    state = server.state
    user, token = await new_player(state)
    await state.ledger.transfer(TransferRequest(
        id=transfer_id("test-deposit", user.id), debit="world", credit=f"user:{user.id}",
        amount_minor=amount_minor, currency=state.settings.currency, code="deposit",
    ))
    client = PlayClient(server.base_url, access_token=token, reconnect=False)
    await client.connect()
    return user.id, client


def current_answer(server: Any, room_id: str) -> tuple[int, int]:
    """(index, right choice) of the question being asked — the test plays an oracle player."""
    room = server.state.extras["play"].rooms.get(room_id)
    asked = room.game.asked[-1]
    return len(room.game.asked) - 1, asked.question.answer_index


async def available(server: Any, user_id: str) -> int:
    bal = await server.state.ledger.balance(f"user:{user_id}", server.state.settings.currency)
    return int(bal.available_minor)
