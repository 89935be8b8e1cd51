"""Wager ratings: OpenSkill (Plackett-Luce) per game mode, with a capped change per match.

Pure functions, no I/O, so the rules can be checked by property tests: the
winner's mu never falls, the loser's never rises, and neither moves by more
than the cap. A player is provisional until `PROVISIONAL_MATCHES` rated
matches. The shown rating is mu; the leaderboard orders by the conservative
`ordinal` (mu - 3 sigma) so a new player cannot top it on one lucky match.
"""

from __future__ import annotations

from dataclasses import dataclass

from openskill.models import PlackettLuce

PROVISIONAL_MATCHES = 10
DEFAULT_MU = 25.0
DEFAULT_SIGMA = DEFAULT_MU / 3
MIN_SIGMA = 0.5  # never fully certain: a player can always move

_MODEL = PlackettLuce(mu=DEFAULT_MU, sigma=DEFAULT_SIGMA)


@dataclass(frozen=True, slots=True)
class Skill:
    mu: float = DEFAULT_MU
    sigma: float = DEFAULT_SIGMA
    rated_matches: int = 0

    @property
    def provisional(self) -> bool:
        return self.rated_matches < PROVISIONAL_MATCHES

    @property
    def ordinal(self) -> float:
        return self.mu - 3 * self.sigma


def rate_win(winner: Skill, loser: Skill, *, max_change: float) -> tuple[Skill, Skill]:
    """Both skills after `winner` beat `loser`; each mu moves by at most `max_change`."""
    assert max_change > 0
    w, lo = _MODEL.rating(mu=winner.mu, sigma=winner.sigma), _MODEL.rating(
        mu=loser.mu, sigma=loser.sigma)
    [[w2], [l2]] = _MODEL.rate([[w], [lo]], ranks=[1, 2])
    up = min(max(w2.mu - winner.mu, 0.0), max_change)
    down = min(max(loser.mu - l2.mu, 0.0), max_change)
    return (
        Skill(winner.mu + up, max(MIN_SIGMA, min(w2.sigma, winner.sigma)),
              winner.rated_matches + 1),
        Skill(loser.mu - down, max(MIN_SIGMA, min(l2.sigma, loser.sigma)),
              loser.rated_matches + 1),
    )
