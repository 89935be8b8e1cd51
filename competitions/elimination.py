"""Single and double elimination as a graph of matches whose slots are filled by earlier ones.

The bracket size is the next power of two; seeds beyond the field are empty,
so the top seeds get the byes (seed 1 meets the last seed, standard order:
1–16, 8–9, 5–12, 4–13, 3–14, 6–11, 7–10, 2–15 for 16). Each match names where
its two players come from (a seed, the winner of a match, or — in the losers'
bracket — the loser of one); a slot is a player, empty (a bye), or not known
yet. Nothing else is stored but the results, so a replaced result moves the
right player on by itself.

Elimination needs a winner in every match: a draw is refused (the server
breaks a tied duel by seed) and a double forfeit sends the better seed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from competitions.base import Competition
from competitions.types import CompetitionError, Pairing, Result, check_players


class _Pending:
    """A slot whose player is not known yet."""

    def __repr__(self) -> str:
        return "PENDING"


PENDING = _Pending()
Slot = str | None | _Pending  # a player, empty (bye), or not known yet
Source = tuple[str, Any]  # ("seed", index) | ("win", match_id) | ("lose", match_id)

FINAL_STAGE = 10_000  # the grand final ranks above every losers' round


def seeding_order(size: int) -> list[int]:
    """Seeds (1-based) of the first round, two by two: [1, 16, 8, 9, 5, 12, ...] for 16.

    Built by halving: each seed of the bracket half its size meets its complement,
    alternating sides so seeds 1 and 2 can only meet in the final.
    """
    assert size >= 2 and size & (size - 1) == 0, size
    order = [1]
    while len(order) * 2 < size:
        k = len(order) * 2
        nxt: list[int] = []
        for i, s in enumerate(order):
            nxt.extend([s, k + 1 - s] if i % 2 == 0 else [k + 1 - s, s])
        order = nxt
    out: list[int] = []
    for s in order:
        out.extend([s, size + 1 - s])
    return out


def bracket_size(n: int) -> int:
    size = 2
    while size < n:
        size *= 2
    return size


@dataclass(frozen=True, slots=True)
class MatchDef:
    match_id: str
    round: int
    bracket: str
    a: Source
    b: Source
    stage: int  # where its loser is ranked when the loss eliminates (higher is better)
    eliminates: bool


class Elimination(Competition):
    """Single elimination; `DoubleElimination` adds a losers' bracket and a grand final."""

    kind = "single_elimination"

    def __init__(self, players: list[str]) -> None:
        check_players(players)
        super().__init__(players)
        self.size = bracket_size(len(players))
        self.rounds = self.size.bit_length() - 1
        self.results: dict[str, Result] = {}
        self.defs: dict[str, MatchDef] = {}
        self._build()
        self._dependents: dict[str, list[str]] = {}
        for d in self.defs.values():
            for src in (d.a, d.b):
                if src[0] in ("win", "lose"):
                    self._dependents.setdefault(src[1], []).append(d.match_id)
        self._cache: dict[str, tuple[Slot, Slot]] = {}

    # ----- structure -----

    def _build(self) -> None:
        order = seeding_order(self.size)
        for i in range(self.size // 2):
            self._add(f"W1-{i + 1}", 1, "winners", ("seed", order[2 * i] - 1),
                      ("seed", order[2 * i + 1] - 1), stage=1, eliminates=self._w_elim())
        for r in range(2, self.rounds + 1):
            for i in range(self.size >> r):
                self._add(f"W{r}-{i + 1}", r, "winners", ("win", f"W{r - 1}-{2 * i + 1}"),
                          ("win", f"W{r - 1}-{2 * i + 2}"), stage=r, eliminates=self._w_elim())

    def _w_elim(self) -> bool:
        return True

    def _add(self, match_id: str, rnd: int, bracket: str, a: Source, b: Source, *,
             stage: int, eliminates: bool) -> None:
        assert match_id not in self.defs
        self.defs[match_id] = MatchDef(match_id, rnd, bracket, a, b, stage, eliminates)

    # ----- slots -----

    def _slot(self, src: Source) -> Slot:
        kind, ref = src
        if kind == "seed":
            return self.players[ref] if ref < len(self.players) else None
        a, b = self._pair(ref)
        if isinstance(a, _Pending) or isinstance(b, _Pending):
            return PENDING
        if a is None or b is None:  # a bye (or nobody): no match is played
            return (a if a is not None else b) if kind == "win" else None
        result = self.results.get(ref)
        if result is None:
            return PENDING
        assert result.winner in (a, b)
        if kind == "win":
            return result.winner
        return b if result.winner == a else a

    def _pair(self, match_id: str) -> tuple[Slot, Slot]:
        cached = self._cache.get(match_id)
        if cached is None:
            d = self.defs[match_id]
            cached = (self._slot(d.a), self._slot(d.b))
            self._cache[match_id] = cached
        return cached

    def _exists(self, match_id: str) -> bool:
        return match_id in self.defs

    # ----- Competition -----

    def ready(self) -> list[Pairing]:
        out = []
        for d in self.defs.values():
            if d.match_id in self.results or not self._exists(d.match_id):
                continue
            a, b = self._pair(d.match_id)
            if isinstance(a, str) and isinstance(b, str):
                out.append(Pairing(d.match_id, d.round, a, b, d.bracket))
        return out

    def _record(self, match_id: str, result: Result, *, replace: bool) -> None:
        d = self.defs.get(match_id)
        if d is None or not self._exists(match_id):
            raise CompetitionError("match_not_found", "there is no such match")
        a, b = self._pair(match_id)
        if not (isinstance(a, str) and isinstance(b, str)):
            raise CompetitionError("match_not_ready", "that match has no two players yet")
        if result.winner not in (a, b):
            raise CompetitionError("winner_required",
                                   "an elimination match needs a winner who played it")
        if not self._is_new(self.results.get(match_id), result, replace=replace):
            return
        if replace and any(m in self.results for m in self._dependents.get(match_id, ())):
            raise CompetitionError("result_locked", "a later match already depends on that result")
        self.results[match_id] = result
        self._cache.clear()

    def _double_forfeit(self, m: Pairing) -> Result:
        return Result(min(m.a, m.b, key=self.seed_of), forfeit=True)

    def champion(self) -> str | None:
        final = self._pair(f"W{self.rounds}-1")
        result = self.results.get(f"W{self.rounds}-1")
        if result is None:
            return None
        assert isinstance(final[0], str) and isinstance(final[1], str)
        return result.winner

    @property
    def finished(self) -> bool:
        return self.champion() is not None

    def eliminated(self) -> dict[str, int]:
        """Each knocked-out player and the stage of the match that knocked them out."""
        out: dict[str, int] = {}
        for match_id, result in self.results.items():
            d = self.defs[match_id]
            if not d.eliminates:
                continue
            a, b = self._pair(match_id)
            loser = b if result.winner == a else a
            assert isinstance(loser, str)
            out[loser] = d.stage
        return out

    def alive(self) -> list[str]:
        out = self.eliminated()
        champion = self.champion()
        return [p for p in self.players if p not in out and p != champion]

    def standings(self) -> list[list[str]]:
        groups: list[list[str]] = []
        champion = self.champion()
        if champion is not None:
            groups.append([champion])
        alive = self.alive()
        if alive:
            groups.append(alive)
        by_stage: dict[int, list[str]] = {}
        for player, stage in self.eliminated().items():
            by_stage.setdefault(stage, []).append(player)
        for stage in sorted(by_stage, reverse=True):
            groups.append(sorted(by_stage[stage], key=self.seed_of))
        return groups

    def byes(self) -> list[tuple[int, str]]:
        out = []
        for d in self.defs.values():
            if d.round == 1 and d.bracket == "winners":
                a, b = self._pair(d.match_id)
                if (a is None) != (b is None):
                    present = a if a is not None else b
                    assert isinstance(present, str)
                    out.append((1, present))
        return out

    def played(self) -> list[tuple[Pairing, Result]]:
        out = []
        for d in self.defs.values():
            result = self.results.get(d.match_id)
            if result is not None:
                a, b = self._pair(d.match_id)
                assert isinstance(a, str) and isinstance(b, str)
                out.append((Pairing(d.match_id, d.round, a, b, d.bracket), result))
        return out

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "players": list(self.players),
                "withdrawn": sorted(self.withdrawn),
                "results": {k: v.to_dict() for k, v in self.results.items()}}

    def _restore(self, data: dict[str, Any]) -> None:
        self.withdrawn = set(data.get("withdrawn", []))
        self.results = {k: Result.from_dict(v) for k, v in data.get("results", {}).items()}
        self._cache.clear()

    def view(self) -> dict[str, Any]:
        def show(slot: Slot) -> str | None:
            return slot if isinstance(slot, str) else None

        matches = []
        for d in self.defs.values():
            if not self._exists(d.match_id):
                continue
            a, b = self._pair(d.match_id)
            result = self.results.get(d.match_id)
            bye = (a is None) != (b is None) and not isinstance(a, _Pending) \
                and not isinstance(b, _Pending)
            matches.append({
                "match_id": d.match_id, "round": d.round, "bracket": d.bracket,
                "a": show(a), "b": show(b), "bye": bye,
                "winner": result.winner if result else (show(a if b is None else b)
                                                       if bye else None),
                "forfeit": bool(result and result.forfeit),
            })
        return {"format": self.kind, "size": self.size, "rounds": self.rounds,
                "matches": matches, "champion": self.champion(),
                "standings": self.standings()}


