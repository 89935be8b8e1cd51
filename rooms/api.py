"""The game API: everything a room kind needs, and everything it may do, in one module.

A game is plain code driven by its room: the runtime calls the hooks below one
input at a time (never two at once), with the room clock and RNG injected, so
a test can play a whole match in milliseconds. A game never touches the ledger,
Redis or a socket. When it knows how the match ended it calls
`room.end(outcome)`; the runtime commits the `Outcome` (with its retries) and
only then calls `on_settled`, where the game announces the result. Anything
from outside the room — an admin ruling, a reported result, a tournament's
instruction — arrives as a `Signal` through the same ordered queue.

    class HigherCard(Game):
        async def on_join(self, room, seat, rejoined):
            if all(s.joined_ever for s in room.seats.values()):
                room.end(Outcome.winner_takes_pot(self.spec.seats, winner, rake_bps=500))

        async def on_settled(self, room, settled):
            room.publish({"t": "card_result", "winner": settled.winner})
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from ledger import split_pot
from rooms.errors import GameError, InvalidMatch
from rooms.types import HeldStake, MatchSpec

__all__ = [
    "Frame",
    "Game",
    "GameError",
    "GameFactory",
    "HeldStake",
    "MatchSpec",
    "Outcome",
    "RoomContext",
    "Seat",
    "SeatResult",
    "Send",
    "Settled",
    "Signal",
]

Frame = dict[str, Any]
"""One wire message: a map with a type `t` (msgpack or JSON on the socket)."""

Send = Callable[[Frame], None]
"""Delivers a frame to one connection; never blocks (the gateway queues it)."""

RESULT_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
SEAT_RESULTS = frozenset({"won", "lost", "draw", "refunded"})
MAX_SIGNAL_NAME = 64


@dataclass(slots=True)
class Seat:
    """A player's place in a room; it outlives any one connection."""

    user_id: str
    stake: HeldStake
    conn_id: str | None = None
    send: Send | None = None
    joined_ever: bool = False
    absent: bool = False  # still away after the grace window
    last_seq_sent: int = 0
    left_at_ms: int | None = None

    @property
    def connected(self) -> bool:
        return self.send is not None


@dataclass(frozen=True, slots=True)
class Signal:
    """Something from outside the room that must reach the game in order with its inputs.

    `name` says what it is (`admin_ruling`, `result_reported`, `round_start`),
    `sender` who sent it (an admin id, a service name), `payload` the rest.
    """

    name: str
    payload: Mapping[str, Any] = field(default_factory=dict)
    sender: str = "server"

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > MAX_SIGNAL_NAME:
            raise GameError("a signal name is 1 to 64 characters", code="invalid_signal")


