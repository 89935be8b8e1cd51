"""Points and tiebreaks for the formats that keep a table (Swiss, round robin).

Half points throughout (win 2, draw 1, loss 0) so everything stays an integer.
Tiebreaks, in order: Buchholz (the sum of one's opponents' points), then
Sonneborn-Berger (opponents' points weighted by the result against each; kept
doubled, which orders the same), then head to head (points in the games among
the players still tied). Players equal on all of them share a place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from competitions.types import WIN, Pairing, Result


@dataclass(slots=True)
class Row:
    player: str
    points: int = 0
    buchholz: int = 0
    sonneborn_berger: int = 0
    games: list[tuple[str, int]] = field(default_factory=list)  # (opponent, my half points)


def table(
    players: Sequence[str], played: Sequence[tuple[Pairing, Result]],
    byes: Sequence[tuple[int, str]], *, bye_points: int = WIN,
) -> dict[str, Row]:
    """Every player's points and tiebreaks from the games played and the byes given."""
    rows = {p: Row(p) for p in players}
    for m, result in played:
        pa, pb = result.points(m.a, m.b)
        rows[m.a].points += pa
        rows[m.b].points += pb
        rows[m.a].games.append((m.b, pa))
        rows[m.b].games.append((m.a, pb))
    for _rnd, p in byes:
        rows[p].points += bye_points
    for row in rows.values():
        row.buchholz = sum(rows[o].points for o, _ in row.games)
        row.sonneborn_berger = sum(rows[o].points * mine for o, mine in row.games)
    return rows


def ranked(
    rows: dict[str, Row], seed_of: Callable[[str], int], *, buchholz: bool = True,
) -> list[list[str]]:
    """Groups of tied players, best first: points, Buchholz, Sonneborn-Berger, head to head."""

    def key(p: str) -> tuple[int, int, int]:
        r = rows[p]
        return (-r.points, -r.buchholz if buchholz else 0, -r.sonneborn_berger)

    players = sorted(rows, key=lambda p: (key(p), seed_of(p)))
    groups: list[list[str]] = []
    i = 0
    while i < len(players):
        j = i
        while j < len(players) and key(players[j]) == key(players[i]):
            j += 1
        groups.extend(_head_to_head(players[i:j], rows, seed_of))
        i = j
    return groups


def _head_to_head(
    tied: list[str], rows: dict[str, Row], seed_of: Callable[[str], int],
) -> list[list[str]]:
    if len(tied) == 1:
        return [tied]
    members = set(tied)
    mini = {p: sum(pts for o, pts in rows[p].games if o in members) for p in tied}
    order = sorted(tied, key=lambda p: (-mini[p], seed_of(p)))
    groups: list[list[str]] = []
    for p in order:
        if groups and mini[groups[-1][0]] == mini[p]:
            groups[-1].append(p)
        else:
            groups.append([p])
    return groups
