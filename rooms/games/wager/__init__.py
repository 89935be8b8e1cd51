"""The wager match room kind: a Call-of-Duty match played outside, refereed here (docs/wagers.md).

The server's generic queue for this kind is not a way in: a wager room needs
the terms its feature (server/features/wagers) writes into the match spec, and
a room without them returns both stakes at once.
"""

from __future__ import annotations

from typing import Any

from rooms.api import GameFactory
from rooms.games.wager.match import (
    JOURNALS,
    Journal,
    NullJournal,
    WagerMatch,
    bind_journal,
    unbind_journal,
)
from rooms.games.wager.settings import WagerSettings
from rooms.registry import GameKind, GameServices

__all__ = ["KIND", "Journal", "NullJournal", "WagerMatch", "WagerSettings", "bind_journal",
           "unbind_journal"]

NAME = "wager"


def make_factory(settings: Any, services: GameServices) -> GameFactory:
    """Each room gets the journal its server bound for this Redis prefix (or none)."""
    assert isinstance(settings, WagerSettings)
    prefix = services.redis_prefix

    def factory(spec: Any, rng: Any) -> WagerMatch:
        return WagerMatch(spec, settings, JOURNALS.get(prefix) or NullJournal())

    return factory


KIND = GameKind(
    name=NAME,
    title="Wager match",
    summary="Two players stake the same amount on a Call of Duty match; both report the"
            " result and the winner takes the pot less the platform fee.",
    settings_cls=WagerSettings,
    make_factory=make_factory,
    message_types=WagerMatch.message_types,
    open_queue=False,  # queued and challenged through the wagers feature (mode, platform)
)
