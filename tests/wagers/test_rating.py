"""Rating properties: the winner's rating never falls, the loser's never rises, the cap holds."""

from __future__ import annotations

import random
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rooms.api import Outcome
from server.features.wagers import challenges
from server.features.wagers.rating import PROVISIONAL_MATCHES, Skill, rate_win
from tests.wagers.helpers import new_gamer, post, svc_of

skills = st.builds(
    Skill,
    mu=st.floats(min_value=-50, max_value=100, allow_nan=False),
    sigma=st.floats(min_value=0.5, max_value=10, allow_nan=False),
    rated_matches=st.integers(min_value=0, max_value=10_000),
)


@settings(max_examples=300, deadline=None)
@given(winner=skills, loser=skills, cap=st.floats(min_value=0.1, max_value=10))
def test_winner_never_falls_loser_never_rises_within_the_cap(
    winner: Skill, loser: Skill, cap: float,
) -> None:
    w, lo = rate_win(winner, loser, max_change=cap)
    assert winner.mu <= w.mu <= winner.mu + cap + 1e-9
    assert loser.mu - cap - 1e-9 <= lo.mu <= loser.mu
    assert w.sigma <= winner.sigma + 1e-9 and lo.sigma <= loser.sigma + 1e-9
    assert (w.rated_matches, lo.rated_matches) == (winner.rated_matches + 1,
                                                   loser.rated_matches + 1)


@settings(max_examples=100, deadline=None)
@given(winner=skills, loser=skills)
def test_rating_is_a_pure_function(winner: Skill, loser: Skill) -> None:
    assert rate_win(winner, loser, max_change=3) == rate_win(winner, loser, max_change=3)


def test_provisional_until_ten_rated_matches() -> None:
    assert Skill(rated_matches=PROVISIONAL_MATCHES - 1).provisional
    assert not Skill(rated_matches=PROVISIONAL_MATCHES).provisional


async def _seeded_match(server: Any, skills_ab: tuple[Skill, Skill]) -> tuple[Any, str, str]:
    """Two players with given ratings in 'gunfight' and a live match row with both stakes held."""
    svc = svc_of(server)
    a, b = await new_gamer(server), await new_gamer(server)
    for p, s in zip((a, b), skills_ab, strict=True):
        await server.state.pool.execute(
            "INSERT INTO wager_ratings (user_id, mode, mu, sigma, rated_matches)"
            " VALUES ($1, 'gunfight', $2, $3, $4)", p.id, s.mu, s.sigma, s.rated_matches)
    ch = await post(server, a)
    row, _ = await challenges.accept_challenge(svc, b.id, uuid.UUID(ch["id"]), ip="",
                                               device="", open_room=False)
    full = await server.state.pool.fetchrow(
        "SELECT * FROM wager_matches WHERE room_id = $1", row["room_id"])
    return svc.spec_of(full, resume=False), a.id, b.id


async def _mu(server: Any, user_id: str) -> float:
    return float(await server.state.pool.fetchval(
        "SELECT mu FROM wager_ratings WHERE user_id = $1 AND mode = 'gunfight'", user_id))


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(a=skills, b=skills, a_wins=st.booleans())
async def test_a_settled_match_moves_ratings_the_right_way_once(
    wager_server: Any, pool: Any, a: Skill, b: Skill, a_wins: bool,
) -> None:
    random.seed(uuid.uuid4().int)  # hypothesis seeds `random`: fresh phones and tags per example
    spec, a_id, b_id = await _seeded_match(wager_server, (a, b))
    winner, loser = (a_id, b_id) if a_wins else (b_id, a_id)
    before = {u: await _mu(wager_server, u) for u in (a_id, b_id)}
    outcome = Outcome.winner_takes_pot(spec.seats, winner, rake_bps=1_000)
    svc = svc_of(wager_server)
    first = await svc.settle(spec, outcome)
    after = {u: await _mu(wager_server, u) for u in (a_id, b_id)}
    assert after[winner] >= before[winner] and after[loser] <= before[loser]
    again = await svc.settle(spec, outcome)
    assert again.replayed and not first.replayed
    assert {u: await _mu(wager_server, u) for u in (a_id, b_id)} == after
