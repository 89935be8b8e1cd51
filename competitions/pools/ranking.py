"""Standings and prizes: competition ranking (1, 2, 2, 4) and tied places sharing prizes.

A member's score is their bankroll: credits in hand plus the stakes of bets not yet graded
(so placing a bet does not move anyone; grading does). Equal bankrolls share a rank, and
the next rank skips (1, 2, 2, 4). Tiebreak for the order of a listing only (never for a
rank or a prize): the member's seat number from the draw, lowest first, which the
audited shuffle made random. Tied members split the prizes of all the places they cover
equally; each share rounds down and the remainder stays with the house (ledger.split_shares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ledger import BPS_PER_UNIT, bps_down, split_shares

MAX_PRIZE_PLACES = 1000


@dataclass(frozen=True, slots=True)
class Entry:
    key: str  # the member (a user id)
    score: int  # bankroll in credits
    seat: int  # seat number from the draw: the listing tiebreak


@dataclass(frozen=True, slots=True)
class Standing:
    key: str
    score: int
    seat: int
    rank: int


def rank(entries: Sequence[Entry]) -> list[Standing]:
    """Entries ordered by score (highest first, then seat) with competition ranks."""
    ordered = sorted(entries, key=lambda e: (-e.score, e.seat, e.key))
    out: list[Standing] = []
    for i, e in enumerate(ordered):
        r = out[-1].rank if out and out[-1].score == e.score else i + 1
        out.append(Standing(e.key, e.score, e.seat, r))
    return out


@dataclass(frozen=True, slots=True)
class PrizeLine:
    """The prize of one place: a fixed amount or a share (basis points) of the pool's fund."""

    place: int
    amount_minor: int = 0
    share_bps: int = 0

    def value(self, fund_minor: int) -> int:
        return self.amount_minor + bps_down(fund_minor, self.share_bps)


def check_table(table: Sequence[PrizeLine]) -> None:
    """Places 1..N once each, amounts not negative, shares adding up to at most 100 %."""
    if len(table) > MAX_PRIZE_PLACES:
        raise ValueError(f"at most {MAX_PRIZE_PLACES} prize places")
    places = sorted(line.place for line in table)
    if places != list(range(1, len(places) + 1)):
        raise ValueError("prize places are 1..N, each once")
    if any(line.amount_minor < 0 or line.share_bps < 0 for line in table):
        raise ValueError("prizes are not negative")
    if sum(line.share_bps for line in table) > BPS_PER_UNIT:
        raise ValueError("prize shares add up to more than the fund")


def awards(
    standings: Sequence[Standing], table: Sequence[PrizeLine], fund_minor: int
) -> tuple[dict[str, int], int]:
    """(prize per member key, remainder for the house) for final `standings`.

    The members tied at rank r cover places r .. r+k-1; they split the sum of those places'
    prizes equally (rounded down; the remainder goes to the house). Members without a prize
    are absent from the result.
    """
    check_table(table)
    by_place = {line.place: line.value(fund_minor) for line in table}
    prizes: dict[str, int] = {}
    remainder = 0
    i = 0
    while i < len(standings):
        r = standings[i].rank
        group = [s for s in standings[i:] if s.rank == r]
        assert r == i + 1, "competition ranks: the first of a group sits at its place"
        total = sum(by_place.get(place, 0) for place in range(r, r + len(group)))
        if total > 0:
            shares, rest = split_shares(total, [1] * len(group))
            remainder += rest
            for s, share in zip(group, shares, strict=True):
                if share > 0:
                    prizes[s.key] = share
        i += len(group)
    return prizes, remainder
