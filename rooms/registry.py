"""Room kinds registered by name, each with its settings class: the server is generic over them.

A kind is a folder under `rooms/games/` (or any importable module) that
defines `KIND = GameKind(...)`. The server imports the modules named
by `MATCHPOT_GAMES`, builds each kind's settings (environment variables under
the kind's own prefix, e.g. `MATCHPOT_QUIZ_STAKES_MINOR`), and from then on
queues, seats, settles, lists and alerts every kind the same way. Adding a
game is a new folder, not an edit to the server (Colyseus's `define()`).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rooms.api import GameFactory

KIND_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MESSAGE_TYPE_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
MAX_KINDS = 64
MAX_STAKE_TIERS = 16


class GameSettings(BaseSettings):
    """What every room kind is configured with; a kind subclasses it with its own env prefix."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    enabled: bool = True
    stakes_minor: list[int] = [5_000, 10_000, 50_000]
    rake_bps: int = 2_000  # the house's share of a pot, in basis points
    join_timeout_ms: int = 30_000  # seats not taken by then: every stake returns

    @field_validator("stakes_minor")
    @classmethod
    def _tiers(cls, value: list[int]) -> list[int]:
        if not value or len(value) > MAX_STAKE_TIERS or any(v <= 0 for v in value):
            raise ValueError(f"1 to {MAX_STAKE_TIERS} stake tiers, each above zero")
        return sorted(set(value))

    @field_validator("rake_bps")
    @classmethod
    def _rake(cls, value: int) -> int:
        if not 0 <= value <= 10_000:
            raise ValueError("rake_bps is 0 to 10000")
        return value

    @property
    def stake_tiers_minor(self) -> tuple[int, ...]:
        return tuple(self.stakes_minor)


@dataclass(frozen=True, slots=True)
class GameServices:
    """What the server lends a kind to build its rooms (shared stores, never the ledger)."""

    redis: Any
    redis_prefix: str


MakeFactory = Callable[[Any, GameServices], GameFactory]
"""(the kind's settings, services) -> a factory that makes one game per room."""


@dataclass(frozen=True, slots=True)
class GameKind:
    """One kind of live room as the server, the PWA and the admin see it."""

    name: str  # queue and escrow name: escrow:<name>
    title: str  # for players: "Quiz duel"
    summary: str  # one sentence for the game list
    settings_cls: type[GameSettings]
    make_factory: MakeFactory
    message_types: frozenset[str]  # websocket frame types a seated player sends to the room
    seats: int = 2
    # False: players reach this kind's rooms through its own feature (open challenges, a
    # tournament), never through the generic `queue_join`; its rooms are still hosted here.
    open_queue: bool = True

    def __post_init__(self) -> None:
        assert KIND_NAME_RE.match(self.name), self.name
        assert self.title and self.summary
        assert self.seats == 2, "matchmaking pairs two players; more seats need a lobby"
        assert all(MESSAGE_TYPE_RE.match(t) for t in self.message_types), self.message_types

    def load_settings(self, overrides: Mapping[str, Any] | None = None) -> GameSettings:
        """Environment first (the kind's prefix), then `overrides` (tests, the CLI)."""
        return self.settings_cls(**dict(overrides or {}))


_kinds: dict[str, GameKind] = {}


def register(kind: GameKind) -> GameKind:
    """Make a kind known by name. Registering the same kind again changes nothing."""
    existing = _kinds.get(kind.name)
    if existing is not None:
        assert existing.settings_cls is kind.settings_cls, f"two kinds named {kind.name!r}"
        return existing
    assert len(_kinds) < MAX_KINDS, "too many room kinds"
    taken = {t for k in _kinds.values() for t in k.message_types} & kind.message_types
    assert not taken, f"message types already routed to another kind: {taken}"
    _kinds[kind.name] = kind
    return kind


def get(name: str) -> GameKind | None:
    return _kinds.get(name)


def load(modules: Sequence[str]) -> list[GameKind]:
    """Import each module and register the `KIND` it defines, in the order given."""
    assert len(modules) <= MAX_KINDS
    kinds: list[GameKind] = []
    for name in modules:
        kind = getattr(importlib.import_module(name), "KIND", None)
        if not isinstance(kind, GameKind):
            raise UnknownKindModule(f"{name} defines no KIND = GameKind(...)")
        kinds.append(register(kind))
    names = [k.name for k in kinds]
    if len(set(names)) != len(names):
        raise UnknownKindModule(f"a room kind is listed twice: {names}")
    return kinds


def all_kinds() -> list[GameKind]:
    return sorted(_kinds.values(), key=lambda k: k.name)


class UnknownKindModule(ValueError):
    """MATCHPOT_GAMES names a module that is not a room kind."""
