"""The random quick games by name, so a caller can draw and resolve any of them alike."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rooms.games.quick import color, pick3, wheel
from rooms.games.quick.fair import DrawInput, draw_int
from rooms.games.quick.outcome import Outcome


@dataclass(frozen=True, slots=True)
class RandomGame:
    name: str
    title: str
    outcome_space: Callable[[], int]
    normalise_choice: Callable[[dict[str, Any]], dict[str, Any]]
    resolve: Callable[[int, dict[str, Any]], Outcome]


RANDOM_GAMES: dict[str, RandomGame] = {
    "wheel": RandomGame("wheel", "Lucky Wheel", wheel.outcome_space, wheel.normalise_choice,
                        wheel.resolve),
    "color": RandomGame("color", "Color Game", color.outcome_space, color.normalise_choice,
                        color.resolve),
    "pick3": RandomGame("pick3", "Pick 3", pick3.outcome_space, pick3.normalise_choice,
                        pick3.resolve),
}


def play(game: str, draw_input: DrawInput, choice: dict[str, Any]) -> Outcome:
    """Draw fairly and resolve: the same inputs always give the same outcome."""
    g = RANDOM_GAMES[game]
    normalised = g.normalise_choice(choice)
    return g.resolve(draw_int(draw_input, g.outcome_space()), normalised)