class DoubleElimination(Elimination):
    """Two losses knock a player out: winners' and losers' brackets, then a grand final.

    The losers' bracket alternates rounds among its own survivors with rounds
    against the players dropping from the winners' bracket. The grand final
    pits the two brackets' champions; with `reset`, a win by the losers'
    champion (the winners' champion's first loss) forces a second, deciding final.
    """

    kind = "double_elimination"

    def __init__(self, players: list[str], *, reset: bool = True) -> None:
        self.reset = reset
        super().__init__(players)

    def _w_elim(self) -> bool:
        return False

    def _build(self) -> None:
        super()._build()
        k, size = self.rounds, self.size
        if k == 1:
            lb_champion: Source = ("lose", "W1-1")
        else:
            for j in range(size // 4):
                self._add(f"L1-{j + 1}", 1, "losers", ("lose", f"W1-{2 * j + 1}"),
                          ("lose", f"W1-{2 * j + 2}"), stage=1, eliminates=True)
            for t in range(1, k):
                n = size >> (t + 1)
                for j in range(n):
                    # Dropping players meet the survivors in reverse order every other round,
                    # so two players who met in the winners' bracket do not meet again at once.
                    jj = n - 1 - j if t % 2 == 1 else j
                    self._add(f"L{2 * t}-{j + 1}", 2 * t, "losers",
                              ("win", f"L{2 * t - 1}-{j + 1}"), ("lose", f"W{t + 1}-{jj + 1}"),
                              stage=2 * t, eliminates=True)
                if t <= k - 2:
                    for j in range(n // 2):
                        self._add(f"L{2 * t + 1}-{j + 1}", 2 * t + 1, "losers",
                                  ("win", f"L{2 * t}-{2 * j + 1}"),
                                  ("win", f"L{2 * t}-{2 * j + 2}"),
                                  stage=2 * t + 1, eliminates=True)
            lb_champion = ("win", f"L{2 * (k - 1)}-1")
        self._add("GF1", 1, "final", ("win", f"W{k}-1"), lb_champion,
                  stage=FINAL_STAGE, eliminates=False)
        self._add("GF2", 2, "final", ("win", f"W{k}-1"), lb_champion,
                  stage=FINAL_STAGE, eliminates=True)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "reset": self.reset}

    def _record(self, match_id: str, result: Result, *, replace: bool) -> None:
        if replace and match_id == "GF1" and "GF2" in self.results:
            raise CompetitionError("result_locked", "the deciding final was played already")
        super()._record(match_id, result, replace=replace)

    def _exists(self, match_id: str) -> bool:
        """The reset final is played only when the losers' champion won the first."""
        if match_id != "GF2":
            return True
        first = self.results.get("GF1")
        if not self.reset or first is None:
            return False
        _a, b = self._pair("GF1")
        return first.winner == b

    def champion(self) -> str | None:
        first = self.results.get("GF1")
        if first is None:
            return None
        if self._exists("GF2"):
            second = self.results.get("GF2")
            return second.winner if second is not None else None
        return first.winner

    def eliminated(self) -> dict[str, int]:
        out = super().eliminated()
        first = self.results.get("GF1")
        if first is not None and not self._exists("GF2"):
            a, b = self._pair("GF1")
            loser = b if first.winner == a else a
            assert isinstance(loser, str)
            out[loser] = FINAL_STAGE
        return out


def from_state(data: dict[str, Any]) -> Elimination:
    """Rebuild a bracket from `state()`."""
    players = list(data["players"])
    fmt: Elimination
    if data["kind"] == DoubleElimination.kind:
        fmt = DoubleElimination(players, reset=bool(data.get("reset", True)))
    else:
        fmt = Elimination(players)
    fmt._restore(data)
    return fmt
