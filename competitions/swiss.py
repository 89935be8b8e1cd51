"""Swiss: everyone plays every round against someone on (nearly) the same score.

Rounds default to ⌈log2 N⌉. A round is paired when the previous one is
complete: with an odd number of active players, the bye goes first to the
lowest-ranked player who has not had one, and counts as a win. The rest are
paired by a maximum-weight perfect matching (`networkx`): a pair who already
met weighs almost nothing, so a rematch is chosen only when no pairing
without one exists; among rematch-free pairings, the one with the smallest
score differences (squared) wins, which keeps players within their score
group. Late joiners may enter until half the rounds are paired (missed rounds
score nothing); a withdrawn player is paired no more, and an open match of
theirs is forfeited.
"""

from __future__ import annotations

import math
from typing import Any

import networkx as nx

from competitions.base import Competition
from competitions.scoring import ranked, table
from competitions.types import (
    MAX_PLAYERS,
    CompetitionError,
    Pairing,
    Result,
    check_players,
)

MAX_ROUNDS = 30
REMATCH_WEIGHT = 1
FRESH_WEIGHT = 10**12  # dominates any sum of score penalties (n/2 * (2*MAX_ROUNDS)^2 * 1000)
SCORE_PENALTY = 1_000
NEAR_POINTS = 2  # half points: the restricted first try pairs players within one win


def default_rounds(n: int) -> int:
    return max(1, math.ceil(math.log2(max(2, n))))


