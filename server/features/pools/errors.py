"""The refusals of the pools feature: stable codes, sentences in the product's words."""

from __future__ import annotations

from server.errors import MatchpotError


class PoolError(MatchpotError):
    """A pool request was refused and nothing changed."""
