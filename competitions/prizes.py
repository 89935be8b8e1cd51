"""Prize money: the fund, the table by field size, tied places splitting their prizes.

All integer minor units through `ledger.money` (every share rounds down, the
remainder goes to the house):

    fund      = max(fees - rake, guarantee)      rake = fees - split_pot(fees, rake_bps)
    overlay   = fund - (fees - rake)             what the house adds to meet a guarantee
    prizes    = the fund split by the table's weights over the places paid
    remainder = fund - sum(prizes)               rounding, and places nobody could take

so `fees + overlay == prizes + rake + remainder` for every tournament, and the
books of `escrow:tournament:<id>` end at zero. Tied players share the prizes of
the places they cover (places 3 and 4 for two semi-final losers), equally.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ledger.money import split_pot, split_shares

BPS = 10_000
MAX_PAID_PLACES = 64


@dataclass(frozen=True, slots=True)
class PrizeTable:
    """Weights (basis points) of the paid places, by the largest field each row serves.

    The default follows the issue: up to 12 entrants 50/30/20, 13–18 40/30/20/10,
    larger fields `larger` (configurable per tournament).
    """

    rows: tuple[tuple[int, tuple[int, ...]], ...] = (
        (12, (5_000, 3_000, 2_000)),
        (18, (4_000, 3_000, 2_000, 1_000)),
    )
    larger: tuple[int, ...] = (3_000, 2_000, 1_400, 1_000, 800, 600, 600, 600)

    def __post_init__(self) -> None:
        for _limit, weights in (*self.rows, (0, self.larger)):
            assert 1 <= len(weights) <= MAX_PAID_PLACES, weights
            assert all(w > 0 for w in weights) and sum(weights) == BPS, weights
        limits = [limit for limit, _ in self.rows]
        assert limits == sorted(limits) and len(set(limits)) == len(limits)

    def weights(self, field_size: int) -> tuple[int, ...]:
        """The paid places' weights for a field; never more places than entrants."""
        assert field_size >= 1
        chosen = next((w for limit, w in self.rows if field_size <= limit), self.larger)
        return chosen[:field_size]

    def to_dict(self) -> dict[str, object]:
        return {"rows": [[limit, list(w)] for limit, w in self.rows], "larger": list(self.larger)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object] | None) -> PrizeTable:
        if not data:
            return cls()
        rows = data.get("rows", [])
        larger = data.get("larger", cls().larger)
        assert isinstance(rows, list) and isinstance(larger, list | tuple)
        return cls(rows=tuple((int(limit), tuple(int(x) for x in w)) for limit, w in rows),
                   larger=tuple(int(x) for x in larger))


@dataclass(frozen=True, slots=True)
class Fund:
    fees_minor: int
    rake_minor: int
    overlay_minor: int
    fund_minor: int


def prize_fund(fees_minor: int, rake_bps: int, guarantee_minor: int = 0) -> Fund:
    """The money to share out: fees less rake, raised to the guarantee by the house."""
    assert fees_minor >= 0 and guarantee_minor >= 0
    net_minor, rake_minor = split_pot(fees_minor, rake_bps)
    fund_minor = max(net_minor, guarantee_minor)
    return Fund(fees_minor, rake_minor, fund_minor - net_minor, fund_minor)


@dataclass(frozen=True, slots=True)
class Allocation:
    prizes_minor: dict[str, int] = field(default_factory=dict)  # only players paid > 0
    places: dict[str, int] = field(default_factory=dict)  # every ranked player's place
    remainder_minor: int = 0  # to the house


def allocate(fund_minor: int, weights: Sequence[int], standings: Sequence[Sequence[str]]) -> \
        Allocation:
    """Share `fund_minor` among ranked groups of tied players (best first).

    Place amounts come from the weights (rounded down); a tied group covering
    places p..q shares the amounts of those places equally (rounded down); the
    house keeps every remainder, including places nobody took.
    """
    assert fund_minor >= 0
    players = [p for group in standings for p in group]
    assert len(set(players)) == len(players), "a player is ranked once"
    places: dict[str, int] = {}
    position = 1
    for group in standings:
        for p in group:
            places[p] = position
        position += len(group)
    paid = list(weights[: len(players)])
    if not paid or fund_minor == 0:
        return Allocation({}, places, fund_minor)
    place_minor, remainder = split_shares(fund_minor, paid)
    prizes: dict[str, int] = {}
    position = 1
    for group in standings:
        covered = place_minor[position - 1: position - 1 + len(group)]
        position += len(group)
        total = sum(covered)
        if total == 0:
            continue
        shares, rest = split_shares(total, [1] * len(group))
        remainder += rest
        for p, share in zip(group, shares, strict=True):
            if share > 0:
                prizes[p] = share
    assert sum(prizes.values()) + remainder == fund_minor
    return Allocation(prizes, places, remainder)