class Swiss(Competition):
    kind = "swiss"

    def __init__(self, players: list[str], *, rounds: int | None = None,
                 start: bool = True) -> None:
        check_players(players)
        super().__init__(players)
        self.total_rounds = rounds if rounds is not None else default_rounds(len(players))
        if not 1 <= self.total_rounds <= MAX_ROUNDS:
            raise CompetitionError("rounds", f"a Swiss has 1 to {MAX_ROUNDS} rounds")
        self.rounds: list[dict[str, Any]] = []  # {"pairings": [[id, a, b]], "bye": p | None}
        self.results: dict[str, Result] = {}
        self.stopped = False
        if start:
            self._pair_next()

    # ----- pairing -----

    def _active(self) -> list[str]:
        return [p for p in self.players if p not in self.withdrawn]

    def _met(self) -> set[frozenset[str]]:
        return {frozenset((a, b)) for rnd in self.rounds for _mid, a, b in rnd["pairings"]}

    def _had_bye(self) -> set[str]:
        return {rnd["bye"] for rnd in self.rounds if rnd["bye"] is not None}

    def _pair_next(self) -> None:
        """Pair the next round (the previous one is complete)."""
        active = self._active()
        if len(self.rounds) >= self.total_rounds or len(active) < 2:
            self.stopped = len(active) < 2
            return
        points = {p: r.points for p, r in self._table().items()}
        order = sorted(active, key=lambda p: (-points[p], self.seed_of(p)))
        bye: str | None = None
        if len(order) % 2 == 1:
            had = self._had_bye()
            bye = next((p for p in reversed(order) if p not in had), order[-1])
            order.remove(bye)
        met = self._met()
        if not met:  # the first round: top half against bottom half by seed (1 v n/2+1, ...)
            half = len(order) // 2
            matching = {(order[i], order[i + half]) for i in range(half)}
        else:
            matching = self._match(order, points, met, near=True) \
                or self._match(order, points, met, near=False)
        assert len(matching) * 2 == len(order), "every active player is paired"
        rank = {p: i for i, p in enumerate(order)}
        pairs = sorted((tuple(sorted(pair, key=rank.__getitem__)) for pair in matching),
                       key=lambda ab: rank[ab[0]])
        r = len(self.rounds) + 1
        self.rounds.append({
            "pairings": [[f"S{r}-{i + 1}", a, b] for i, (a, b) in enumerate(pairs)],
            "bye": bye,
        })

    @staticmethod
    def _match(order: list[str], points: dict[str, int], met: set[frozenset[str]], *,
               near: bool) -> set[tuple[str, str]]:
        """A maximum-weight matching; `near` first tries only fresh pairs within one win
        (a much smaller graph), returning an empty set when that pairs fewer than all."""
        graph: nx.Graph[str] = nx.Graph()
        graph.add_nodes_from(order)
        for i, a in enumerate(order):
            for b in order[i + 1:]:
                diff = points[a] - points[b]
                if frozenset((a, b)) in met:
                    if near:
                        continue
                    weight = REMATCH_WEIGHT
                elif near and abs(diff) > NEAR_POINTS:
                    continue
                else:
                    weight = FRESH_WEIGHT - SCORE_PENALTY * diff * diff
                graph.add_edge(a, b, weight=weight)
        matching: set[tuple[str, str]] = nx.max_weight_matching(graph, maxcardinality=True)
        if near and len(matching) * 2 != len(order):
            return set()
        return matching

    def add_player(self, player: str) -> None:
        """A late join: allowed until half the rounds have been paired."""
        if player in self.players:
            raise CompetitionError("already_entered", "that player is already in")
        if len(self.players) >= MAX_PLAYERS:
            raise CompetitionError("field_size", "the field is full")
        if len(self.rounds) > self.total_rounds // 2 or self.finished:
            raise CompetitionError("late_join_closed", "late entries close at half the rounds")
        self.players.append(player)

    # ----- Competition -----

    def _current(self) -> list[Pairing]:
        if not self.rounds:
            return []
        r = len(self.rounds)
        return [Pairing(mid, r, a, b, "swiss") for mid, a, b in self.rounds[-1]["pairings"]]

    def ready(self) -> list[Pairing]:
        return [m for m in self._current() if m.match_id not in self.results]

    def _find(self, match_id: str) -> Pairing | None:
        for r, rnd in enumerate(self.rounds, start=1):
            for mid, a, b in rnd["pairings"]:
                if mid == match_id:
                    return Pairing(mid, r, a, b, "swiss")
        return None

    def _record(self, match_id: str, result: Result, *, replace: bool) -> None:
        m = self._find(match_id)
        if m is None:
            raise CompetitionError("match_not_found", "there is no such match")
        if result.winner is not None and not m.has(result.winner):
            raise CompetitionError("winner_required", "the winner must have played the match")
        if not self._is_new(self.results.get(match_id), result, replace=replace):
            return
        self.results[match_id] = result
        if not replace and not self.ready():
            self._pair_next()

    def withdraw(self, player: str) -> list[tuple[str, Result]]:
        decided = super().withdraw(player)
        if not self.ready() and not self.finished:
            self._pair_next()
        return decided

    @property
    def finished(self) -> bool:
        if self.ready():
            return False
        return len(self.rounds) >= self.total_rounds or self.stopped or len(self._active()) < 2

    def byes(self) -> list[tuple[int, str]]:
        return [(r, rnd["bye"]) for r, rnd in enumerate(self.rounds, start=1)
                if rnd["bye"] is not None]

    def played(self) -> list[tuple[Pairing, Result]]:
        out = []
        for r, rnd in enumerate(self.rounds, start=1):
            for mid, a, b in rnd["pairings"]:
                if mid in self.results:
                    out.append((Pairing(mid, r, a, b, "swiss"), self.results[mid]))
        return out

    def _table(self) -> dict[str, Any]:
        return table(self.players, self.played(), self.byes())

    def standings(self) -> list[list[str]]:
        return ranked(self._table(), self.seed_of)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "players": list(self.players),
                "withdrawn": sorted(self.withdrawn), "total_rounds": self.total_rounds,
                "rounds": self.rounds, "stopped": self.stopped,
                "results": {k: v.to_dict() for k, v in self.results.items()}}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Swiss:
        fmt = cls(list(data["players"]), rounds=int(data["total_rounds"]), start=False)
        fmt.withdrawn = set(data.get("withdrawn", []))
        fmt.rounds = [{"pairings": [list(p) for p in rnd["pairings"]], "bye": rnd.get("bye")}
                      for rnd in data.get("rounds", [])]
        fmt.stopped = bool(data.get("stopped", False))
        fmt.results = {k: Result.from_dict(v) for k, v in data.get("results", {}).items()}
        return fmt

    def view(self) -> dict[str, Any]:
        rows = self._table()
        standings = self.standings()
        place = 1
        table_rows = []
        for group in standings:
            for p in group:
                r = rows[p]
                table_rows.append({"place": place, "player": p, "points": r.points / 2,
                                   "buchholz": r.buchholz / 2,
                                   "sonneborn_berger": r.sonneborn_berger / 4,
                                   "withdrawn": p in self.withdrawn})
            place += len(group)
        return {
            "format": self.kind, "total_rounds": self.total_rounds, "round": len(self.rounds),
            "rounds": [{"round": r, "bye": rnd["bye"], "matches": [
                {"match_id": mid, "a": a, "b": b,
                 **(self.results[mid].to_dict() if mid in self.results else {"winner": None}),
                 "played": mid in self.results}
                for mid, a, b in rnd["pairings"]]} for r, rnd in enumerate(self.rounds, 1)],
            "table": table_rows, "standings": standings,
        }
