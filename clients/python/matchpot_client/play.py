"""Live play on top of the client: queue for a duel, take the seat, answer, read history.

    client = PlayClient(base_url, access_token=token)
    await client.connect()
    await client.queue_join("quiz", 10_000)
    found = await client.wait_match(timeout=60)
    await client.room_join(found["room_id"], found["seat_token"])
    question = await client.next_event("quiz_question")
    await client.answer(found["room_id"], question["index"], 2)

The frames are those of docs/protocol.md and the quiz game (`quiz_start`,
`quiz_question`, `quiz_reveal`, `quiz_result`, `room_aborted`).
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any

from matchpot_client.client import MatchpotClient
from matchpot_client.errors import MatchpotError

__all__ = ["DUEL_END_TYPES", "PlayClient"]

DUEL_END_TYPES = frozenset({"quiz_result", "room_aborted"})


class PlayClient(MatchpotClient):
    """A MatchpotClient that can queue for, sit in and play quiz duels."""

    ticket_id: str | None = None

    async def queue_join(self, game: str, stake_minor: int) -> dict[str, Any]:
        """Put the stake on hold and wait in the queue; the reply is the `queued` ticket."""
        if not isinstance(stake_minor, int) or stake_minor <= 0:
            raise MatchpotError("invalid_field", "stake_minor must be a positive whole number.")
        reply = await self.request("queue_join", game=game, stake_minor=stake_minor)
        self.ticket_id = str(reply["ticket_id"])
        return reply

    async def queue_leave(self) -> dict[str, Any]:
        """Leave the queue; the server releases the held stake at once."""
        reply = await self.request("queue_leave")
        self.ticket_id = None
        return reply

    async def wait_match(self, timeout: float = 120.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The `match_found` push for the current ticket.

        A `queue_timeout` push (the wait ran out and the stake came back) raises
        MatchpotError("queue_timeout") so a caller cannot mistake it for a match.
        """
        event = await self.next_of(("match_found", "queue_timeout"), timeout=timeout)
        self.ticket_id = None
        if event["t"] == "queue_timeout":
            raise MatchpotError("queue_timeout", "Nobody was found in time; the stake is back.")
        return event

    async def room_join(
        self, room_id: str, seat_token: str | None = None, *, since_seq: int | None = None
    ) -> dict[str, Any]:
        """Take the seat (token needed the first time) or come back to it within the grace."""
        fields: dict[str, Any] = {"room_id": room_id}
        if seat_token is not None:
            fields["seat_token"] = seat_token
        if since_seq is not None:
            fields["since_seq"] = since_seq
        return await self.request("room_join", **fields)

    async def take_seat(self, found: dict[str, Any]) -> dict[str, Any]:
        """Sit down after `match_found`, first moving to the room's node if it is another one."""
        ws_url, node = found.get("ws_url"), found.get("node")
        here = (self.welcome or {}).get("node")
        elsewhere = node != here if node and here else ws_url != self.ws_url
        if isinstance(ws_url, str) and elsewhere:
            await self.move_to(ws_url)
        return await self.room_join(found["room_id"], found["seat_token"])

    async def answer(self, room_id: str, index: int, choice: int) -> dict[str, Any]:
        """Answer question `index` with `choice` (0..3); the server stamps the arrival time."""
        return await self.request("quiz_answer", room_id=room_id, index=index, choice=choice)

    async def duel_history(self, limit: int = 20, before: str | None = None) -> dict[str, Any]:
        """Past duels, newest first; pass the reply's `next` as `before` for the next page."""
        fields: dict[str, Any] = {"limit": limit}
        if before is not None:
            fields["before"] = before
        return await self.request("duel_history", **fields)

    async def balances(self) -> list[dict[str, Any]]:
        """The player's balances as the server reads them now."""
        reply = await self.request("balance")
        return list(reply.get("balances", []))

    async def next_of(
        self, types: Collection[str], *, timeout: float = 10.0  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """The next event whose type is one of `types` (others are dropped), or `timeout`.

        A `_disconnected` event ends the wait with MatchpotError("disconnected"),
        since whatever was awaited can no longer arrive on this socket.
        """
        deadline = time.monotonic() + timeout
        while True:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                raise MatchpotError("timeout", f"None of {sorted(types)} in {timeout:g} s.")
            event = await self.next_event(timeout=left_s)
            if event["t"] in types:
                return event
            if event["t"] == "_disconnected":
                raise MatchpotError("disconnected", "The connection closed.")
