"""Round robin in groups of at most eight: everyone in a group meets everyone once.

A field larger than eight is dealt into ⌈N/8⌉ groups by snake seeding (1, 2,
3, 4 / 8, 7, 6, 5 / ...). Each group's schedule is the circle method (one
player fixed, the rest rotate; an odd group adds a rest slot, so each player
rests exactly once). Groups play their round r at the same time; a round is
released once the previous one is complete. The table ranks by points, then
Sonneborn-Berger, then head to head (Buchholz says nothing when everyone meets
everyone). Across groups, equal positions share a place (the group winners
tie for first).
"""

from __future__ import annotations

import math
from typing import Any

from competitions.base import Competition
from competitions.scoring import ranked, table
from competitions.types import CompetitionError, Pairing, Result, check_players

GROUP_MAX = 8


def circle(players: list[str]) -> list[list[tuple[str | None, str | None]]]:
    """The circle method: rounds of pairs; None is the rest slot of an odd group."""
    slots: list[str | None] = list(players)
    if len(slots) % 2 == 1:
        slots.append(None)
    m = len(slots)
    rounds = []
    for _ in range(m - 1):
        rounds.append([(slots[i], slots[m - 1 - i]) for i in range(m // 2)])
        slots = [slots[0], slots[-1], *slots[1:-1]]
    return rounds


class RoundRobin(Competition):
    kind = "round_robin"

    def __init__(self, players: list[str], *, group_max: int = GROUP_MAX) -> None:
        check_players(players)
        if not 2 <= group_max <= GROUP_MAX:
            raise CompetitionError("group_size", f"groups hold 2 to {GROUP_MAX} players")
        super().__init__(players)
        self.group_max = group_max
        count = math.ceil(len(players) / group_max)
        self.groups: list[list[str]] = [[] for _ in range(count)]
        for i, p in enumerate(players):
            row, col = divmod(i, count)
            self.groups[col if row % 2 == 0 else count - 1 - col].append(p)
        self.schedule: list[list[Pairing]] = []
        self.rests: list[tuple[int, str]] = []
        per_group = [circle(g) for g in self.groups]
        for r in range(max(len(s) for s in per_group)):
            matches: list[Pairing] = []
            for g, sched in enumerate(per_group, start=1):
                if r >= len(sched):
                    continue
                for i, (a, b) in enumerate(sched[r], start=1):
                    if a is None or b is None:
                        self.rests.append((r + 1, a if a is not None else str(b)))
                    else:
                        matches.append(Pairing(f"G{g}-R{r + 1}-{i}", r + 1, a, b, f"G{g}"))
            self.schedule.append(matches)
        self.results: dict[str, Result] = {}
        self._by_id = {m.match_id: m for rnd in self.schedule for m in rnd}

    def _round_index(self) -> int:
        for r, matches in enumerate(self.schedule):
            if any(m.match_id not in self.results for m in matches):
                return r
        return len(self.schedule)

    def ready(self) -> list[Pairing]:
        r = self._round_index()
        if r >= len(self.schedule):
            return []
        return [m for m in self.schedule[r] if m.match_id not in self.results]

    def _record(self, match_id: str, result: Result, *, replace: bool) -> None:
        m = self._by_id.get(match_id)
        if m is None:
            raise CompetitionError("match_not_found", "there is no such match")
        if m.round - 1 > self._round_index():
            raise CompetitionError("match_not_ready", "that round has not started")
        if result.winner is not None and not m.has(result.winner):
            raise CompetitionError("winner_required", "the winner must have played the match")
        if not self._is_new(self.results.get(match_id), result, replace=replace):
            return
        self.results[match_id] = result

    @property
    def finished(self) -> bool:
        return self._round_index() >= len(self.schedule)

    def byes(self) -> list[tuple[int, str]]:
        return list(self.rests)

    def played(self) -> list[tuple[Pairing, Result]]:
        return [(m, self.results[m.match_id]) for rnd in self.schedule for m in rnd
                if m.match_id in self.results]

    def standings(self) -> list[list[str]]:
        rows = table(self.players, self.played(), [])
        per_group = [ranked({p: rows[p] for p in g}, self.seed_of, buchholz=False)
                     for g in self.groups]
        positions: dict[int, list[str]] = {}
        for groups in per_group:
            place = 0
            for tied in groups:
                positions.setdefault(place, []).extend(tied)
                place += len(tied)
        return [sorted(positions[k], key=self.seed_of) for k in sorted(positions)]

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "players": list(self.players),
                "withdrawn": sorted(self.withdrawn),
                "group_max": self.group_max,
                "results": {k: v.to_dict() for k, v in self.results.items()}}

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> RoundRobin:
        fmt = cls(list(data["players"]), group_max=int(data.get("group_max", GROUP_MAX)))
        fmt.withdrawn = set(data.get("withdrawn", []))
        fmt.results = {k: Result.from_dict(v) for k, v in data.get("results", {}).items()}
        return fmt

    def view(self) -> dict[str, Any]:
        rows = table(self.players, self.played(), [])
        return {
            "format": self.kind, "round": self._round_index() + 1,
            "rounds": len(self.schedule),
            "groups": [{"group": f"G{i}", "players": [
                {"player": p, "points": rows[p].points / 2} for p in g]}
                for i, g in enumerate(self.groups, start=1)],
            "matches": [{**m.to_dict(), **(self.results[m.match_id].to_dict()
                                           if m.match_id in self.results else {"winner": None}),
                         "played": m.match_id in self.results}
                        for rnd in self.schedule for m in rnd],
            "standings": self.standings(),
        }