@dataclass(frozen=True, slots=True)
class SeatResult:
    """How the match ended for one seat, for its history and its alert."""

    user_id: str
    result: str  # won, lost, draw, refunded
    score: int = 0
    time_ms: int = 0

    def __post_init__(self) -> None:
        assert self.result in SEAT_RESULTS, self.result


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a game hands back when it ends: the money to move and each seat's result.

    Either every stake is returned (`refund`), or every stake is posted into the
    game's escrow and paid out again: `payouts_minor` to players and
    `rake_minor` to the house, which together are exactly the pot. Build one
    with `winner_takes_pot`, `split_between` or `refund_all` rather than by hand:
    they apply the ledger's one rounding rule.
    """

    result: str  # the game's word for how it ended: win, tie_refund, no_show, aborted, ...
    seats: tuple[SeatResult, ...]
    refund: bool = False
    payouts_minor: Mapping[str, int] = field(default_factory=dict)
    rake_minor: int = 0
    winner: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)  # kept with the history row

    def __post_init__(self) -> None:
        assert RESULT_RE.match(self.result), self.result
        assert self.rake_minor >= 0
        assert all(v >= 0 for v in self.payouts_minor.values())
        if self.refund:
            assert not self.payouts_minor and self.rake_minor == 0 and self.winner is None

    @classmethod
    def winner_takes_pot(
        cls, stakes: Sequence[HeldStake], winner: str, *, rake_bps: int, result: str = "win",
        scores: Mapping[str, int] | None = None, times_ms: Mapping[str, int] | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """The winner gets the pot less the house's rake (rounded towards the house)."""
        pot_minor = sum(s.stake_minor for s in stakes)
        payout_minor, rake_minor = split_pot(pot_minor, rake_bps)
        return cls(
            result=result, winner=winner, rake_minor=rake_minor,
            payouts_minor={winner: payout_minor} if payout_minor else {},
            seats=_seat_results(stakes, scores, times_ms,
                                lambda uid: "won" if uid == winner else "lost"),
            detail=dict(detail or {}),
        )

    @classmethod
    def split_between(
        cls, stakes: Sequence[HeldStake], weights: Mapping[str, int], *, rake_bps: int,
        result: str = "draw", scores: Mapping[str, int] | None = None,
        times_ms: Mapping[str, int] | None = None, detail: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """The pot less rake shared by integer weights; remainders go to the house."""
        from ledger import split_shares

        pot_minor = sum(s.stake_minor for s in stakes)
        payout_minor, rake_minor = split_pot(pot_minor, rake_bps)
        users = [s.user_id for s in stakes if weights.get(s.user_id, 0) > 0]
        assert users, "someone shares the pot"
        shares, remainder = split_shares(payout_minor, [weights[u] for u in users])
        return cls(
            result=result, rake_minor=rake_minor + remainder,
            payouts_minor={u: s for u, s in zip(users, shares, strict=True) if s},
            seats=_seat_results(stakes, scores, times_ms,
                                lambda uid: "draw" if uid in users else "lost"),
            detail=dict(detail or {}),
        )

    @classmethod
    def refund_all(
        cls, stakes: Sequence[HeldStake], *, result: str, scores: Mapping[str, int] | None = None,
        times_ms: Mapping[str, int] | None = None, detail: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """Every stake goes back to its player (no-show, tie, abort)."""
        return cls(
            result=result, refund=True,
            seats=_seat_results(stakes, scores, times_ms, lambda _uid: "refunded"),
            detail=dict(detail or {}),
        )

    def check(self, spec: MatchSpec) -> None:
        """Refuse an outcome that does not fit its room: money is conserved, seats match."""
        users = set(spec.user_ids)
        if {s.user_id for s in self.seats} != users or len(self.seats) != len(users):
            raise InvalidMatch("an outcome has one result per seat")
        if not set(self.payouts_minor) <= users:
            raise InvalidMatch("an outcome pays only seated players")
        if self.winner is not None and self.winner not in users:
            raise InvalidMatch("the winner holds a seat")
        pot_minor = sum(s.stake_minor for s in spec.seats)
        if not self.refund and sum(self.payouts_minor.values()) + self.rake_minor != pot_minor:
            raise InvalidMatch("payouts and rake must add up to the pot")

    @property
    def payout_total_minor(self) -> int:
        return sum(self.payouts_minor.values())


def _seat_results(
    stakes: Sequence[HeldStake], scores: Mapping[str, int] | None,
    times_ms: Mapping[str, int] | None, result_of: Callable[[str], str],
) -> tuple[SeatResult, ...]:
    scores = scores or {}
    times_ms = times_ms or {}
    return tuple(
        SeatResult(s.user_id, result_of(s.user_id), int(scores.get(s.user_id, 0)),
                   int(times_ms.get(s.user_id, 0)))
        for s in stakes
    )


@dataclass(frozen=True, slots=True)
class Settled:
    """An outcome as the ledger committed it; `replayed` when it had been settled before."""

    room_id: str
    outcome: Outcome
    pot_minor: int
    refunded: bool
    replayed: bool = False

    @property
    def winner(self) -> str | None:
        return self.outcome.winner

    @property
    def payouts_minor(self) -> Mapping[str, int]:
        return MappingProxyType(dict(self.outcome.payouts_minor))

    @property
    def rake_minor(self) -> int:
        return self.outcome.rake_minor

    def payout_of(self, user_id: str) -> int:
        return int(self.outcome.payouts_minor.get(user_id, 0))


class RoomContext(Protocol):
    """What a game may do with its room."""

    @property
    def room_id(self) -> str: ...
    @property
    def rng(self) -> random.Random: ...
    @property
    def seats(self) -> Mapping[str, Seat]: ...
    @property
    def seq(self) -> int: ...
    @property
    def closing(self) -> bool: ...
    @property
    def ending(self) -> bool:
        """True once `end()` was called: the outcome is being (or has been) committed."""
        ...

    def now_ms(self) -> int: ...
    def publish(self, frame: Frame) -> int: ...
    def send_to(self, user_id: str, frame: Frame) -> None: ...
    def set_timer(self, name: str, at_ms: int) -> None: ...
    def cancel_timer(self, name: str) -> None: ...
    async def end(self, outcome: Outcome) -> None:
        """Commit the outcome (retrying transient failures), then call `on_settled`."""
        ...
    def finish(self) -> None:
        """Close the room after the current input without any money moving (no stakes)."""
        ...


class Game:
    """Base class of a room kind. Override the hooks you need; each runs inside the room task.

    `phase` and `deadline_ms` are read by the runtime for the directory and the
    `room_state` frame; keep them current.
    """

    name = "game"
    phase = "created"
    deadline_ms: int | None = None
    message_types: frozenset[str] = frozenset()

    async def on_create(self, room: RoomContext) -> None:
        return None

    async def on_join(self, room: RoomContext, seat: Seat, rejoined: bool) -> None:
        return None

    async def on_message(
        self, room: RoomContext, seat: Seat, frame: Frame, at_ms: int
    ) -> Frame | None:
        """A seated player's frame (stamped on arrival); the returned frame is the reply."""
        raise GameError("this game takes no messages", code="unknown_message")

    async def on_signal(self, room: RoomContext, signal: Signal) -> Frame | None:
        """An outside instruction (admin ruling, reported result); the return is the answer."""
        raise GameError(f"this game takes no {signal.name!r} signal", code="unknown_signal")

    async def on_leave(self, room: RoomContext, seat: Seat) -> None:
        return None

    async def on_absent(self, room: RoomContext, seat: Seat) -> None:
        """The grace window ran out and the player is still away: apply the absence rule."""
        return None

    async def on_tick(self, room: RoomContext, timer: str) -> None:
        return None

    async def on_settled(self, room: RoomContext, settled: Settled) -> None:
        """The outcome is committed: announce it. The room closes after this hook."""
        return None

    async def on_abort(self, room: RoomContext, reason: str) -> None:
        """Stop early (drain, failure): cancel timers, update the phase. Money is the runtime's."""
        return None

    async def on_dispose(self, room: RoomContext) -> None:
        return None

    def snapshot(self, viewer: str | None) -> Frame:
        """The game's state as `viewer` may see it; None is the public (spectator) view."""
        return {}


GameFactory = Callable[[MatchSpec, random.Random], Game]
"""Makes the game of one room from its match and its own seeded RNG."""
