"""Typed matchmaking errors. Each carries a stable `code` the edge returns as-is."""

from __future__ import annotations


class MatchmakingError(Exception):
    """Base of every matchmaking failure; `code` is stable snake_case for clients."""

    code = "matchmaking_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidJoin(MatchmakingError):
    """The join request itself is malformed (empty user id, rating out of range, ...)."""

    code = "invalid_request"


class GameNotOffered(MatchmakingError):
    code = "game_not_offered"


class StakeNotOffered(MatchmakingError):
    """The stake or currency is not one of the configured tiers."""

    code = "stake_not_offered"


class AlreadyQueued(MatchmakingError):
    """The player already has a ticket waiting in some queue."""

    code = "already_queued"


class QueueFull(MatchmakingError):
    code = "queue_full"


class NotQueued(MatchmakingError):
    """Nothing to leave: the ticket was already paired, expired or never existed."""

    code = "not_queued"


class HoldRefused(MatchmakingError):
    """The stake could not be held (not enough available balance)."""

    code = "insufficient_funds"


class ServiceUnavailable(MatchmakingError):
    """Redis (or the ledger) did not answer; nothing was left half done. Safe to retry.

    A join that fails this way has released its hold and dropped its claim (or they are
    released by the time the error is raised, as far as the outage allows: see
    docs/matchmaking.md, "Failure cases").
    """

    code = "service_unavailable"
